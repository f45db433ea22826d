package serve

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

const oneRow = `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`

// newRequest returns a request context for driving Handler in memory.
func newRequest(path, body string) *fasthttp.RequestCtx {
	ctx := requestCtx()
	setRequest(ctx, path, "application/json", body)
	return ctx
}

func newTestServer(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func routeSpec(name string, uris ...string) RouteSpec {
	r := RouteSpec{Name: name}
	for _, u := range uris {
		r.Targets = append(r.Targets, TargetSpec{URI: u, Weight: 1})
	}
	return r
}

func statusJSON(t *testing.T, s *Server) string {
	t.Helper()
	b, err := json.Marshal(s.Status())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestSupersededSnapshotRetiresAfterItsLastRequest holds a request inside
// the model while a new Snapshot replaces the one it started with: the old
// model stays referenced until that request ends, the request finishes on
// it, and new requests see only the new model.
func TestSupersededSnapshotRetiresAfterItsLastRequest(t *testing.T) {
	s := newTestServer(t, Config{})
	old, neu := newFakeModel(t, 0.25), newFakeModel(t, 0.75)
	old.entered, old.gate = make(chan struct{}), make(chan struct{})
	specs := []RouteSpec{routeSpec("churn", "models:/churn@champion")}
	publish(t, s, specs, map[string]Deployment{"models:/churn@champion": {Model: old, Provenance: Provenance{Name: "churn", Version: "1"}}})
	old.Release() // the Snapshot's reference is the only one left

	slow := newRequest("/invocations", oneRow)
	done := make(chan struct{})
	go func() { s.Handler(slow); close(done) }()
	<-old.entered

	publish(t, s, specs, map[string]Deployment{"models:/churn@champion": {Model: neu, Provenance: Provenance{Name: "churn", Version: "2"}}})
	if !old.live() {
		t.Fatal("the superseded model was released while a request was running on it")
	}
	fresh := newRequest("/invocations", oneRow)
	s.Handler(fresh)
	if got := string(fresh.Response.Body()); got != `{"predictions": [{"probability": 0.75}]}` {
		t.Errorf("request after the swap: %s; want the new model's answer", got)
	}
	close(old.gate)
	<-done
	if got := string(slow.Response.Body()); got != `{"predictions": [{"probability": 0.25}]}` {
		t.Errorf("request across the swap: %s; want the model it started with", got)
	}
	if v := string(slow.Response.Header.Peek(HeaderModelVersion)); v != "1" {
		t.Errorf("request across the swap: %s %s; want 1", HeaderModelVersion, v)
	}
	if old.live() {
		t.Errorf("the superseded model still has %d references after its last request", old.refs.Load())
	}
}

// TestPublishHistory checks what /admin/models says across publishes: an
// unchanged deployment keeps its start time and is no swap, a new version
// is one, a withdrawal and a return start from nothing, and a URI no route
// uses any more forgets its history.
func TestPublishHistory(t *testing.T) {
	s := newTestServer(t, Config{})
	v1, v2 := newFakeModel(t, 0.1), newFakeModel(t, 0.2)
	const uri = "models:/churn@champion"
	p1, p2 := Provenance{Name: "churn", Version: "1"}, Provenance{Name: "churn", Version: "2"}
	one := []RouteSpec{routeSpec("churn", uri)}
	two := []RouteSpec{routeSpec("churn", uri), routeSpec("other", uri)}
	target := func() TargetStatus { return s.Status().Routes[0].Targets[0] }
	versions := func(sw []Swap) string {
		var out []string
		for _, x := range sw {
			out = append(out, x.FromVersion+">"+x.ToVersion)
		}
		return strings.Join(out, " ")
	}

	publish(t, s, one, map[string]Deployment{uri: {Model: v1, Provenance: p1}})
	first := target()
	publish(t, s, two, map[string]Deployment{uri: {Model: v1, Provenance: p1}})
	if got := target(); !got.Serving.LoadedSince.Equal(first.Serving.LoadedSince) || versions(got.Swaps) != ">1" {
		t.Errorf("same version on new routes: since %v swaps %q; want since %v and one swap >1",
			got.Serving.LoadedSince, versions(got.Swaps), first.Serving.LoadedSince)
	}
	publish(t, s, two, map[string]Deployment{uri: {Model: v2, Provenance: p2}})
	if got := versions(target().Swaps); got != ">1 1>2" {
		t.Errorf("swaps after a move: %q; want \">1 1>2\"", got)
	}
	publish(t, s, two, nil)
	if got := target(); got.Serving != nil || versions(got.Swaps) != ">1 1>2" {
		t.Errorf("after a withdrawal: serving %v swaps %q; want none and the same swaps", got.Serving, versions(got.Swaps))
	}
	publish(t, s, two, map[string]Deployment{uri: {Model: v2, Provenance: p2}})
	if got := versions(target().Swaps); got != ">1 1>2 >2" {
		t.Errorf("swaps after a return: %q; want \">1 1>2 >2\"", got)
	}
	publish(t, s, []RouteSpec{routeSpec("churn", "models:/churn/9")}, nil)
	publish(t, s, one, map[string]Deployment{uri: {Model: v1, Provenance: p1}})
	if got := versions(target().Swaps); got != ">1" {
		t.Errorf("swaps after the URI left the routes and came back: %q; want \">1\"", got)
	}
}

// TestCompileRejects checks every route error Compile reports, and that a
// rejected table changes nothing that serves.
func TestCompileRejects(t *testing.T) {
	s := newTestServer(t, Config{})
	m := newFakeModel(t, 0.5)
	good := []RouteSpec{routeSpec("churn", "models:/churn@champion")}
	publish(t, s, good, served(map[string]Model{"models:/churn@champion": m}))
	before := statusJSON(t, s)
	refs := m.refs.Load()
	tests := []struct {
		name   string
		specs  []RouteSpec
		def    string
		deps   map[string]Deployment
		errHas string
	}{
		{"no routes", nil, "", nil, "at least one route"},
		{"bad name", []RouteSpec{routeSpec("a/b", "models:/x/1")}, "", nil, `name "a/b" must match`},
		{"duplicate name", []RouteSpec{routeSpec("a", "models:/x/1"), routeSpec("a", "models:/y/1")}, "", nil, `name "a" is used twice`},
		{"no target", []RouteSpec{{Name: "a"}}, "", nil, "route a: no model"},
		{"empty URI", []RouteSpec{routeSpec("a", "")}, "", nil, "empty model URI"},
		{"URI twice", []RouteSpec{routeSpec("a", "models:/x/1", "models:/x/1")}, "", nil, "listed twice"},
		{"negative weight", []RouteSpec{{Name: "a", Targets: []TargetSpec{{URI: "models:/x/1", Weight: -1}}}}, "", nil, "weight -1"},
		{"all weights zero", []RouteSpec{{Name: "a", Targets: []TargetSpec{{URI: "models:/x/1"}, {URI: "models:/y/1"}}}}, "", nil, "every target has weight 0"},
		{"sticky both", []RouteSpec{{Name: "a", Targets: []TargetSpec{{URI: "models:/x/1"}}, Sticky: &StickySpec{Header: "h", Column: "c"}}}, "", nil, "not both"},
		{"sticky neither", []RouteSpec{{Name: "a", Targets: []TargetSpec{{URI: "models:/x/1"}}, Sticky: &StickySpec{}}}, "", nil, "header or a column"},
		{"shadow without URI", []RouteSpec{{Name: "a", Targets: []TargetSpec{{URI: "models:/x/1"}}, Shadow: &ShadowSpec{Sample: 1}}}, "", nil, "shadow needs a model URI"},
		{"shadow sample", []RouteSpec{{Name: "a", Targets: []TargetSpec{{URI: "models:/x/1"}}, Shadow: &ShadowSpec{URI: "models:/y/1", Sample: 2}}}, "", nil, "sample 2"},
		{"default missing", good, "nope", nil, `default route "nope"`},
		{"deployment no route uses", good, "", served(map[string]Model{"models:/other/1": m}), "no route uses that model"},
		{"deployment without model", good, "", map[string]Deployment{"models:/churn@champion": {}}, "no model"},
	}
	for _, tt := range tests {
		if _, err := s.Compile(tt.specs, tt.def, tt.deps); err == nil || !strings.Contains(err.Error(), tt.errHas) {
			t.Errorf("%s: err %v; want one containing %q", tt.name, err, tt.errHas)
		}
	}
	if after := statusJSON(t, s); after != before {
		t.Errorf("status changed by rejected tables:\n%s\nwant\n%s", after, before)
	}
	if got := m.refs.Load(); got != refs {
		t.Errorf("model references %d after rejected tables; want %d", got, refs)
	}
}

// TestPublishReleasedModel publishes a Snapshot one of whose models is
// already gone: Publish fails, takes no reference on the others, and the
// live Snapshot keeps serving.
func TestPublishReleasedModel(t *testing.T) {
	s := newTestServer(t, Config{})
	live, gone := newFakeModel(t, 0.5), newFakeModel(t, 0.5)
	specs := []RouteSpec{routeSpec("a", "models:/a/1"), routeSpec("b", "models:/b/1")}
	publish(t, s, specs[:1], served(map[string]Model{"models:/a/1": live}))
	before, refs := statusJSON(t, s), live.refs.Load()
	gone.Release()
	snap, err := s.Compile(specs, "", served(map[string]Model{"models:/a/1": live, "models:/b/1": gone}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(snap); err == nil || !strings.Contains(err.Error(), "models:/b/1") {
		t.Errorf("publish with a released model: %v; want an error naming it", err)
	}
	if err := s.Publish(snap); err == nil {
		t.Error("a Snapshot was published twice")
	}
	if after := statusJSON(t, s); after != before || live.refs.Load() != refs {
		t.Errorf("failed publish changed the state:\n%s (refs %d)\nwant\n%s (refs %d)", after, live.refs.Load(), before, refs)
	}
}

// TestShadowAcrossPublishes keeps a route's comparison while it keeps its
// shadow model, starts a new one when the shadow changes, and lets Close
// release every model, queued shadow copies included.
func TestShadowAcrossPublishes(t *testing.T) {
	s, err := New(Config{ShadowQueue: 8})
	if err != nil {
		t.Fatal(err)
	}
	primary, shadow, other := newFakeModel(t, 0.5), newFakeModel(t, 0.5), newFakeModel(t, 0.5)
	shadow.entered, shadow.gate = make(chan struct{}, 16), make(chan struct{})
	spec := func(shadowURI string) []RouteSpec {
		r := routeSpec("churn", "models:/churn@champion")
		r.Shadow = &ShadowSpec{URI: shadowURI, Sample: 1}
		return []RouteSpec{r}
	}
	deps := served(map[string]Model{"models:/churn@champion": primary, "models:/churn@challenger": shadow, "models:/churn/3": other})
	only := func(uris ...string) map[string]Deployment {
		out := map[string]Deployment{}
		for _, u := range uris {
			out[u] = deps[u]
		}
		return out
	}
	publish(t, s, spec("models:/churn@challenger"), only("models:/churn@champion", "models:/churn@challenger"))
	for range 3 {
		s.Handler(newRequest("/invocations", oneRow))
	}
	<-shadow.entered // one copy runs, two wait in the queue
	sampled := func() int64 { return s.Status().Routes[0].Shadow.Sampled }
	if got := sampled(); got != 3 {
		t.Fatalf("sampled %d; want 3", got)
	}
	publish(t, s, spec("models:/churn@challenger"), only("models:/churn@champion", "models:/churn@challenger"))
	if got := sampled(); got != 3 {
		t.Errorf("sampled %d after a publish with the same shadow; want 3", got)
	}
	publish(t, s, spec("models:/churn/3"), only("models:/churn@champion", "models:/churn/3"))
	if got := sampled(); got != 0 {
		t.Errorf("sampled %d after the shadow changed; want a new comparison", got)
	}
	for _, m := range []*fakeModel{primary, shadow, other} {
		m.Release()
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	close(shadow.gate)
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return")
	}
	for name, m := range map[string]*fakeModel{"primary": primary, "shadow": shadow, "other": other} {
		if m.live() {
			t.Errorf("%s still has %d references after Close", name, m.refs.Load())
		}
	}
}
