package infer

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
)

// loader loads dir through a Cache and counts its calls.
type loader struct{ calls map[string]int }

func (l *loader) of(dir string) func(context.Context) (*Model, error) {
	return func(ctx context.Context) (*Model, error) {
		l.calls[dir]++
		return Load(ctx, dir, Config{})
	}
}

// TestCacheKeepsHeldVersions loads versions through the cache: a cached
// key loads once, the versions the serving state holds are never evicted,
// others stay while they fit the budget and go least recently held first
// once the held set changes, and a discarded version goes unless held.
func TestCacheKeepsHeldVersions(t *testing.T) {
	before := LiveSessions()
	l := &loader{calls: map[string]int{}}
	v1dir, v2dir := testutil.RecordedModel(t, "churn-gbm", 1), testutil.RecordedModel(t, "churn-gbm", 2)
	mlpDir := testutil.Path(t, "testdata", "models", "mlp256")
	s1, err1 := DirSize(v1dir)
	s2, err2 := DirSize(v2dir)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	budget := s1 + s2 // room for v1 and v2, not for the MLP as well
	c := NewCache(budget)
	get := func(key, dir string) *Model {
		t.Helper()
		m, _, err := c.Load(context.Background(), key, l.of(dir))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}

	v1, fresh, err := c.Load(context.Background(), "v1", l.of(v1dir))
	if err != nil || !fresh {
		t.Fatalf("first load of v1: fresh %v err %v; want a fresh load", fresh, err)
	}
	if again, fresh, _ := c.Load(context.Background(), "v1", l.of(v1dir)); again != v1 || fresh {
		t.Errorf("second load of v1: same %v fresh %v; want the cached version", again == v1, fresh)
	} else {
		again.Release()
	}
	v2 := get("v2", v2dir)
	c.Hold(map[string]*Model{"v1": v1, "v2": v2})
	v1.Release() // the cache's references are the only ones left
	v2.Release()
	if st := c.Stats(); st.Versions != 2 || st.Held != 2 {
		t.Errorf("stats %+v; want 2 versions, both held", st)
	}

	c.Hold(map[string]*Model{"v2": v2}) // v1 no longer held, but fits
	get("v1", v1dir).Release()
	if l.calls[v1dir] != 1 {
		t.Errorf("v1 loaded %d times; want 1 while it fits the budget", l.calls[v1dir])
	}

	mlp := get("mlp", mlpDir)
	c.Hold(map[string]*Model{"v2": v2, "mlp": mlp}) // over budget: v1 goes, held versions stay
	mlp.Release()
	if got := LiveSessions(); got != before+2 { // v2, mlp
		t.Errorf("live sessions %d; want %d (v1 destroyed)", got, before+2)
	}
	get("v1", v1dir).Release()
	if l.calls[v1dir] != 2 {
		t.Errorf("v1 loaded %d times; want a second load after its eviction", l.calls[v1dir])
	}

	c.Discard("v1")
	c.Discard("v2") // held: stays
	if st := c.Stats(); st.Versions != 2 || st.Held != 2 {
		t.Errorf("stats after discards %+v; want v2 and mlp, both held", st)
	}
	c.Hold(nil) // nothing held, over budget: oldest out until it fits
	if st := c.Stats(); st.Bytes > budget || st.Held != 0 {
		t.Errorf("stats %+v; want within %d bytes and nothing held", st, budget)
	}
	c.Close()
	if got := LiveSessions(); got != before {
		t.Errorf("live sessions after Close %d; want %d", got, before)
	}
}

// bareModel is a Model without a session, for cache bookkeeping tests.
func bareModel(bytes int64) *Model {
	m := &Model{bytes: bytes}
	m.refs.Store(1)
	return m
}

// TestCacheLoadsOnceForConcurrentCallers starts one load and lets others
// join it: the loader runs once, every caller gets the version with its own
// reference, and a failed load fails every caller.
func TestCacheLoadsOnceForConcurrentCallers(t *testing.T) {
	c := NewCache(1 << 20)
	defer c.Close()
	for _, fail := range []bool{false, true} {
		key := map[bool]string{false: "ok", true: "broken"}[fail]
		release := make(chan struct{})
		var calls int
		var m *Model
		loadFn := func(context.Context) (*Model, error) {
			calls++
			<-release
			if fail {
				return nil, errors.New("corrupt model.onnx")
			}
			m = bareModel(10)
			return m, nil
		}
		const callers = 5
		got := make([]*Model, callers)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		wg.Go(func() { got[0], _, errs[0] = c.Load(context.Background(), key, loadFn) })
		waitFor(t, "the first load to start", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.loading[key] != nil
		})
		for i := 1; i < callers; i++ {
			wg.Go(func() { got[i], _, errs[i] = c.Load(context.Background(), key, loadFn) })
		}
		waitFor(t, "every caller to join", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.loading[key].waiters == callers-1
		})
		close(release)
		wg.Wait()
		if calls != 1 {
			t.Errorf("%s: loader ran %d times; want once", key, calls)
		}
		for i := range callers {
			if fail != (errs[i] != nil) || (!fail && got[i] != m) {
				t.Errorf("%s: caller %d got %p, %v", key, i, got[i], errs[i])
			}
		}
		if !fail {
			if n := m.refs.Load(); n != callers+1 {
				t.Errorf("references %d; want one per caller and the cache's", n)
			}
			for _, g := range got {
				g.Release()
			}
		}
	}
}

// waitFor polls cond until it holds; it fails the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(time.Millisecond) {
		if time.Since(start) > time.Minute {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
