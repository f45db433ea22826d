package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// waitFor polls cond until it holds. The backstop only keeps a broken
// test from hanging the suite; it decides nothing.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	backstop := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(backstop) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// manualTicker replaces the rate check's ticker: each value sent on c ends
// one measuring window.
type manualTicker struct{ c chan time.Time }

func newManualTicker() *manualTicker { return &manualTicker{c: make(chan time.Time)} }

func (m *manualTicker) start(time.Duration) (<-chan time.Time, func()) { return m.c, func() {} }

// fetchVersion resolves and fetches models:/churn-gbm/<v>.
func fetchVersion(t *testing.T, r *Resolver, v string) (*Resolution, error) {
	t.Helper()
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/"+v))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Fetch(context.Background(), res)
	return res, err
}

// TestEndlessBodyStopsAtListedSize: a model.onnx whose listing says 356
// bytes and whose body never ends is cut at 356 bytes on disk and refused.
// (Before: 1.2 GB written to the cache in 5 s.)
func TestEndlessBodyStopsAtListedSize(t *testing.T) {
	s := fakemlflow.New(t)
	s.SetFileBody("churn-gbm", "1", "model.onnx", fakemlflow.Endless)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	res, err := fetchVersion(t, r, "1")
	checkIs(t, err, ErrInvalid)
	if !strings.Contains(err.Error(), "more than the 356 bytes of the listing's size; stopped after writing 356") {
		t.Errorf("error %q does not say it stopped at the listed size", err)
	}
	checkNoEntry(t, r, res)
	t.Logf("endless model.onnx: %v (server sent %d bytes before the client hung up)", err, s.Sent("churn-gbm", "1", "model.onnx"))
}

// TestUnlistedSizeStopsAtMaxModelBytes: without a size in the listing, an
// endless file is cut at what is left of MaxModelBytes.
func TestUnlistedSizeStopsAtMaxModelBytes(t *testing.T) {
	s := fakemlflow.New(t)
	files := s.Files("churn-gbm", "1")
	v := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: map[string][]byte{"MLmodel": files["MLmodel"], "model.onnx": files["model.onnx"]}})
	dir := s.ArtifactDir("churn-gbm", v)
	s.SetResponse(http.MethodGet, artifactsAPIPath+"?path="+dir, http.StatusOK, "application/json", []byte(fmt.Sprintf(
		`{"files": [{"path": "MLmodel", "is_dir": false, "file_size": %d}, {"path": "model.onnx", "is_dir": false}]}`, len(files["MLmodel"]))))
	s.SetFileBody("churn-gbm", v, "model.onnx", fakemlflow.Endless)
	const max = 64 << 10
	r := newResolver(t, Config{TrackingURI: s.URL(), MaxModelBytes: max})
	_, err := fetchVersion(t, r, v)
	checkIs(t, err, ErrInvalid)
	left := max - len(files["MLmodel"])
	if want := fmt.Sprintf("more than the %d bytes of max-model-bytes (65536 for a version); stopped after writing %d", left, left); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

// TestListedSizesOverLimitsRefusedUnread: a listing whose sizes exceed
// MaxModelBytes, or an MLmodel listed over MaxMLmodelBytes, is refused
// before the file is requested.
func TestListedSizesOverLimitsRefusedUnread(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		listed int64
		want   string
	}{
		{"model over max-model-bytes", "model.onnx", 5 << 30, "listed as 5368709120 bytes, over max-model-bytes (4294967296 for a version)"},
		{"MLmodel over its limit", "MLmodel", MaxMLmodelBytes + 1, "listed as 1048577 bytes, over the MLmodel limit of 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakemlflow.New(t)
			v := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: s.Files("churn-gbm", "1"), ListedSizes: map[string]int64{tt.file: tt.listed}})
			r := newResolver(t, Config{TrackingURI: s.URL()})
			res, err := fetchVersion(t, r, v)
			checkIs(t, err, ErrInvalid)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			if n := countRequests(s, http.MethodGet, artifactsAPIPath+"/"+s.ArtifactDir("churn-gbm", v)+"/"+tt.file); n != 0 {
				t.Errorf("%s was requested %d times; want never", tt.file, n)
			}
			checkNoEntry(t, r, res)
		})
	}
}

// TestReadFileBounded: ReadFile (what `mlgate resolve` reads) stops at
// MaxMLmodelBytes, whatever the listing or the body. (Before: a 64 MiB
// MLmodel was read whole.)
func TestReadFileBounded(t *testing.T) {
	s := fakemlflow.New(t)
	files := s.Files("churn-gbm", "1")
	files["MLmodel"] = append(files["MLmodel"], "\n# "+strings.Repeat("x", 2<<20)+"\n"...)
	huge := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: files})
	endless := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: s.Files("churn-gbm", "1")})
	s.SetFileBody("churn-gbm", endless, "MLmodel", fakemlflow.Endless)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	for _, v := range []string{huge, endless} {
		res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/"+v))
		if err != nil {
			t.Fatal(err)
		}
		data, err := r.ReadFile(context.Background(), res, "MLmodel")
		checkIs(t, err, ErrInvalid)
		if !strings.Contains(err.Error(), "more than the 1048576 bytes of the MLmodel limit") || data != nil {
			t.Errorf("version %s: got %d bytes, error %q; want none and the MLmodel limit", v, len(data), err)
		}
	}
	// From the cache too (an entry written by an earlier mlgate).
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := r.Fetch(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"MLmodel": strings.Repeat("x", MaxMLmodelBytes+1)})
	if _, err := r.ReadFile(context.Background(), res, "MLmodel"); !errors.Is(err, ErrInvalid) {
		t.Errorf("oversized cached MLmodel: got %v; want ErrInvalid", err)
	}
}

// TestSlowDownloadAbandoned: a body trickling forever, under a listing
// that promises 1 GiB, is abandoned at the end of the first measuring
// window (driven by the test) that brings less than the minimum rate.
// Nothing else can end it: the stall timeout and the deadline are an hour.
// (Before: a trickle was followed for as long as the caller waited.)
func TestSlowDownloadAbandoned(t *testing.T) {
	s := fakemlflow.New(t)
	v := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: s.Files("churn-gbm", "1"), ListedSizes: map[string]int64{"model.onnx": 1 << 30}})
	s.SetFileBody("churn-gbm", v, "model.onnx", fakemlflow.Trickle)
	r := newResolver(t, Config{TrackingURI: s.URL(), Timeout: time.Hour, DownloadTimeout: time.Hour})
	tick := newManualTicker()
	r.cache.tick = tick.start
	done := make(chan error, 1)
	go func() {
		_, err := fetchVersion(t, r, v)
		done <- err
	}()
	waitFor(t, "model.onnx to start trickling", func() bool { return s.Sent("churn-gbm", v, "model.onnx") > 0 })
	tick.c <- time.Now()
	err := <-done
	checkIs(t, err, ErrUnavailable)
	if !strings.Contains(err.Error(), "slower than the minimum rate of 65536 bytes/s over 30s (min-download-rate)") {
		t.Errorf("error %q does not name the minimum rate", err)
	}
	t.Logf("trickle: %v", err)
}

// TestDownloadDeadline: a body that stalls forever is abandoned at the
// download deadline, the only limit left that can end it.
func TestDownloadDeadline(t *testing.T) {
	s := fakemlflow.New(t)
	s.SetFileBody("churn-gbm", "1", "model.onnx", fakemlflow.Stall)
	r := newResolver(t, Config{TrackingURI: s.URL(), Timeout: time.Hour, DownloadTimeout: 50 * time.Millisecond, MinDownloadRate: -1})
	res, err := fetchVersion(t, r, "1")
	checkIs(t, err, ErrUnavailable)
	if !strings.Contains(err.Error(), "not finished within 50ms (download-timeout)") {
		t.Errorf("error %q does not name the deadline", err)
	}
	checkNoEntry(t, r, res)
}

// TestFetchWaiterStopsWithItsContext: a caller sharing another caller's
// download stops waiting when its own context ends.
func TestFetchWaiterStopsWithItsContext(t *testing.T) {
	s := fakemlflow.New(t)
	s.SetFileBody("churn-gbm", "1", "model.onnx", fakemlflow.Stall)
	r := newResolver(t, Config{TrackingURI: s.URL(), Timeout: time.Hour, DownloadTimeout: time.Hour, MinDownloadRate: -1})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
	if err != nil {
		t.Fatal(err)
	}
	first, cancelFirst := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := r.Fetch(first, res)
		done <- err
	}()
	onnx := artifactsAPIPath + "/" + s.ArtifactDir("churn-gbm", "1") + "/model.onnx"
	waitFor(t, "the download of model.onnx", func() bool { return countRequests(s, http.MethodGet, onnx) > 0 })
	second, cancelSecond := context.WithCancel(context.Background())
	cancelSecond()
	if _, err := r.Fetch(second, res); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting caller: got %v; want context.Canceled", err)
	}
	cancelFirst()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("downloading caller: got %v; want context.Canceled", err)
	}
}

func TestRateCheck(t *testing.T) {
	c := newRateCheck(1000, 2*time.Second) // 2000 bytes a window
	for i, step := range []struct {
		total int64
		ok    bool
	}{{2000, true}, {3999, false}, {6000, true}, {6000, false}, {100000, true}} {
		if got := c.ok(step.total); got != step.ok {
			t.Errorf("window %d ending at %d bytes: ok %v; want %v", i, step.total, got, step.ok)
		}
	}
}

// TestWatchRate drives the rate watcher window by window: it cancels only
// at the end of a window that brought too few bytes.
func TestWatchRate(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var progress atomic.Int64
	tick := newManualTicker()
	stop := watchRate(cancel, &progress, 100, time.Second, tick.start)
	defer stop()
	progress.Add(150)
	tick.c <- time.Now()
	select { // received only once the first window was judged
	case tick.c <- time.Now():
	case <-ctx.Done():
		t.Fatalf("first window brought 150 bytes at 100 bytes/s: cancelled with %v", context.Cause(ctx))
	}
	<-ctx.Done() // the second window brought nothing
	if !errors.Is(context.Cause(ctx), errTooSlow) || !errors.Is(context.Cause(ctx), ErrUnavailable) {
		t.Errorf("cause %v; want a too-slow ErrUnavailable", context.Cause(ctx))
	}

	// One window that brought enough, judged before stop returns.
	ctx2, cancel2 := context.WithCancelCause(context.Background())
	defer cancel2(nil)
	var progress2 atomic.Int64
	stop2 := watchRate(cancel2, &progress2, 100, time.Second, tick.start)
	progress2.Add(100)
	tick.c <- time.Now()
	stop2() // waits for the window to be judged
	if ctx2.Err() != nil {
		t.Errorf("a window of 100 bytes at 100 bytes/s: cancelled with %v", context.Cause(ctx2))
	}
}

func TestBoundedWriter(t *testing.T) {
	var buf bytes.Buffer
	var progress atomic.Int64
	w := &boundedWriter{w: &buf, file: "model.onnx", limit: 5, why: "the listing's size", progress: &progress}
	if n, err := w.Write([]byte("abc")); n != 3 || err != nil {
		t.Fatalf("first write: %d, %v", n, err)
	}
	n, err := w.Write([]byte("defgh"))
	if n != 2 || !errors.Is(err, ErrInvalid) || buf.String() != "abcde" || progress.Load() != 5 {
		t.Errorf("write over the limit: n %d, err %v, wrote %q, progress %d; want 2, ErrInvalid, abcde, 5", n, err, buf.String(), progress.Load())
	}
}

// TestRegistryAnswerBounded: a registry answer over the JSON cap is
// refused, not decoded.
func TestRegistryAnswerBounded(t *testing.T) {
	s := fakemlflow.New(t)
	body := append([]byte(`{"model_version": {"name": "`), bytes.Repeat([]byte("x"), maxJSONBody)...)
	s.SetResponse(http.MethodGet, "/api/2.0/mlflow/registered-models/alias?name=churn-gbm&alias=champion", http.StatusOK, "application/json", body)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	_, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	checkIs(t, err, ErrInvalid)
	if !strings.Contains(err.Error(), fmt.Sprintf("response larger than %d bytes", maxJSONBody)) {
		t.Errorf("error %q does not name the cap", err)
	}
}
