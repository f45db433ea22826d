package serve

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/metadata"

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
	// NonFinite says how the route's responses write NaN and the
	// infinities; zero means null, which keeps every body RFC 8259 JSON.
	NonFinite signature.NonFinite
	// MissingValues says whether the route's required numeric columns
	// take null, NaN and the infinities; zero means they are refused.
	MissingValues signature.MissingValues
	// OnDemand marks a route a registry route loaded for a request: its
	// Name is a ModelRef's Key (name@alias or name/version), it has one
	// target, it is addressed only through the registry route's paths,
	// and it is never the default route.
	OnDemand bool
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

// route is an immutable, compiled RouteSpec, part of one Snapshot.
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
	// onDemand marks a registry route's model loaded on demand; used is
	// when it was last requested, shared by the Snapshots that have it.
	onDemand  bool
	used      *atomic.Int64
	aliasList string
	shadow    *shadowRoute
	// limits bounds each request's work, zero fields being the model's
	// defaults, and says whether it may hold missing values.
	limits signature.Limits
	// enc writes the route's responses.
	enc signature.Encoding
	// routeRec records the route's requests refused before a target was
	// chosen, and counts admission rejections; nil without instruments.
	// Taken when the Snapshot is published.
	routeRec *telemetry.RequestRecorder
	// metaTarget is the target whose Open Inference Protocol model
	// metadata the route reports: its first target with traffic and a
	// model; nil when none has one.
	metaTarget *target
	// grpcHeader is the gRPC response metadata naming the route.
	grpcHeader metadata.MD
}

// target is one model URI of a route and the deployment serving it in the
// route's Snapshot (nil: not loaded yet).
type target struct {
	uri    string
	d      *deployment
	weight float64
	alias  string
	// rec records the target's requests with d's version (none when d is
	// nil); nil without instruments. Taken when the Snapshot is
	// published.
	rec *telemetry.RequestRecorder
	// unserved is the answer while d is nil.
	unserved *unserved
	// metadata is the target's Open Inference Protocol model metadata,
	// and meta its JSON; nil without deployment.
	metadata *modelMetadata
	meta     []byte
	// grpcHeader is the gRPC response metadata of the target's answers:
	// x-route and the provenance headers, lower-cased.
	grpcHeader metadata.MD
}

// shadowRoute is a route's shadow model and its comparison so far.
type shadowRoute struct {
	uri    string
	d      *deployment // nil: not loaded yet
	spec   ShadowSpec
	stats  *shadowStats
	sample float64
}

// compileRoutes checks specs and builds their routes, without deployments;
// defaultRoute names the route that serves POST /invocations, empty for the
// first, and limits resolves a route's request limits.
func compileRoutes(specs []RouteSpec, defaultRoute string, limits func(Limits) signature.Limits, registry bool) (map[string]*route, *route, error) {
	configured := 0
	for _, spec := range specs {
		if !spec.OnDemand {
			configured++
		}
	}
	if configured == 0 && !registry {
		return nil, nil, errors.New("routes: at least one route is needed")
	}
	routes := make(map[string]*route, len(specs))
	var def *route
	for i, spec := range specs {
		switch {
		case spec.OnDemand && (!onDemandName.MatchString(spec.Name) || len(spec.Targets) != 1):
			return nil, nil, fmt.Errorf("on-demand route %q: the name must be <model>@<alias> or <model>/<version>, with one target", spec.Name)
		case !spec.OnDemand && !routeName.MatchString(spec.Name):
			return nil, nil, fmt.Errorf("routes[%d]: name %q must match %s", i, spec.Name, routeName)
		}
		if _, dup := routes[spec.Name]; dup {
			return nil, nil, fmt.Errorf("routes[%d]: name %q is used twice", i, spec.Name)
		}
		r, err := compileRoute(spec, limits)
		if err != nil {
			return nil, nil, err
		}
		r.onDemand = spec.OnDemand
		routes[spec.Name] = r
		if !spec.OnDemand && (def == nil && defaultRoute == "" || spec.Name == defaultRoute) {
			def = r
		}
	}
	if def == nil && (defaultRoute != "" || configured > 0) {
		return nil, nil, fmt.Errorf("default route %q: no route has that name", defaultRoute)
	}
	return routes, def, nil
}

// compileRoute checks one route's limits, targets, stickiness and shadow.
func compileRoute(spec RouteSpec, limits func(Limits) signature.Limits) (*route, error) {
	if len(spec.Targets) == 0 {
		return nil, fmt.Errorf("route %s: no model", spec.Name)
	}
	if spec.Limits.MaxRows < 0 || spec.Limits.MaxElements < 0 {
		return nil, fmt.Errorf("route %s: limits must not be negative", spec.Name)
	}
	r := &route{name: spec.Name, nameHdr: []byte(spec.Name), salt: []byte(spec.Name), noOverride: spec.NoOverride,
		limits: limits(spec.Limits), enc: signature.Encoding{NonFinite: spec.NonFinite}}
	r.limits.MissingValues = spec.MissingValues
	if err := r.compileTargets(spec); err != nil {
		return nil, err
	}
	if err := r.compileSticky(spec.Sticky); err != nil {
		return nil, err
	}
	if err := r.compileShadow(spec.Shadow); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *route) compileTargets(spec RouteSpec) error {
	var aliases []string
	seen := map[string]bool{}
	for k, ts := range spec.Targets {
		if ts.URI == "" {
			return fmt.Errorf("route %s target %d: empty model URI", spec.Name, k)
		}
		if seen[ts.URI] {
			return fmt.Errorf("route %s: model %s is listed twice", spec.Name, ts.URI)
		}
		seen[ts.URI] = true
		if ts.Weight < 0 || math.IsNaN(ts.Weight) || math.IsInf(ts.Weight, 0) {
			return fmt.Errorf("route %s target %s: weight %g must be a non-negative number", spec.Name, ts.URI, ts.Weight)
		}
		w := ts.Weight
		if w == 0 && len(spec.Targets) == 1 {
			w = 1
		}
		r.targets = append(r.targets, target{uri: ts.URI, weight: w, alias: ts.Alias})
		if ts.Alias != "" {
			aliases = append(aliases, ts.Alias)
		}
	}
	r.cum, r.total = cumulative(r.targets)
	if r.total <= 0 {
		return fmt.Errorf("route %s: every target has weight 0; give at least one a positive weight", spec.Name)
	}
	r.aliasList = strings.Join(aliases, ", ")
	if r.aliasList == "" {
		r.aliasList = "(none: no target addresses an alias)"
	}
	return nil
}

func (r *route) compileSticky(st *StickySpec) error {
	if st == nil {
		return nil
	}
	switch {
	case st.Header != "" && st.Column != "":
		return fmt.Errorf("route %s: sticky takes a header or a column, not both", r.name)
	case st.Header != "":
		r.stickyHeader = []byte(st.Header)
	case st.Column != "":
		r.stickyColumn = st.Column
	default:
		return fmt.Errorf("route %s: sticky needs a header or a column", r.name)
	}
	return nil
}

func (r *route) compileShadow(sh *ShadowSpec) error {
	if sh == nil {
		return nil
	}
	if sh.URI == "" {
		return fmt.Errorf("route %s: shadow needs a model URI", r.name)
	}
	if !(sh.Sample > 0 && sh.Sample <= 1) {
		return fmt.Errorf("route %s: shadow sample %g must be in (0, 1]", r.name, sh.Sample)
	}
	r.shadow = &shadowRoute{uri: sh.URI, spec: *sh, stats: newShadowStats(), sample: sh.Sample}
	return nil
}
