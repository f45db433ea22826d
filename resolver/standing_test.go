package resolver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// standingDeployer refuses the versions in fail and records every Standing
// it is told.
type standingDeployer struct {
	mu     sync.Mutex
	fail   map[string]bool
	stands []Standing
}

func (d *standingDeployer) Deploy(_ context.Context, _ URI, res *Resolution, _ string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.fail[res.Version] {
		return fmt.Errorf("warm-up of version %s failed", res.Version)
	}
	return nil
}

func (d *standingDeployer) Withdraw(URI, error) {}

func (d *standingDeployer) Stand(_ URI, st Standing) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stands = append(d.stands, st)
}

// told returns the standings told since the last call, as status@version.
func (d *standingDeployer) told() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []string
	for _, st := range d.stands {
		s := string(st.Status) + "@" + st.Version
		if st.Status == "" {
			s = "current"
		}
		out = append(out, s)
	}
	d.stands = nil
	return strings.Join(out, " ")
}

// TestStandings moves an alias through every way of not serving what the
// registry names, each check driven by Refresh, and checks what the
// Deployer is told: once per change, in order, and the status in Status.
func TestStandings(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL(), Timeout: 2 * time.Second})
	bad := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: s.Files("churn-gbm", "1")})
	pending := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: s.Files("churn-gbm", "1"), Status: "PENDING_REGISTRATION"})
	d := &standingDeployer{fail: map[string]bool{bad: true}}
	w := NewWatcher(r, d, WatchConfig{PollInterval: time.Hour, MaxAttempts: 2})
	t.Cleanup(w.Close)
	u := mustURI(t, "models:/churn-gbm@champion")
	if err := w.Watch(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	refresh := func() { _ = w.Refresh(context.Background()) }
	steps := []struct {
		what   string
		change func()
		want   string
		status ServingStatus
	}{
		{"a first start", func() {}, "", ""},
		{"a version that fails", func() { s.SetAlias("churn-gbm", "champion", bad) }, "loading@" + bad + " load-failed@" + bad, ServingLoadFailed},
		{"its second failure", func() {}, "gave-up@" + bad, ServingGaveUp},
		{"a check after giving up", func() {}, "", ServingGaveUp},
		{"the alias deleted", func() { s.DeleteAlias("churn-gbm", "champion") }, "missing@", ServingMissing},
		{"the alias back on v1", func() { s.SetAlias("churn-gbm", "champion", "1") }, "current", ""},
		{"the registry down", func() { s.SetDown(fakemlflow.Refuse) }, "registry-unreachable@", ServingUnreachable},
		{"the registry back", func() { s.SetUp() }, "current", ""},
		{"a version not READY", func() { s.SetAlias("churn-gbm", "champion", pending) }, "not-ready@" + pending, ServingNotReady},
		{"a good version", func() { s.SetAlias("churn-gbm", "champion", "2") }, "loading@2 current", ""},
	}
	for _, st := range steps {
		st.change()
		refresh()
		if got := d.told(); got != st.want {
			t.Errorf("after %s: told %q; want %q", st.what, got, st.want)
		}
		rs, _ := w.StatusOf(u)
		if rs.ServingStatus != st.status || rs.Stale() != (st.status != "") {
			t.Errorf("after %s: status %q, stale %v; want %q", st.what, rs.ServingStatus, rs.Stale(), st.status)
		}
	}
	if rs, _ := w.StatusOf(u); rs.Serving == nil || rs.Serving.Version != "2" || rs.RegistryVersion != "2" {
		t.Errorf("finally serving %+v, registry version %q; want 2", rs.Serving, rs.RegistryVersion)
	}
}

// TestWatchThroughAFailingFirstVersion starts watching a URI whose version
// fails to load: Watch succeeds, nothing serves, the Deployer is told the
// version failed, and once the version loads (a retry) it serves. A URI
// that cannot be resolved still fails Watch.
func TestWatchThroughAFailingFirstVersion(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL(), Timeout: 2 * time.Second})
	d := &standingDeployer{fail: map[string]bool{"1": true}}
	w := NewWatcher(r, d, WatchConfig{PollInterval: time.Hour, MaxAttempts: 3})
	t.Cleanup(w.Close)
	u := mustURI(t, "models:/churn-gbm@champion")
	if err := w.Watch(context.Background(), u); err != nil {
		t.Fatalf("Watch: %v; want the failing version recorded, not a failed start", err)
	}
	rs, ok := w.StatusOf(u)
	if !ok || rs.Serving != nil || rs.Pending != "1" || rs.PendingFailures != 1 || rs.ServingStatus != ServingLoadFailed || !strings.Contains(rs.LastError, "warm-up of version 1 failed") {
		t.Errorf("status after a failed start %+v; want version 1 pending after one failure", rs)
	}
	if got := d.told(); got != "load-failed@1" {
		t.Errorf("told %q; want load-failed@1", got)
	}
	d.mu.Lock()
	d.fail = nil
	d.mu.Unlock()
	if err := w.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if rs, _ := w.StatusOf(u); rs.Serving == nil || rs.Serving.Version != "1" || rs.ServingStatus != "" || rs.Swaps != 0 {
		t.Errorf("after the retry %+v; want version 1 serving, a first deploy and no swap", rs)
	}
	if got := d.told(); got != "current" {
		t.Errorf("told %q; want current", got)
	}
	if err := w.Watch(context.Background(), mustURI(t, "models:/churn-gbm@nosuchalias")); err == nil || !errors.Is(err, ErrNotFound) {
		t.Errorf("Watch of a missing alias: %v; want it to fail as before", err)
	}
}
