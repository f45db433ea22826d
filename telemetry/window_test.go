package telemetry

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestLatencyBuckets(t *testing.T) {
	last := -1
	for us := int64(0); us < 1<<29; us += 1 + us/64 {
		i := latencyBucket(us)
		if i < last {
			t.Fatalf("latencyBucket(%d) = %d after %d: not monotonic", us, i, last)
		}
		last = i
		lo, hi := latencyBucketRange(i)
		if i == numLatencyBuckets-1 {
			if us < lo {
				t.Fatalf("latencyBucket(%d) = the last bucket, which starts at %d", us, lo)
			}
			continue
		}
		if us < lo || us >= hi {
			t.Fatalf("latencyBucket(%d) = %d holding [%d, %d)", us, i, lo, hi)
		}
		if width := float64(hi - lo); us >= 16 && width/float64(lo) > 1.0/8+1e-9 {
			t.Fatalf("bucket %d [%d, %d) is wider than 1/8 of its start", i, lo, hi)
		}
	}
	if got := latencyBucket(-5); got != 0 {
		t.Errorf("latencyBucket(-5) = %d; want 0", got)
	}
}

// advance moves c on by d and returns the new time.
func (c *fakeClock) advance(d time.Duration) time.Time {
	c.Set(c.Now().Add(d))
	return c.Now()
}

// TestWindows feeds a recorder a known traffic pattern over 20 minutes of
// injected time, ticking as the server does, and checks each window's
// counts, span and quantiles against the pattern.
func TestWindows(t *testing.T) {
	ins, err := NewInstruments(nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}
	ins.now = clock.Now
	rec := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	ctx := context.Background()

	// Each 10 s step: 10 requests at 1ms (2xx) and, in minute m, m/4
	// requests at 100ms answering 5xx.
	type step struct {
		at      time.Time
		ok, bad int
	}
	var steps []step
	for i := range 120 { // 20 minutes
		bad := i / 6 / 4
		for range 10 {
			rec.Done(ctx, 200, "POST", time.Millisecond, time.Millisecond)
		}
		for range bad {
			rec.Done(ctx, 503, "POST", 100*time.Millisecond, 0)
		}
		steps = append(steps, step{clock.Now(), 10, bad})
		ins.Tick(clock.advance(WindowTick))
	}
	now := clock.Now()
	for _, d := range WindowLengths {
		f := rec.Window(now, d)
		if f.Seconds < d.Seconds() || f.Seconds > (d+WindowTick).Seconds() {
			t.Errorf("window %s covers %vs; want between %v and %v", d, f.Seconds, d.Seconds(), (d + WindowTick).Seconds())
		}
		var ok, bad int64
		for _, s := range steps {
			if !s.at.Before(now.Add(-time.Duration(f.Seconds * float64(time.Second)))) {
				ok += int64(s.ok)
				bad += int64(s.bad)
			}
		}
		if f.ByClass[1] != ok || f.ByClass[4] != bad || f.Requests != ok+bad {
			t.Errorf("window %s: 2xx %d 5xx %d requests %d; want %d %d %d", d, f.ByClass[1], f.ByClass[4], f.Requests, ok, bad, ok+bad)
		}
		if f.P50 < 937*time.Microsecond || f.P50 > 1063*time.Microsecond {
			t.Errorf("window %s: p50 %s; want 1ms within 6.25%%", d, f.P50)
		}
		wantP99 := time.Millisecond
		if float64(bad) > 0.01*float64(ok+bad) {
			wantP99 = 100 * time.Millisecond
		}
		if diff := (f.P99 - wantP99).Abs(); float64(diff) > 0.0625*float64(wantP99) {
			t.Errorf("window %s: p99 %s; want %s within 6.25%%", d, f.P99, wantP99)
		}
	}
}

// TestWindowOfAYoungRecorder: a recorder younger than the window reports
// everything since it was made, and says how long that is.
func TestWindowOfAYoungRecorder(t *testing.T) {
	ins, err := NewInstruments(nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}
	ins.now = clock.Now
	rec := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	rec.Done(context.Background(), 200, "POST", 3*time.Millisecond, time.Millisecond)
	ins.Tick(clock.advance(25 * time.Second))
	rec.Done(context.Background(), 404, "POST", 3*time.Millisecond, 0)
	f := rec.Window(clock.advance(5*time.Second), 5*time.Minute)
	if f.Seconds != 30 || f.Requests != 2 || f.ByClass[3] != 1 {
		t.Errorf("got %+v; want 2 requests (one 4xx) over 30s", f)
	}
	empty := ins.NewRequestRecorder("churn", "challenger", "churn-gbm", "2")
	if f := empty.Window(clock.Now(), time.Minute); f.Requests != 0 || f.P50 != 0 || f.P99 != 0 {
		t.Errorf("a recorder without requests: %+v; want zeros", f)
	}
}

// TestQuantile checks the bucket quantile against the exact one on random
// latencies: within the buckets' 6.25%.
func TestQuantile(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		var c latencyCounts
		var all []time.Duration
		for range 1 + r.IntN(2000) {
			d := time.Duration(r.ExpFloat64()*float64(2*time.Millisecond)) + time.Microsecond
			c.record(d)
			all = append(all, d.Truncate(time.Microsecond))
		}
		slices.Sort(all)
		var b [numLatencyBuckets]int64
		for i := range c {
			b[i] = c[i].Load()
		}
		for _, q := range []float64{0.5, 0.99} {
			exact := all[int(q*float64(len(all)-1))]
			got := quantile(&b, q)
			if diff := (got - exact).Abs(); float64(diff) > 0.0625*float64(exact)+float64(time.Microsecond) {
				t.Fatalf("q%v of %d latencies: %s; exact %s", q, len(all), got, exact)
			}
		}
	}
}

// TestRetiredWindows: a recorder retired when its version stops serving
// keeps its windows for 15 minutes, through Retired, and Windows adds a
// target's versions up.
func TestRetiredWindows(t *testing.T) {
	ins, err := NewInstruments(nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}
	ins.now = clock.Now
	ctx := context.Background()
	v1 := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "1")
	other := ins.NewRequestRecorder("churn", "challenger", "churn-gbm", "1")
	for range 5 {
		v1.Done(ctx, 200, "POST", time.Millisecond, time.Millisecond)
	}
	ins.Tick(clock.advance(WindowTick))
	v2 := ins.NewRequestRecorder("churn", "champion", "churn-gbm", "2")
	v1.Release()
	for range 3 {
		v2.Done(ctx, 500, "POST", 10*time.Millisecond, time.Millisecond)
	}
	ins.Tick(clock.advance(WindowTick))
	retired := ins.Retired("churn", "champion")
	if len(retired) != 1 || retired[0] != v1 || retired[0].Version() != "1" || retired[0].RetiredAt() != clock.Now().Add(-WindowTick) {
		t.Fatalf("Retired: %v; want version 1's recorder, retired a tick ago", retired)
	}
	if got := ins.Retired("churn", "challenger"); len(got) != 0 || !other.RetiredAt().IsZero() {
		t.Errorf("the challenger has retired recorders %v", got)
	}
	f := Windows(clock.Now(), time.Minute, v2, v1)
	if f.Requests != 8 || f.ByClass[1] != 5 || f.ByClass[4] != 3 || f.P99 < 9*time.Millisecond {
		t.Errorf("both versions of champion: %+v; want 5 2xx and 3 5xx, p99 10ms", f)
	}
	for range 91 {
		ins.Tick(clock.advance(WindowTick))
	}
	if got := ins.Retired("churn", "champion"); len(got) != 0 {
		t.Errorf("15 minutes on, Retired still has %d recorders", len(got))
	}
}

// TestRetiredBounded: at most maxRetired retired recorders are kept, the
// most recent, however many versions are retired within 15 minutes.
func TestRetiredBounded(t *testing.T) {
	ins, err := NewInstruments(nil)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)}
	ins.now = clock.Now
	for v := range maxRetired + 10 {
		rec := ins.NewRequestRecorder("churn", "champion", "churn-gbm", fmt.Sprint(v))
		clock.advance(time.Second)
		rec.Release()
	}
	ins.Tick(clock.Now())
	got := ins.Retired("churn", "champion")
	if len(got) != maxRetired {
		t.Fatalf("%d retired recorders kept; want %d", len(got), maxRetired)
	}
	for i, r := range got {
		if want := fmt.Sprint(maxRetired + 9 - i); r == nil || r.Version() != want {
			t.Fatalf("retired[%d] = %v; want version %s (newest first)", i, r, want)
		}
	}
}
