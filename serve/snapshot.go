package serve

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mlgate/mlgate/telemetry"
)

// Deployment is the loaded model version that serves one model URI, as a
// caller hands it to Compile.
type Deployment struct {
	// Model serves the URI. It must be comparable (a pointer): Publish
	// tells an unchanged deployment from a new one by Model and
	// Provenance. It may be nil when no version of the URI serves: its
	// requests get 503 naming Standing.
	Model Model
	// Provenance is sent as response headers with every answer.
	Provenance Provenance
	// Standing says why Model is not the version the registry names for
	// the URI, sent as response headers too; zero when it is. It must be
	// set when Model is nil.
	Standing Standing
}

// Swap records one change of the version a target URI serves.
type Swap struct {
	At          time.Time `json:"at"`
	FromVersion string    `json:"from_version,omitempty"`
	ToVersion   string    `json:"to_version"`
}

// maxSwapHistory is how many swaps /admin/models remembers per URI.
const maxSwapHistory = 20

// Snapshot is one complete, immutable serving state: the route table, the
// default route, and the deployment serving each model URI the routes use
// (a URI may have none yet; its requests get 503). Compile builds and
// checks one off the hot path; Publish makes it live in one atomic swap.
//
// A published Snapshot holds one reference on the model of each of its
// deployments. A scoring request holds the Snapshot it started with until
// its response is ready; when a Snapshot has been superseded and its last
// request has ended, it releases its models.
type Snapshot struct {
	routes map[string]*route
	def    *route
	specs  []RouteSpec
	// deployments maps every URI the routes use to the deployment serving
	// it, nil when none does.
	deployments map[string]*deployment
	// standings holds each URI's Standing, absent when zero.
	standings map[string]Standing

	// refs is 1 while the Snapshot is live, plus one per request or
	// shadow copy using it.
	refs      atomic.Int64
	published atomic.Bool
	// server published the Snapshot; its timeline gets the retirements.
	server *Server
}

// Compile checks specs and builds the Snapshot that serves them with
// deployments (by model URI). defaultRoute names the route that serves POST
// /invocations; empty means the first route. Every deployment must serve a
// URI some route uses. Compile changes nothing: the Snapshot serves only
// once published, and a Snapshot never published needs no cleanup.
func (s *Server) Compile(specs []RouteSpec, defaultRoute string, deployments map[string]Deployment) (*Snapshot, error) {
	routes, def, err := compileRoutes(specs, defaultRoute, s.routeLimits, len(s.rules) > 0)
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.onDemand {
			r.used = s.usage.of(r.name)
		}
	}
	snap := &Snapshot{routes: routes, def: def, specs: specs, deployments: map[string]*deployment{}, standings: map[string]Standing{}}
	if err := snap.bind(deployments, s.tags); err != nil {
		return nil, err
	}
	snap.prepareMetadata()
	snap.prepareGRPC()
	return snap, nil
}

// bind gives every target and shadow the deployment serving its URI (one
// shared deployment per URI), with tags exposed as headers, and checks that
// each deployment serves a URI a route uses.
func (snap *Snapshot) bind(deployments map[string]Deployment, tags []tagHeader) error {
	for uri, d := range deployments {
		if d.Model == nil && d.Standing.Status == "" {
			return fmt.Errorf("deployment of %s: no model, and no standing to say why", uri)
		}
		if d.Standing.Status != "" {
			snap.standings[uri] = d.Standing
		}
	}
	for _, spec := range snap.specs {
		r := snap.routes[spec.Name]
		for i := range r.targets {
			tg := &r.targets[i]
			if tg.d = snap.deploymentOf(tg.uri, deployments, tags); tg.d == nil {
				tg.unserved = newUnserved(r.name, tg.uri, snap.standings[tg.uri])
			}
		}
		if sh := r.shadow; sh != nil {
			sh.d = snap.deploymentOf(sh.uri, deployments, tags)
		}
	}
	for uri := range deployments {
		if _, used := snap.deployments[uri]; !used {
			return fmt.Errorf("deployment of %s: no route uses that model", uri)
		}
	}
	return nil
}

func (snap *Snapshot) deploymentOf(uri string, deployments map[string]Deployment, tags []tagHeader) *deployment {
	if d, ok := snap.deployments[uri]; ok {
		return d
	}
	var d *deployment
	if dep, ok := deployments[uri]; ok && dep.Model != nil {
		d = newDeployment(dep.Model, dep.Provenance, dep.Standing, tags)
	}
	snap.deployments[uri] = d
	return d
}

// takeRecorders takes each route's recorder (requests refused before a
// target was chosen) and each target's, whose attributes name the route,
// target and version, so that requests only look them up. The Snapshot
// holds them until it retires; a version's series leave /metrics when the
// last Snapshot serving it retires.
func (snap *Snapshot) takeRecorders(ins *telemetry.Instruments) {
	if ins == nil {
		return
	}
	for _, r := range snap.routes {
		r.routeRec = ins.NewRequestRecorder(r.name, "", "", "")
		for i := range r.targets {
			tg := &r.targets[i]
			name := targetName(tg)
			var model, version string
			if tg.d != nil {
				model, version = tg.d.prov.Name, tg.d.prov.Version
			}
			tg.rec = ins.NewRequestRecorder(r.name, name, model, version)
		}
	}
}

// targetName is a target's name in metrics: its alias, else its URI.
func targetName(tg *target) string {
	if tg.alias != "" {
		return tg.alias
	}
	return tg.uri
}

// releaseRecorders gives back what takeRecorders took.
func (snap *Snapshot) releaseRecorders() {
	for _, r := range snap.routes {
		if r.routeRec == nil {
			continue
		}
		r.routeRec.Release()
		for i := range r.targets {
			r.targets[i].rec.Release()
		}
	}
}

// hasShadow reports whether a route copies requests to a shadow model.
func (snap *Snapshot) hasShadow() bool {
	for _, r := range snap.routes {
		if r.shadow != nil {
			return true
		}
	}
	return false
}

// hold takes the Snapshot's reference on each deployment's model, or none
// when one of them has already been released.
func (snap *Snapshot) hold() error {
	var held []*deployment
	for uri, d := range snap.deployments {
		if d == nil {
			continue
		}
		if !d.model.Acquire() {
			for _, h := range held {
				h.model.Release()
			}
			return fmt.Errorf("publish %s: model already released", uri)
		}
		held = append(held, d)
	}
	return nil
}

// acquire takes a reference for a request; false means the Snapshot has
// been retired.
func (snap *Snapshot) acquire() bool {
	for {
		n := snap.refs.Load()
		if n <= 0 {
			return false
		}
		if snap.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// share takes another reference for a caller that already holds one.
func (snap *Snapshot) share() { snap.refs.Add(1) }

// release gives a reference back; the last one retires the Snapshot.
func (snap *Snapshot) release() {
	switch n := snap.refs.Add(-1); {
	case n == 0:
		snap.retire()
	case n < 0:
		panic("serve: Snapshot released more often than acquired")
	}
}

// retire releases the models and recorders the Snapshot held, and records
// as retired the versions the live Snapshot does not serve.
func (snap *Snapshot) retire() {
	if snap.server != nil {
		snap.server.retired(snap)
	}
	for _, d := range snap.deployments {
		if d != nil {
			d.model.Release()
		}
	}
	snap.releaseRecorders()
}

// retired records in the timeline the versions old served that the live
// Snapshot does not: their last serving state has finished its last
// request.
func (s *Server) retired(old *Snapshot) {
	live := map[Model]bool{}
	if cur := s.live.Load(); cur != nil && cur != old {
		for _, d := range cur.deployments {
			if d != nil {
				live[d.model] = true
			}
		}
	}
	for _, uri := range sortedURIs(old.deployments) {
		d := old.deployments[uri]
		if d == nil || live[d.model] {
			continue
		}
		s.RecordEvent(Event{Kind: EventRetire, URI: uri, Version: d.prov.Version,
			Reason: "no longer served: the last serving state holding it finished its last request"})
	}
}

// acquire returns the live Snapshot with a reference taken, or nil when
// none is published.
func (s *Server) acquire() *Snapshot {
	for {
		snap := s.live.Load()
		if snap == nil || snap.acquire() {
			return snap
		}
		// Retired between the load and the acquire: a newer one is live.
	}
}

// Publish makes next the live Snapshot in one atomic swap: requests that
// start afterwards see only next, requests already running finish with the
// Snapshot they started with, which then releases its models. next takes
// its reference on each of its models. A deployment serving the same model
// and provenance as in the Snapshot it replaces keeps its start time and
// is not a swap; a route keeping its shadow model keeps the comparison so
// far. A Snapshot is published at most once; when Publish fails, the live
// Snapshot is unchanged.
func (s *Server) Publish(next *Snapshot) error { return s.PublishBecause(next, "") }

// PublishBecause is Publish, saying why: the timeline records each URI
// whose version changed (EventSwap) or that no longer has one
// (EventWithdraw) with why as the reason, in order before the
// retirements the swap causes.
func (s *Server) PublishBecause(next *Snapshot, why string) error {
	if !next.published.CompareAndSwap(false, true) {
		return errors.New("publish: snapshot already published")
	}
	if err := next.hold(); err != nil {
		return err
	}
	next.takeRecorders(s.cfg.Instruments)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		next.retire()
		return errors.New("publish: server closed")
	}
	cur := s.live.Load()
	s.carryOver(cur, next, time.Now(), why)
	if next.hasShadow() && s.shadows == nil {
		s.shadows = newShadowPool(s, s.cfg.ShadowQueue, s.cfg.ShadowWorkers)
	}
	next.refs.Store(1)
	next.server = s
	s.live.Store(next)
	s.usage.keep(next.routes)
	s.mu.Unlock()
	s.reportHealth()
	if cur != nil {
		cur.release()
	}
	return nil
}

// carryOver makes next continue what cur started: a deployment serving the
// same version keeps its start time, a URI whose version changed gets a
// Swap in its history, a route keeping its shadow model keeps its
// comparison, and the history of URIs no route uses any more is forgotten.
// The timeline gets the swaps and withdrawals, for reason why. Called with
// s.mu held, before next is live.
func (s *Server) carryOver(cur, next *Snapshot, at time.Time, why string) {
	for _, uri := range sortedURIs(next.deployments) {
		d := next.deployments[uri]
		if d == nil {
			continue
		}
		var old *deployment
		if cur != nil {
			old = cur.deployments[uri]
		}
		if old != nil && old.model == d.model && old.prov.same(d.prov) {
			d.since = old.since
			continue
		}
		d.since = at
		sw := Swap{At: at, ToVersion: d.prov.Version}
		if old != nil {
			sw.FromVersion = old.prov.Version
		}
		s.RecordEvent(Event{At: at, Kind: EventSwap, URI: uri, Version: sw.ToVersion, FromVersion: sw.FromVersion, Reason: why})
		h := append(s.history[uri], sw)
		if len(h) > maxSwapHistory {
			h = h[len(h)-maxSwapHistory:]
		}
		s.history[uri] = h
	}
	for uri := range s.history {
		if _, used := next.deployments[uri]; !used {
			delete(s.history, uri)
		}
	}
	if cur == nil {
		return
	}
	for _, uri := range sortedURIs(cur.deployments) {
		old := cur.deployments[uri]
		if old == nil || next.deployments[uri] != nil {
			continue
		}
		reason := why
		if _, used := next.deployments[uri]; !used {
			reason = "no route uses it any more (" + why + ")"
		}
		s.RecordEvent(Event{At: at, Kind: EventWithdraw, URI: uri, FromVersion: old.prov.Version, Reason: reason})
	}
	for name, r := range next.routes {
		if r.shadow == nil {
			continue
		}
		if or := cur.routes[name]; or != nil && or.shadow != nil && or.shadow.uri == r.shadow.uri {
			r.shadow.stats = or.shadow.stats
		}
	}
}

// Close stops the shadow workers and the file checks and retires the live
// Snapshot; its models are released once in-flight requests finish. The
// server must not serve afterwards, and Publish fails.
func (s *Server) Close() {
	s.grpc.Stop()
	s.stopShadows()
	s.stopCheckingFiles()
	s.mu.Lock()
	s.closed = true
	cur := s.live.Swap(nil)
	s.mu.Unlock()
	if cur != nil {
		cur.release()
	}
}

// Ready reports whether every target of every route with a positive weight
// has a model or has been given up on (its Standing is gave-up: it will
// not load until the registry names another version), and the server is
// not draining.
func (s *Server) Ready() bool {
	snap := s.live.Load()
	if snap == nil || s.draining.Load() {
		return false
	}
	for _, r := range snap.routes {
		if !r.onDemand && !r.ready() { // models loaded on demand do not decide readiness
			return false
		}
	}
	return true
}

func sortedURIs(deps map[string]*deployment) []string {
	uris := make([]string, 0, len(deps))
	for uri := range deps {
		uris = append(uris, uri)
	}
	sort.Strings(uris)
	return uris
}

// configuredNames returns the names of the Snapshot's configured routes
// (not those loaded on demand), sorted; none for a nil Snapshot.
func (snap *Snapshot) configuredNames() []string {
	if snap == nil {
		return nil
	}
	names := make([]string, 0, len(snap.routes))
	for name, r := range snap.routes {
		if !r.onDemand {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// routeList names the Snapshot's configured routes, sorted and quoted.
func (snap *Snapshot) routeList() string {
	names := snap.configuredNames()
	for i, n := range names {
		names[i] = strconv.Quote(n)
	}
	return strings.Join(names, ", ")
}
