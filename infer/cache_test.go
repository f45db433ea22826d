package infer

import (
	"context"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
)

func TestCacheEvictsUnpinnedBeyondBudget(t *testing.T) {
	before := LiveSessions()
	loadOwned := func(dir string) *Model {
		m, err := Load(context.Background(), dir, Config{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	v1 := loadOwned(testutil.RecordedModel(t, "churn-gbm", 1))
	v2 := loadOwned(testutil.RecordedModel(t, "churn-gbm", 2))
	c := NewCache(v1.Bytes() + v2.Bytes()) // room for both
	c.Add("v1", v1)
	c.Add("v2", v2)
	c.Pin("v2")
	v1.Release() // drop the test's own references: the cache holds the rest
	v2.Release()
	if got := LiveSessions(); got != before+2 {
		t.Fatalf("live sessions %d; want %d with both cached", got, before+2)
	}
	if m, ok := c.Get("v1"); !ok || m != v1 {
		t.Fatal("v1 not cached")
	} else {
		m.Release()
	}

	big := load(t, testutil.Path(t, "testdata", "models", "mlp256"), Config{})
	c.Add("mlp", big) // over budget: v2 is pinned, mlp is newest; v1 goes
	if _, ok := c.Get("v1"); ok {
		t.Error("v1 still cached after the budget was exceeded")
	}
	if m, ok := c.Get("v2"); !ok {
		t.Error("pinned v2 was evicted")
	} else {
		m.Release()
	}
	if got := LiveSessions(); got != before+2 {
		t.Errorf("live sessions %d; want %d (v1 destroyed, v2 and mlp alive)", got, before+2)
	}
	c.Unpin("v2") // both unpinned, over budget: oldest first until it fits
	st := c.Stats()
	if st.Bytes > v1.Bytes()+v2.Bytes() || st.Pinned != 0 {
		t.Errorf("stats %+v: over budget %d", st, v1.Bytes()+v2.Bytes())
	}
	c.Close()
	if got := LiveSessions(); got != before+1 { // the test still holds mlp
		t.Errorf("live sessions after Close %d; want %d", got, before+1)
	}
}
