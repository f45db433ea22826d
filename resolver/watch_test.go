package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// recordingDeployer accepts every version and records what it deployed.
type recordingDeployer struct {
	mu       sync.Mutex
	versions []string
}

func (d *recordingDeployer) Deploy(_ context.Context, _ URI, res *Resolution, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.versions = append(d.versions, res.Version)
	return nil
}

func (d *recordingDeployer) Withdraw(URI, error) {}

func (d *recordingDeployer) Stand(URI, Standing) {}

// TestRefreshNotBlockedByHangingDownload: the alias moves to a version
// whose model.onnx stalls forever and a background check starts
// downloading it. Refresh, which must wait for that check, returns when
// its own context ends instead of waiting with it. With a download
// deadline the hanging check itself ends, the version is recorded as
// failing, and the version serving keeps serving. (Before: Refresh was
// still blocked 20 s after its 5 s context ended.) Version 1 is put in the
// cache first with no download deadline to speak of, so only the stalled
// download meets the short deadline, however busy the machine.
func TestRefreshNotBlockedByHangingDownload(t *testing.T) {
	for _, deadline := range []time.Duration{time.Hour, 100 * time.Millisecond} {
		s := fakemlflow.New(t)
		cacheDir := t.TempDir()
		warm := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cacheDir, Timeout: time.Hour, DownloadTimeout: time.Hour, MinDownloadRate: -1})
		u := mustURI(t, "models:/churn-gbm@champion")
		res, err := warm.Resolve(context.Background(), u)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := warm.Fetch(context.Background(), res); err != nil {
			t.Fatal(err)
		}
		r := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cacheDir, Timeout: time.Hour, DownloadTimeout: deadline, MinDownloadRate: -1})
		d := &recordingDeployer{}
		w := NewWatcher(r, d, WatchConfig{PollInterval: time.Hour, CheckTimeout: time.Hour})
		if err := w.Watch(context.Background(), u); err != nil {
			t.Fatal(err)
		}
		v := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: s.Files("churn-gbm", "1")})
		s.SetFileBody("churn-gbm", v, "model.onnx", fakemlflow.Stall)
		s.SetAlias("churn-gbm", "champion", v)
		w.Trigger("churn-gbm")
		onnx := artifactsAPIPath + "/" + s.ArtifactDir("churn-gbm", v) + "/model.onnx"
		waitFor(t, "the background check to download model.onnx", func() bool { return countRequests(s, http.MethodGet, onnx) > 0 })

		if deadline == time.Hour {
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- w.Refresh(ctx) }()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "waiting for the check in progress") {
				t.Errorf("Refresh during a hanging check: got %v; want it to give up with its context", err)
			}
			w.Close() // cancels the hanging check
			continue
		}
		waitFor(t, "the hanging check to fail", func() bool {
			st, _ := w.StatusOf(u)
			return st.Failures > 0
		})
		st, _ := w.StatusOf(u)
		if !strings.Contains(st.LastError, "download-timeout") || st.Pending != v || st.Serving.Version != "1" {
			t.Errorf("status after the deadline: last error %q, pending %q, serving %s; want download-timeout, %s pending, 1 serving",
				st.LastError, st.Pending, st.Serving.Version, v)
		}
		if err := w.Refresh(context.Background()); err == nil || !strings.Contains(err.Error(), "download-timeout") {
			t.Errorf("Refresh: got %v; want the version's download-timeout", err)
		}
		w.Close()
		d.mu.Lock()
		if len(d.versions) != 1 || d.versions[0] != "1" {
			t.Errorf("deployed %v; want only version 1", d.versions)
		}
		d.mu.Unlock()
	}
}

// TestPrepareThenFollow stages a URI's first version without following it,
// then follows it: Prepare hands the version to its load function and
// changes nothing the Watcher follows; Follow starts polling, so that an
// alias move reaches the Deployer. With the registry down, Prepare stands
// the last version that served the URI in from the on-disk cache, and
// Follow says so in the status.
func TestPrepareThenFollow(t *testing.T) {
	s := fakemlflow.New(t)
	cache := t.TempDir()
	r := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cache})
	d := &recordingDeployer{}
	w := NewWatcher(r, d, WatchConfig{PollInterval: time.Hour})
	defer w.Close()
	u := mustURI(t, "models:/churn-gbm@champion")

	var loaded []string
	p, err := w.Prepare(context.Background(), u, func(_ context.Context, res *Resolution, dir string) error {
		loaded = append(loaded, res.Version+" in "+dir)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 1 || p.Resolution.Version != "1" || p.FromCache || !strings.HasPrefix(loaded[0], "1 in ") {
		t.Fatalf("prepared %+v after loading %v; want version 1 from the registry, loaded once", p, loaded)
	}
	if _, ok := w.StatusOf(u); ok {
		t.Error("Prepare started following the URI")
	}
	if _, err := w.Prepare(context.Background(), u, func(context.Context, *Resolution, string) error {
		return errors.New("corrupt model.onnx")
	}); err == nil || !strings.Contains(err.Error(), "corrupt model.onnx") || !strings.Contains(err.Error(), "version 1") {
		t.Errorf("Prepare with a failing load: %v; want the load's error naming the version", err)
	}

	w.Follow(u, p)
	if st, ok := w.StatusOf(u); !ok || st.Serving == nil || st.Serving.Version != "1" {
		t.Fatalf("status after Follow: %+v; want version 1 serving", st)
	}

	s.SetDown(fakemlflow.Refuse)
	offline := NewWatcher(newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cache}), d, WatchConfig{PollInterval: time.Hour})
	defer offline.Close()
	cached, err := offline.Prepare(context.Background(), u, func(context.Context, *Resolution, string) error { return nil })
	if err != nil || !cached.FromCache || cached.RegistryErr == nil || cached.Resolution.Version != "1" {
		t.Fatalf("Prepare with the registry down: %+v, %v; want version 1 from the cache and the registry's error", cached, err)
	}
	offline.Follow(u, cached)
	if st, _ := offline.StatusOf(u); !st.FromCache || !st.Stale() || st.LastError == "" {
		t.Errorf("status after following a cached version: %+v; want from_cache, stale and the registry error", st)
	}
	s.SetUp()

	s.SetAlias("churn-gbm", "champion", "2")
	w.Trigger("churn-gbm")
	waitFor(t, "the alias move to be deployed", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return len(d.versions) == 1 && d.versions[0] == "2"
	})
}

// failingDeployer fails every deploy of the versions in fail.
type failingDeployer struct {
	recordingDeployer
	fail map[string]bool
}

func (d *failingDeployer) Deploy(ctx context.Context, u URI, res *Resolution, dir string) error {
	if d.fail[res.Version] {
		return errors.New("corrupt model.onnx")
	}
	return d.recordingDeployer.Deploy(ctx, u, res, dir)
}

// TestWatchEvents: the Watcher tells its Events callback when the URI
// moves (once per version, not per retry), when a version fails and when
// it gives up on it, and when the URI vanishes (once).
func TestWatchEvents(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: t.TempDir()})
	var mu sync.Mutex
	var got []string
	d := &failingDeployer{fail: map[string]bool{"1": true}}
	w := NewWatcher(r, d, WatchConfig{PollInterval: time.Hour, MaxAttempts: 2, Events: func(e WatchEvent) {
		mu.Lock()
		defer mu.Unlock()
		s := fmt.Sprintf("%d %s %s<-%s attempt %d/%d", e.Kind, e.URI, e.Version, e.FromVersion, e.Attempt, e.MaxAttempts)
		if e.Err != nil {
			s += ": " + e.Err.Error()
		}
		got = append(got, s)
	}})
	defer w.Close()
	u := mustURI(t, "models:/churn-gbm@champion")
	s.SetAlias("churn-gbm", "champion", "2")
	if err := w.Watch(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	st, _ := w.StatusOf(u)
	if st.Serving.ExperimentID != "1" {
		t.Errorf("the resolution's experiment is %q; want the run's, 1", st.Serving.ExperimentID)
	}
	s.SetAlias("churn-gbm", "champion", "1")
	w.Refresh(context.Background())
	w.Refresh(context.Background())
	w.Refresh(context.Background()) // given up: nothing new
	s.DeleteAlias("churn-gbm", "champion")
	w.Refresh(context.Background())
	w.Refresh(context.Background())
	want := []string{
		"1 models:/churn-gbm@champion 1<-2 attempt 0/2",
		"2 models:/churn-gbm@champion 1<-2 attempt 1/2: corrupt model.onnx",
		"2 models:/churn-gbm@champion 1<-2 attempt 2/2: corrupt model.onnx",
		"3 models:/churn-gbm@champion 1<-2 attempt 2/2: corrupt model.onnx",
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != len(want)+1 || strings.Join(got[:len(want)], "\n") != strings.Join(want, "\n") || !strings.HasPrefix(got[len(want)], "4 models:/churn-gbm@champion <-2") {
		t.Errorf("events:\n%s\nwant:\n%s\n4 models:/churn-gbm@champion <-2 …", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
