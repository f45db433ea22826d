package loadtest

import (
	"net/http"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// splitServer answers exactly 9 of every 10 requests from champion v1 and
// the 10th from challenger v2, by arrival order.
func splitServer(t *testing.T) string {
	t.Helper()
	var n atomic.Int64
	return startServer(t, func(w http.ResponseWriter, r *http.Request) {
		p := provenance{model: "churn-gbm", alias: "champion", version: "1", runID: "cf2941b1111242ff806c0b75daaf749d"}
		if n.Add(1)%10 == 0 {
			p.alias, p.version, p.runID = "challenger", "2", "b8bb2880eff64cf2839703f40a573875"
		}
		predictions(w, p)
	})
}

func TestSplitTallyIsExact(t *testing.T) {
	checkLeaks(t)
	split, err := ParseSplit("champion=90,challenger=10")
	if err != nil {
		t.Fatal(err)
	}
	rep := mustRun(t, Config{URL: splitServer(t), Connections: 4, Requests: 1000, Payload: jsonPayload(smallBody),
		IdleConnTimeout: testIdle, ExpectSplit: split})

	wantVersions := []NameCount{{"1", 900}, {"2", 100}}
	if !reflect.DeepEqual(rep.Tally.ByVersion, wantVersions) {
		t.Errorf("got versions %+v; want %+v", rep.Tally.ByVersion, wantVersions)
	}
	wantAliases := []NameCount{{"champion", 900}, {"challenger", 100}}
	if !reflect.DeepEqual(rep.Tally.ByAlias, wantAliases) {
		t.Errorf("got aliases %+v; want %+v", rep.Tally.ByAlias, wantAliases)
	}
	if len(rep.Targets) != 2 || rep.Targets[0].Label != "champion v1" || rep.Targets[1].Label != "challenger v2" {
		t.Fatalf("got targets %+v; want champion v1 then challenger v2", rep.Targets)
	}
	if rep.Targets[0].RunID != "cf2941b1111242ff806c0b75daaf749d" || rep.Targets[1].RunID != "b8bb2880eff64cf2839703f40a573875" {
		t.Errorf("got run ids %q, %q; want the X-Mlflow-Run-Id of each version", rep.Targets[0].RunID, rep.Targets[1].RunID)
	}
	if rep.Targets[0].Share != 0.9 || rep.Targets[1].Responses != 100 || rep.Targets[1].Latency.Count != 100 {
		t.Errorf("got target stats %+v", rep.Targets)
	}
	if rep.Split == nil || !rep.Split.Pass || rep.Split.Total != 1000 {
		t.Fatalf("got split %+v; want a pass over 1000 responses", rep.Split)
	}
	if len(rep.Flips) != 0 {
		t.Errorf("got flips %+v; want none (each alias kept its version)", rep.Flips)
	}

	// The same observation against other expectations.
	observed := map[string]int64{"champion": 900, "challenger": 100}
	versions := map[string]int64{"1": 900, "2": 100}
	for _, tt := range []struct {
		spec string
		obs  map[string]int64
		pass bool
	}{
		{"champion=90,challenger=10", observed, true},
		{"challenger=10,champion=90", observed, true},
		{"champion=80,challenger=20", observed, false},
		{"champion=50,challenger=50", observed, false},
		{"champion=100", observed, false},
		{"1=90,2=10", versions, true},
		{"v1=9,v2=1", versions, true},
		{"1=10,2=90", versions, false},
	} {
		sp, err := ParseSplit(tt.spec)
		if err != nil {
			t.Fatalf("ParseSplit(%q): %v", tt.spec, err)
		}
		if got := evaluateSplit(sp, tt.obs, DefaultConfidence); got.Pass != tt.pass {
			t.Errorf("split %q against 900/100: pass %v; want %v (%+v)", tt.spec, got.Pass, tt.pass, got)
		}
	}
}

func TestFlipTimeline(t *testing.T) {
	tests := []struct {
		name        string
		connections int
		// version returns the version for the n-th request (from 0) and
		// how long to hold it.
		version   func(n int64) (string, time.Duration)
		wantFlips []Flip // At and LastOld are not compared
	}{{
		name:        "switch at request k",
		connections: 1,
		version: func(n int64) (string, time.Duration) {
			if n < 137 {
				return "1", 0
			}
			return "2", 0
		},
		wantFlips: []Flip{{Model: "churn-gbm", Alias: "champion", From: "1", To: "2", Seq: 137}},
	}, {
		// Requests 97..99 are still on version 1 and held, so the first
		// version-2 response (request 100, on the fourth connection)
		// arrives while they are in flight: they interleave.
		name:        "in-flight responses interleave",
		connections: 4,
		version: func(n int64) (string, time.Duration) {
			switch {
			case n >= 100:
				return "2", 0
			case n >= 97:
				return "1", 500 * time.Millisecond
			}
			return "1", 0
		},
		wantFlips: []Flip{{Model: "churn-gbm", Alias: "champion", From: "1", To: "2", Seq: 97, Interleaved: 3}},
	}, {
		name:        "flip and flip back",
		connections: 1,
		version: func(n int64) (string, time.Duration) {
			if n >= 50 && n < 100 {
				return "2", 0
			}
			return "1", 0
		},
		wantFlips: []Flip{
			{Model: "churn-gbm", Alias: "champion", From: "1", To: "2", Seq: 50},
			{Model: "churn-gbm", Alias: "champion", From: "2", To: "1", Seq: 100},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			var n atomic.Int64
			url := startServer(t, func(w http.ResponseWriter, r *http.Request) {
				v, hold := tt.version(n.Add(1) - 1)
				time.Sleep(hold)
				predictions(w, provenance{model: "churn-gbm", alias: "champion", version: v})
			})
			rep := mustRun(t, Config{URL: url, Connections: tt.connections, Requests: 200, Payload: jsonPayload(smallBody), IdleConnTimeout: testIdle})
			if len(rep.Flips) != len(tt.wantFlips) {
				t.Fatalf("got flips %+v; want %+v", rep.Flips, tt.wantFlips)
			}
			prev := 0.0
			for i, f := range rep.Flips {
				if f.At < prev || f.LastOld < f.At {
					t.Errorf("flip %d: at %v, last old %v, previous flip at %v; want ordered times", i, f.At, f.LastOld, prev)
				}
				prev = f.At
				f.At, f.LastOld = 0, 0
				if f != tt.wantFlips[i] {
					t.Errorf("flip %d: got %+v; want %+v", i, f, tt.wantFlips[i])
				}
			}
		})
	}
}

func TestRecorderAddDoesNotAllocate(t *testing.T) {
	rec := newRecorder(0, time.Millisecond, true)
	key := appendProvenanceKey(nil, []byte("canary"), []byte("churn-gbm"), []byte("champion"), []byte("1"), []byte("cf2941b1"))
	o := outcome{intended: time.Millisecond, sent: 2 * time.Millisecond, done: 3 * time.Millisecond, status: 200, key: key}
	rec.add(&o) // first sight of the target and of the second allocates
	allocs := testing.AllocsPerRun(1000, func() {
		o.done += time.Microsecond
		rec.add(&o)
	})
	if allocs != 0 {
		t.Errorf("recorder.add allocates %v times per call; want 0", allocs)
	}
}

func TestTargetLabels(t *testing.T) {
	tests := []struct {
		targets []Target
		want    []string
	}{
		{[]Target{{Route: "default", Model: "churn-gbm", Alias: "champion", Version: "1"}, {Route: "default", Model: "churn-gbm", Alias: "challenger", Version: "2"}},
			[]string{"champion v1", "challenger v2"}},
		{[]Target{{Route: "a", Model: "churn-gbm", Version: "1"}, {Route: "b", Model: "churn-sk", Alias: "champion", Version: "1"}},
			[]string{"a: churn-gbm v1", "b: churn-sk@champion v1"}},
		{[]Target{{Route: "a", Version: "3"}, {Alias: "x"}},
			[]string{"a: v3", "(no route): x"}},
		{[]Target{{}}, []string{"(no provenance headers)"}},
		{[]Target{{Model: "m1"}, {Model: "m2", Version: "4"}}, []string{"m1", "m2 v4"}},
	}
	for _, tt := range tests {
		reps := make([]TargetReport, len(tt.targets))
		for i, tg := range tt.targets {
			reps[i].Target = tg
		}
		labelTargets(reps)
		for i := range reps {
			if reps[i].Label != tt.want[i] {
				t.Errorf("label of %+v = %q; want %q", reps[i].Target, reps[i].Label, tt.want[i])
			}
		}
	}
}
