package serve

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mlgate/mlgate/signature"
	"github.com/mlgate/mlgate/telemetry"
)

// RouteSpec configures one named route: the targets it splits traffic
// between.
type RouteSpec struct {
	// Name addresses the route as /routes/<name>/invocations. It must match
	// [A-Za-z0-9][A-Za-z0-9._-]*.
	Name string
	// Targets lists the model URIs the route serves. A route with one
	// target sends it all traffic.
	Targets []TargetSpec
	// Sticky, when set, keeps each cohort key on one target.
	Sticky *StickySpec
	// Shadow, when set, copies sampled requests to a shadow model.
	Shadow *ShadowSpec
	// NoOverride ignores the X-Model-Alias override header.
	NoOverride bool
	// Limits bounds the work of one request on this route; zero fields
	// take the server's.
	Limits Limits
}

// TargetSpec is one model URI of a route.
type TargetSpec struct {
	// URI is the models:/ URI, as the registry watcher knows it.
	URI string
	// Alias is the alias the URI addresses ("champion"), sent as
	// X-Model-Alias; empty when the URI addresses a version, stage or
	// logged model.
	Alias string
	// Weight is the target's share of traffic: any non-negative number,
	// relative to the others. Zero means 1 for a single-target route;
	// among several, a zero-weight target gets traffic only through the
	// override header.
	Weight float64
}

var routeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Swap records one change of the version a target URI serves.
type Swap struct {
	At          time.Time `json:"at"`
	FromVersion string    `json:"from_version,omitempty"`
	ToVersion   string    `json:"to_version"`
}

// maxSwapHistory is how many swaps a binding remembers for /admin/models.
const maxSwapHistory = 20

// binding holds the deployment currently serving one model URI. Every route
// target with that URI shares the binding, so a new version is published
// once. The binding owns one reference to its deployment's model.
type binding struct {
	uri     string
	cur     atomic.Pointer[deployment]
	history []Swap // guarded by Server.mu
}

// acquire returns the current deployment with a reference taken on its
// model, or false when nothing is published.
func (b *binding) acquire() (*deployment, bool) {
	for {
		d := b.cur.Load()
		if d == nil {
			return nil, false
		}
		if d.model.Acquire() {
			return d, true
		}
		if b.cur.Load() == d {
			return nil, false
		}
	}
}

// route is an immutable, compiled RouteSpec.
type route struct {
	name         string
	nameHdr      []byte
	targets      []target
	cum          []float64 // running sums of the weights
	total        float64
	salt         []byte // the route name, salting sticky hashes
	stickyHeader []byte
	stickyColumn string
	noOverride   bool
	aliasList    string
	shadow       *shadowRoute
	// limits bounds each request's work; zero fields are the model's
	// defaults.
	limits signature.Limits
	// rejectRec counts admission rejections on the route.
	rejectRec *telemetry.RequestRecorder
}

type target struct {
	b      *binding
	weight float64
	alias  string
	rec    atomic.Pointer[recorderFor]
}

// shadowRoute is a route's shadow model and its comparison so far.
type shadowRoute struct {
	b      *binding
	spec   ShadowSpec
	stats  *shadowStats
	sample float64
}

// table is the immutable set of routes a request sees; a config change
// builds a new table and swaps it in whole.
type table struct {
	routes map[string]*route
	def    *route
	specs  []RouteSpec
}

// SetRoutes replaces the route table. defaultRoute names the route that
// serves POST /invocations; empty means the first route. Targets whose URI
// was already served keep their deployment. It returns the URIs no route
// uses any more; their deployments are released.
func (s *Server) SetRoutes(specs []RouteSpec, defaultRoute string) (removed []string, err error) {
	if len(specs) == 0 {
		return nil, errors.New("routes: at least one route is needed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &table{routes: make(map[string]*route, len(specs)), specs: specs}
	used := map[string]bool{}
	bindingFor := func(uri string) *binding {
		used[uri] = true
		if b := s.bindings[uri]; b != nil {
			return b
		}
		if b := s.pending[uri]; b != nil {
			return b
		}
		b := &binding{uri: uri}
		s.pending[uri] = b
		return b
	}
	for i, spec := range specs {
		if !routeName.MatchString(spec.Name) {
			return nil, fmt.Errorf("routes[%d]: name %q must match %s", i, spec.Name, routeName)
		}
		if _, dup := t.routes[spec.Name]; dup {
			return nil, fmt.Errorf("routes[%d]: name %q is used twice", i, spec.Name)
		}
		if len(spec.Targets) == 0 {
			return nil, fmt.Errorf("route %s: no model", spec.Name)
		}
		if spec.Limits.MaxRows < 0 || spec.Limits.MaxElements < 0 {
			return nil, fmt.Errorf("route %s: limits must not be negative", spec.Name)
		}
		r := &route{name: spec.Name, nameHdr: []byte(spec.Name), salt: []byte(spec.Name), noOverride: spec.NoOverride,
			limits: s.routeLimits(spec.Limits)}
		if s.cfg.Instruments != nil {
			r.rejectRec = s.cfg.Instruments.NewRequestRecorder(spec.Name, "", "", "")
		}
		var aliases []string
		seen := map[string]bool{}
		for k, ts := range spec.Targets {
			if ts.URI == "" {
				return nil, fmt.Errorf("route %s target %d: empty model URI", spec.Name, k)
			}
			if seen[ts.URI] {
				return nil, fmt.Errorf("route %s: model %s is listed twice", spec.Name, ts.URI)
			}
			seen[ts.URI] = true
			if ts.Weight < 0 || math.IsNaN(ts.Weight) || math.IsInf(ts.Weight, 0) {
				return nil, fmt.Errorf("route %s target %s: weight %g must be a non-negative number", spec.Name, ts.URI, ts.Weight)
			}
			w := ts.Weight
			if w == 0 && len(spec.Targets) == 1 {
				w = 1
			}
			r.targets = append(r.targets, target{b: bindingFor(ts.URI), weight: w, alias: ts.Alias})
			if ts.Alias != "" {
				aliases = append(aliases, ts.Alias)
			}
		}
		r.cum, r.total = cumulative(r.targets)
		if r.total <= 0 {
			return nil, fmt.Errorf("route %s: every target has weight 0; give at least one a positive weight", spec.Name)
		}
		r.aliasList = strings.Join(aliases, ", ")
		if r.aliasList == "" {
			r.aliasList = "(none: no target addresses an alias)"
		}
		if st := spec.Sticky; st != nil {
			switch {
			case st.Header != "" && st.Column != "":
				return nil, fmt.Errorf("route %s: sticky takes a header or a column, not both", spec.Name)
			case st.Header != "":
				r.stickyHeader = []byte(st.Header)
			case st.Column != "":
				r.stickyColumn = st.Column
			default:
				return nil, fmt.Errorf("route %s: sticky needs a header or a column", spec.Name)
			}
		}
		if sh := spec.Shadow; sh != nil {
			if sh.URI == "" {
				return nil, fmt.Errorf("route %s: shadow needs a model URI", spec.Name)
			}
			if !(sh.Sample > 0 && sh.Sample <= 1) {
				return nil, fmt.Errorf("route %s: shadow sample %g must be in (0, 1]", spec.Name, sh.Sample)
			}
			stats := newShadowStats()
			if old := s.table.Load(); old != nil { // keep the comparison across reloads
				if or := old.routes[spec.Name]; or != nil && or.shadow != nil && or.shadow.spec.URI == sh.URI {
					stats = or.shadow.stats
				}
			}
			r.shadow = &shadowRoute{b: bindingFor(sh.URI), spec: *sh, stats: stats, sample: sh.Sample}
			if s.shadows == nil {
				s.shadows = newShadowPool(s, s.cfg.ShadowQueue, s.cfg.ShadowWorkers)
			}
		}
		t.routes[spec.Name] = r
		if (defaultRoute == "" && i == 0) || spec.Name == defaultRoute {
			t.def = r
		}
	}
	if t.def == nil {
		return nil, fmt.Errorf("default route %q: no route has that name", defaultRoute)
	}
	for uri, b := range s.bindings {
		if !used[uri] {
			removed = append(removed, uri)
			if d := b.cur.Swap(nil); d != nil {
				d.model.Release()
			}
			delete(s.bindings, uri)
		}
	}
	for uri := range used {
		if b := s.pending[uri]; b != nil {
			s.bindings[uri] = b
			delete(s.pending, uri)
		}
	}
	for uri, b := range s.pending { // published ahead, then not used
		if d := b.cur.Swap(nil); d != nil {
			d.model.Release()
		}
		delete(s.pending, uri)
	}
	s.table.Store(t)
	return removed, nil
}

// Publish makes m, with provenance p, the model that serves uri on every
// route target that names it. Publish takes its own reference on m; the
// caller keeps its own. The model it replaces is released once its
// in-flight requests finish. A URI no route uses yet may be published ahead
// of the SetRoutes that adds it, so that new routes start warm; SetRoutes
// drops it if no route uses it then.
func (s *Server) Publish(uri string, m Model, p Provenance) error {
	if !m.Acquire() {
		return fmt.Errorf("publish %s: model already released", uri)
	}
	s.mu.Lock()
	b := s.bindings[uri]
	if b == nil {
		b = s.pending[uri]
	}
	if b == nil {
		b = &binding{uri: uri}
		s.pending[uri] = b
	}
	now := time.Now()
	old := b.cur.Swap(newDeployment(m, p, now))
	sw := Swap{At: now, ToVersion: p.Version}
	if old != nil {
		sw.FromVersion = old.prov.Version
	}
	b.history = append(b.history, sw)
	if len(b.history) > maxSwapHistory {
		b.history = b.history[len(b.history)-maxSwapHistory:]
	}
	s.mu.Unlock()
	if old != nil {
		old.model.Release()
	}
	return nil
}

// Withdraw stops serving uri: requests for it get 503 until the next
// Publish. The withdrawn model is released once its in-flight requests
// finish.
func (s *Server) Withdraw(uri string) {
	s.mu.Lock()
	b := s.bindings[uri]
	if b == nil {
		b = s.pending[uri]
	}
	var old *deployment
	if b != nil {
		old = b.cur.Swap(nil)
	}
	s.mu.Unlock()
	if old != nil {
		old.model.Release()
	}
}

// URIs returns every model URI the current routes use.
func (s *Server) URIs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.bindings))
	for uri := range s.bindings {
		out = append(out, uri)
	}
	return out
}

// Close stops the shadow workers and the file checks and withdraws every
// model. The server must not serve afterwards.
func (s *Server) Close() {
	s.stopShadows()
	s.stopCheckingFiles()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range []map[string]*binding{s.bindings, s.pending} {
		for _, b := range m {
			if d := b.cur.Swap(nil); d != nil {
				d.model.Release()
			}
		}
	}
}

// Ready reports whether every target of every route with a positive weight
// has a model published, and the server is not draining.
func (s *Server) Ready() bool {
	t := s.table.Load()
	if t == nil || s.draining.Load() {
		return false
	}
	for _, r := range t.routes {
		for i := range r.targets {
			if tg := &r.targets[i]; tg.weight > 0 && tg.b.cur.Load() == nil {
				return false
			}
		}
	}
	return true
}
