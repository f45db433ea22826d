package serve

import (
	"fmt"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
)

// TestSplitPassesOverUnservedTarget: in a canary whose challenger has no
// version serving (its first load failed or is still running), every
// request drawn for the challenger goes to the champion, sticky keys and
// random draws alike; an override still names the challenger, and a route
// where no target serves answers with the drawn one.
func TestSplitPassesOverUnservedTarget(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	const challenger = "models:/churn-gbm@challenger"
	spec := []RouteSpec{{Name: "churn", Targets: []TargetSpec{
		{URI: champion, Alias: "champion", Weight: 1}, {URI: challenger, Alias: "challenger", Weight: 3}}}}
	snap, err := s.Compile(spec, "", served(map[string]Model{champion: m}))
	if err != nil {
		t.Fatal(err)
	}
	r, err := snap.routeNamed([]byte("churn"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		for _, key := range [][]byte{nil, fmt.Appendf(nil, "user-%d", i)} {
			tg, err := r.choose(nil, key)
			if err != nil {
				t.Fatal(err)
			}
			if tg.alias != "champion" {
				t.Fatalf("key %q drew %s, which serves nothing; want the champion", key, tg.alias)
			}
		}
	}
	tg, err := r.choose([]byte("challenger"), nil)
	if err != nil || tg.alias != "challenger" || tg.d != nil {
		t.Fatalf("override challenger = %v, %v; want the unserved challenger", tg, err)
	}

	none, err := s.Compile(spec, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err = none.routeNamed([]byte("churn"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		tg, err := r.choose(nil, fmt.Appendf(nil, "user-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		seen[tg.alias] = true
	}
	if !seen["champion"] || !seen["challenger"] {
		t.Fatalf("with nothing serving, draws reached %v; want both targets (each answers it is not loaded)", seen)
	}
}

// TestServingAtFollowsWeights: the pass-over keeps the serving targets'
// relative weights and covers all of [0,1).
func TestServingAtFollowsWeights(t *testing.T) {
	d := &deployment{}
	r := &route{targets: []target{{alias: "a", weight: 1, d: d}, {alias: "b", weight: 2}, {alias: "c", weight: 3, d: d}, {alias: "z", d: d}}}
	for _, c := range []struct {
		u    float64
		want string
	}{{0, "a"}, {0.2499, "a"}, {0.25, "c"}, {0.9999999, "c"}} {
		if got := r.servingAt(c.u); got == nil || got.alias != c.want {
			t.Errorf("servingAt(%g) = %v, want %s", c.u, got, c.want)
		}
	}
	r.targets[0].d, r.targets[2].d = nil, nil
	if got := r.servingAt(0.5); got != nil {
		t.Errorf("servingAt with only a zero-weight target serving = %s, want nil", got.alias)
	}
}
