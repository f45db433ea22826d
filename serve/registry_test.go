package serve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
)

var testRules = registryRules{{Allow: []string{"churn-*", "fraud-*"}, Deny: []string{"*-experimental"},
	Aliases: []string{"champion", "challenger"}, Versions: true, DefaultAlias: "champion"}}

func TestRegistryPathAndRules(t *testing.T) {
	for _, c := range []struct {
		path string
		key  string // "" for a 404
		says string
	}{
		{"/models/churn-gbm@champion/invocations", "churn-gbm@champion", ""},
		{"/models/churn-gbm@challenger/invocations", "churn-gbm@challenger", ""},
		{"/models/churn-gbm/12/invocations", "churn-gbm/12", ""},
		{"/models/churn-gbm/invocations", "churn-gbm@champion", ""},
		{"/models/fraud-x.v2@champion/invocations", "fraud-x.v2@champion", ""},
		{"/models/churn-new-experimental@champion/invocations", "", "no registry route allows"},
		{"/models/credit@champion/invocations", "", "no registry route allows"},
		{"/models/churn-gbm@staging/invocations", "", "is not served here"},
		{"/models/churn-gbm/012/invocations", "", "not a version number"},
		{"/models/churn-gbm/latest/invocations", "", "not a version number"},
		{"/models/churn gbm@champion/invocations", "", "names that match"},
		{"/models/-churn@champion/invocations", "", "names that match"},
		{"/models/churn-gbm@champion@x/invocations", "", "is not served here"},
	} {
		mp, ok := parseRegistryPath([]byte(c.path))
		if !ok {
			t.Fatalf("%s: not a registry path", c.path)
		}
		ref, err := testRules.match(mp)
		switch {
		case c.key != "" && (err != nil || ref.Key() != c.key):
			t.Errorf("%s: %+v %v; want %s", c.path, ref, err, c.key)
		case c.key == "" && (err == nil || !strings.Contains(err.Error(), c.says)):
			t.Errorf("%s: %+v %v; want 404 saying %q", c.path, ref, err, c.says)
		}
	}
	for _, p := range []string{"/models//invocations", "/models/a/b/c/invocations", "/models/invocations", "/model/a@b/invocations", "/models/a@b/invocation"} {
		if mp, ok := parseRegistryPath([]byte(p)); ok {
			t.Errorf("%s parsed as %+v", p, mp)
		}
	}
}

func TestValidateRegistryRoutes(t *testing.T) {
	for _, c := range []struct {
		spec RegistryRouteSpec
		says string
	}{
		{RegistryRouteSpec{Aliases: []string{"champion"}}, "allow"},
		{RegistryRouteSpec{Allow: []string{"["}, Aliases: []string{"champion"}}, "not valid"},
		{RegistryRouteSpec{Allow: []string{"*"}}, "aliases, or versions"},
		{RegistryRouteSpec{Allow: []string{"*"}, Aliases: []string{"a b"}}, "not an MLflow alias"},
		{RegistryRouteSpec{Allow: []string{"*"}, Aliases: []string{"champion"}, DefaultAlias: "prod"}, "default_alias"},
	} {
		if err := ValidateRegistryRoutes([]RegistryRouteSpec{c.spec}); err == nil || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%+v: %v; want an error saying %q", c.spec, err, c.says)
		}
	}
	if err := ValidateRegistryRoutes(testRules); err != nil {
		t.Error(err)
	}
}

// FuzzRegistryPath: whatever the path, parsing and matching never panic,
// and what a rule allows is a name, alias or version safe to put in a
// models:/ URI, a registry query and a header: the route key's grammar.
func FuzzRegistryPath(f *testing.F) {
	for _, s := range []string{"/models/churn-gbm@champion/invocations", "/models/churn-gbm/3/invocations",
		"/models/churn-gbm/invocations", "/models/churn-%2e%2e/invocations", "/models/a@b@c/invocations", "/models/\x00@champion/invocations"} {
		f.Add(s)
	}
	rules := registryRules{{Allow: []string{"*"}, Aliases: []string{"champion", "challenger"}, Versions: true, DefaultAlias: "champion"}}
	f.Fuzz(func(t *testing.T, path string) {
		mp, ok := parseRegistryPath([]byte(path))
		if !ok {
			return
		}
		ref, err := rules.match(mp)
		if err != nil {
			return
		}
		if !onDemandName.MatchString(ref.Key()) {
			t.Fatalf("%q allowed as %q, outside the route key grammar", path, ref.Key())
		}
		if strings.ContainsAny(ref.URI(), "?#&%\\ \r\n\x00") {
			t.Fatalf("%q gives the URI %q", path, ref.URI())
		}
		var buf [512]byte
		if got := string(mp.appendKey(buf[:0], rules.defaultAlias(mp.name))); got != ref.Key() {
			t.Fatalf("%q: hot-path key %q, matched key %q", path, got, ref.Key())
		}
	})
}

// TestRegistryRouteAllocations: a request to a registry route's model
// that is loaded allocates nothing, addressed by alias or through the
// default alias, as on a configured route.
func TestRegistryRouteAllocations(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	s, err := New(Config{RegistryRoutes: testRules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	publish(t, s, []RouteSpec{{Name: "churn-gbm@champion", OnDemand: true, Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}},
		served(map[string]Model{champion: m}))
	ctx := requestCtx()
	for _, path := range []string{"/models/churn-gbm@champion/invocations", "/models/churn-gbm/invocations"} {
		step := func() {
			setRequest(ctx, path, "application/json", benchRow)
			ctx.Response.Reset()
			s.Handler(ctx)
			if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek(HeaderRoute)) != "churn-gbm@champion" {
				t.Fatalf("%s: status %d %s", path, ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		step()
		if n := testing.AllocsPerRun(200, step); n != 0 {
			t.Errorf("%s: %v allocations per request; want 0", path, n)
		}
	}
	if hits, misses := s.OnDemandRequests(); hits == 0 || misses != 0 {
		t.Errorf("hits %d, misses %d; want only hits", hits, misses)
	}
}

// blockingOnDemand publishes a model's route when release is closed, and
// answers what fail says for other names.
type blockingOnDemand struct {
	s       *Server
	m       Model
	release chan struct{}
	calls   chan ModelRef
	fail    map[string]error
}

func (o *blockingOnDemand) Ensure(ctx context.Context, ref ModelRef) error {
	o.calls <- ref
	if err := o.fail[ref.Name]; err != nil {
		return err
	}
	select {
	case <-o.release: // released before this call: it loads whatever ctx says
	default:
		select {
		case <-o.release:
		case <-ctx.Done():
			return fmt.Errorf("%w: waited %v", ErrColdStart, context.Cause(ctx))
		}
	}
	snap, err := o.s.Compile([]RouteSpec{{Name: ref.Key(), OnDemand: true, Targets: []TargetSpec{{URI: ref.URI(), Alias: ref.Alias}}}},
		"", map[string]Deployment{ref.URI(): {Model: o.m, Provenance: v1Provenance}})
	if err != nil {
		return err
	}
	return o.s.Publish(snap)
}

// TestRegistryRouteColdStart: a first request waits for its model at most
// the cold-start timeout, then gets 503 with Retry-After; once loaded the
// model answers; a name the registry does not have gets 404, and a model
// that cannot be served 503 naming why.
func TestRegistryRouteColdStart(t *testing.T) {
	od := &blockingOnDemand{release: make(chan struct{}), calls: make(chan ModelRef, 8), fail: map[string]error{
		"churn-missing": fmt.Errorf("%w: RESOURCE_DOES_NOT_EXIST", ErrNotRegistered),
		"churn-sk":      errors.New("model has no onnx flavor"),
	}}
	s, err := New(Config{RegistryRoutes: testRules, OnDemand: od, ColdStartTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	od.s, od.m = s, loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	ctx := requestCtx()
	do := func(path string) (int, string, string) {
		setRequest(ctx, path, "application/json", benchRow)
		ctx.Response.Reset()
		s.Handler(ctx)
		return ctx.Response.StatusCode(), string(ctx.Response.Header.Peek("Retry-After")), string(ctx.Response.Body())
	}
	if status, after, body := do("/models/churn-gbm@champion/invocations"); status != 503 || after == "" || !strings.Contains(body, "still loading") {
		t.Fatalf("cold start past the timeout: %d Retry-After %q %s; want 503 with Retry-After", status, after, body)
	}
	if ref := <-od.calls; ref != (ModelRef{Name: "churn-gbm", Alias: "champion"}) {
		t.Fatalf("Ensure(%+v)", ref)
	}
	close(od.release)
	if status, _, body := do("/models/churn-gbm@champion/invocations"); status != 200 {
		t.Fatalf("after the load: %d %s", status, body)
	}
	if routes := s.Feed(0).Routes; len(routes) != 1 || routes[0].Name != "churn-gbm@champion" || !routes[0].OnDemand {
		t.Errorf("status feed routes %+v; want churn-gbm@champion marked on demand", routes)
	}
	if st := s.Status(); len(st.Routes) != 1 || !st.Routes[0].OnDemand || st.Routes[0].LastUsed.IsZero() || st.DefaultRoute != "" {
		t.Errorf("/admin/models %+v; want the on-demand route with last_used and no default route", st)
	}
	if status, _, body := do("/models/churn-missing@champion/invocations"); status != 404 || !strings.Contains(body, "RESOURCE_DOES_NOT_EXIST") ||
		strings.Contains(body, "RESOURCE_DOES_NOT_EXIST:") {
		t.Fatalf("not registered: %d %s; want 404", status, body)
	}
	// The loader's error names local paths and registry addresses: it goes
	// to the logs and /admin/models, not to the client.
	if status, after, body := do("/models/churn-sk@champion/invocations"); status != 503 || after == "" ||
		!strings.Contains(body, "churn-sk@champion cannot be served") || strings.Contains(body, "no onnx flavor") {
		t.Fatalf("cannot be served: %d %q %s; want 503 saying so, without the loader's error", status, after, body)
	}
	// V2 inference reaches the same model.
	setRequest(ctx, "/v2/models/churn-gbm/versions/champion/infer", "application/json",
		`{"inputs":[{"name":"tenure","shape":[1],"datatype":"INT64","data":[37]},{"name":"monthly_charges","shape":[1],"datatype":"FP64","data":[36.0]},`+
			`{"name":"total_charges","shape":[1],"datatype":"FP64","data":[1306.52]},{"name":"contract_months","shape":[1],"datatype":"INT64","data":[1]}]}`)
	ctx.Response.Reset()
	s.Handler(ctx)
	if ctx.Response.StatusCode() != 200 || string(ctx.Response.Header.Peek(HeaderRoute)) != "churn-gbm@champion" {
		t.Fatalf("V2: %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
	}
}
