package serve

import (
	"errors"
	"fmt"
	"regexp"
	"sync/atomic"
	"time"
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
}

// TargetSpec is one model URI of a route.
type TargetSpec struct {
	// URI is the models:/ URI, as the registry watcher knows it.
	URI string
	// Alias is the alias the URI addresses ("champion"), sent as
	// X-Model-Alias; empty when the URI addresses a version, stage or
	// logged model.
	Alias string
	// Weight is the target's share of traffic. Zero means 1 for a
	// single-target route.
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
	name    string
	nameHdr []byte
	targets []target
}

type target struct {
	b      *binding
	weight float64
}

// table is the immutable set of routes a request sees; a config change
// builds a new table and swaps it in whole.
type table struct {
	routes map[string]*route
	def    *route
	specs  []RouteSpec
}

// pick chooses the target that serves this request.
func (r *route) pick() *target {
	return &r.targets[0]
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
		r := &route{name: spec.Name, nameHdr: []byte(spec.Name)}
		for k, ts := range spec.Targets {
			if ts.URI == "" {
				return nil, fmt.Errorf("route %s target %d: empty model URI", spec.Name, k)
			}
			if ts.Weight < 0 {
				return nil, fmt.Errorf("route %s target %s: weight %g is negative", spec.Name, ts.URI, ts.Weight)
			}
			b := s.bindings[ts.URI]
			if b == nil {
				b = &binding{uri: ts.URI}
			}
			used[ts.URI] = true
			w := ts.Weight
			if w == 0 && len(spec.Targets) == 1 {
				w = 1
			}
			r.targets = append(r.targets, target{b: b, weight: w})
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
	for _, r := range t.routes {
		for _, tg := range r.targets {
			s.bindings[tg.b.uri] = tg.b
		}
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
		b = &binding{uri: uri}
		s.bindings[uri] = b
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

// Close withdraws every model. The server must not serve afterwards.
func (s *Server) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.bindings {
		if d := b.cur.Swap(nil); d != nil {
			d.model.Release()
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
		for _, tg := range r.targets {
			if tg.weight > 0 && tg.b.cur.Load() == nil {
				return false
			}
		}
	}
	return true
}
