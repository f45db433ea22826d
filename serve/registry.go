package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// RegistryRouteSpec lets requests address registered models that no route
// names, by name and alias (or version): POST
// /models/<name>@<alias>/invocations, /models/<name>/<version>/invocations
// and /models/<name>/invocations (DefaultAlias), and the Open Inference
// Protocol's /v2/models/<name>/versions/<alias or version>/infer. The
// first rule whose Allow matches a name and whose Deny does not decides;
// a name no rule allows gets 404 without a registry call.
type RegistryRouteSpec struct {
	// Allow and Deny are registered-model name patterns (path.Match
	// syntax: *, ?, [...]). Deny wins over Allow.
	Allow, Deny []string
	// Aliases are the aliases requests may address; Versions allows
	// version numbers.
	Aliases  []string
	Versions bool
	// DefaultAlias serves /models/<name>/invocations; empty: that path
	// names no model.
	DefaultAlias string
}

// ModelRef is a registered model a request addresses through a registry
// route: a name with an alias or a version number (never both).
type ModelRef struct {
	Name, Alias, Version string
}

// Key is the name of the route that serves r once loaded: name@alias or
// name/version.
func (r ModelRef) Key() string {
	if r.Alias != "" {
		return r.Name + "@" + r.Alias
	}
	return r.Name + "/" + r.Version
}

// URI is r's models:/ URI.
func (r ModelRef) URI() string { return "models:/" + r.Key() }

// OnDemand makes registered models servable when a registry route's request
// first addresses them. cmd/mlgate implements it.
type OnDemand interface {
	// Ensure returns once the live Snapshot has the on-demand route
	// ref.Key() (resolved, downloaded, loaded, warmed and published), or
	// fails. Concurrent calls for one ref share one load. When ctx ends
	// first it returns ErrColdStart, and the load goes on for the requests
	// that come later.
	Ensure(ctx context.Context, ref ModelRef) error
}

// Errors Ensure wraps to choose the response.
var (
	// ErrNotRegistered: the registry has no such model, alias or version
	// (404).
	ErrNotRegistered = errors.New("not registered")
	// ErrColdStart: the model is still loading (503 with Retry-After).
	ErrColdStart = errors.New("still loading")
	// ErrNoRoom: the memory budget cannot make room for the model now,
	// because what fills it is held by configured routes or by requests
	// (503 with Retry-After).
	ErrNoRoom = errors.New("no room in the memory budget")
)

var (
	// registeredName is the registered-model names a registry route
	// serves: a conservative subset of MLflow's, safe in a path, a
	// header and a registry query.
	registeredName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)
	// aliasName is MLflow's alias grammar.
	aliasName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	// versionNumber is a registry version number without leading zeros.
	versionNumber = regexp.MustCompile(`^[1-9][0-9]{0,9}$`)
	// onDemandName is the name of an on-demand route (ModelRef.Key).
	onDemandName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}(@[A-Za-z0-9_-]{1,255}|/[1-9][0-9]{0,9})$`)
)

// ValidateRegistryRoutes checks the rules' patterns and names.
func ValidateRegistryRoutes(rules []RegistryRouteSpec) error {
	for i, r := range rules {
		at := fmt.Sprintf("registry_routes[%d]", i)
		if len(r.Allow) == 0 {
			return fmt.Errorf("%s.allow: at least one name pattern is needed", at)
		}
		for _, p := range slices.Concat(r.Allow, r.Deny) {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return fmt.Errorf("%s: name pattern %q is not valid (path.Match syntax: *, ?, [...])", at, p)
			}
		}
		if len(r.Aliases) == 0 && !r.Versions {
			return fmt.Errorf("%s: give aliases, or versions: true; otherwise it serves nothing", at)
		}
		for _, a := range r.Aliases {
			if !aliasName.MatchString(a) {
				return fmt.Errorf("%s.aliases: %q is not an MLflow alias ([A-Za-z0-9_-]+)", at, a)
			}
		}
		if r.DefaultAlias != "" && !slices.Contains(r.Aliases, r.DefaultAlias) {
			return fmt.Errorf("%s.default_alias: %q is not among aliases %v", at, r.DefaultAlias, r.Aliases)
		}
	}
	return nil
}

// modelPath is what a registry-route path addresses, as parsed from the
// URL: at most one of alias and version is set.
type modelPath struct {
	name, alias, version []byte
}

// parseRegistryPath matches /models/<name>@<alias>/invocations,
// /models/<name>/<version>/invocations and /models/<name>/invocations. It
// checks the shape only; match checks the names.
func parseRegistryPath(p []byte) (modelPath, bool) {
	const prefix, suffix = "/models/", "/invocations"
	if len(p) <= len(prefix)+len(suffix) || string(p[:len(prefix)]) != prefix ||
		string(p[len(p)-len(suffix):]) != suffix {
		return modelPath{}, false
	}
	rest := p[len(prefix) : len(p)-len(suffix)]
	var mp modelPath
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		mp.name, mp.version = rest[:i], rest[i+1:]
		if bytes.IndexByte(mp.version, '/') >= 0 {
			return modelPath{}, false
		}
	} else if i := bytes.IndexByte(rest, '@'); i >= 0 {
		mp.name, mp.alias = rest[:i], rest[i+1:]
	} else {
		mp.name = rest
	}
	return mp, len(mp.name) > 0
}

// appendKey appends the on-demand route name mp addresses, with alias
// standing for a path without alias or version; it allocates nothing when
// dst has room.
func (mp modelPath) appendKey(dst []byte, alias string) []byte {
	dst = append(dst, mp.name...)
	switch {
	case mp.version != nil:
		dst = append(dst, '/')
		return append(dst, mp.version...)
	case mp.alias != nil:
		dst = append(dst, '@')
		return append(dst, mp.alias...)
	}
	if alias == "" {
		return dst
	}
	dst = append(dst, '@')
	return append(dst, alias...)
}

// registryRules are the compiled registry routes.
type registryRules []RegistryRouteSpec

// match returns the ModelRef mp addresses when a rule allows it, else a
// 404 that says why. It makes no registry call.
func (rules registryRules) match(mp modelPath) (ModelRef, error) {
	name := string(mp.name)
	if !registeredName.MatchString(name) {
		return ModelRef{}, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
			"model name %q: registry routes serve names that match %s", clip(name), registeredName)
	}
	rule := rules.rule(name)
	if rule == nil {
		return ModelRef{}, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
			"model %q is not served here: no registry route allows that name", name)
	}
	ref := ModelRef{Name: name}
	switch {
	case mp.version != nil:
		v := string(mp.version)
		if !rule.Versions {
			return ModelRef{}, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
				"model %s: versions are not addressable by number here; address an alias (%s)", name, aliasesOf(rule))
		}
		if !versionNumber.MatchString(v) {
			return ModelRef{}, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
				"model %s: version %q is not a version number", name, clip(v))
		}
		ref.Version = v
	case mp.alias != nil:
		a := string(mp.alias)
		if !slices.Contains(rule.Aliases, a) {
			return ModelRef{}, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
				"model %s: alias %q is not served here; the aliases are %s", name, clip(a), aliasesOf(rule))
		}
		ref.Alias = a
	default:
		if rule.DefaultAlias == "" {
			return ModelRef{}, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
				"model %s: name an alias (/models/%s@<alias>/invocations; the aliases are %s)", name, name, aliasesOf(rule))
		}
		ref.Alias = rule.DefaultAlias
	}
	return ref, nil
}

// rule returns the first rule that allows name (its Allow matches and its
// Deny does not), nil when none does.
func (rules registryRules) rule(name string) *RegistryRouteSpec {
	for i := range rules {
		if matchAny(rules[i].Allow, name) && !matchAny(rules[i].Deny, name) {
			return &rules[i]
		}
	}
	return nil
}

// defaultAlias is the alias a path without alias or version stands for,
// "" when no rule gives one.
func (rules registryRules) defaultAlias(name []byte) string {
	if r := rules.rule(string(name)); r != nil {
		return r.DefaultAlias
	}
	return ""
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func aliasesOf(r *RegistryRouteSpec) string {
	s := strings.Join(r.Aliases, ", ")
	if s == "" {
		s = "none"
	}
	if r.Versions {
		s += "; or a version number: /models/<name>/<version>/invocations"
	}
	return s
}

// clip bounds a user-given value quoted in an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// usage holds when each on-demand route was last requested, across
// Snapshots, for the owner's least-recently-used choice and idle check.
type usage struct {
	mu   sync.Mutex
	last map[string]*atomic.Int64 // unix nanoseconds
}

// of returns the clock of route key, new ones starting now.
func (u *usage) of(key string) *atomic.Int64 {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.last == nil {
		u.last = map[string]*atomic.Int64{}
	}
	c := u.last[key]
	if c == nil {
		c = new(atomic.Int64)
		c.Store(time.Now().UnixNano())
		u.last[key] = c
	}
	return c
}

// keep forgets the routes not in live.
func (u *usage) keep(live map[string]*route) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for k := range u.last {
		if r := live[k]; r == nil || !r.onDemand {
			delete(u.last, k)
		}
	}
}

// OnDemandRequests returns how many registry-route requests found their
// model loaded (hits) and how many waited for a load (misses).
func (s *Server) OnDemandRequests() (hits, misses int64) {
	return s.demandHits.Load(), s.demandMisses.Load()
}

// LastUsed returns when the on-demand route key was last requested (or
// published, before its first request); zero when there is none.
func (s *Server) LastUsed(key string) time.Time {
	s.usage.mu.Lock()
	defer s.usage.mu.Unlock()
	if c := s.usage.last[key]; c != nil {
		return time.Unix(0, c.Load())
	}
	return time.Time{}
}

// scoreRegistry serves a request that a registry route's path addresses,
// for proto (MLflow's scoring protocol, or the Open Inference Protocol's
// REST inference): from the on-demand route when it is loaded, else after
// the owner has loaded it, the request waiting up to the cold-start
// timeout. The request deadline starts once the model is there.
func (s *Server) scoreRegistry(ctx *fasthttp.RequestCtx, mp modelPath, v2 bool) {
	var buf [512]byte
	key := mp.appendKey(buf[:0], "")
	if mp.alias == nil && mp.version == nil {
		key = mp.appendKey(buf[:0], s.rules.defaultAlias(mp.name))
	}
	start := requestStart(ctx)
	snap := s.acquire()
	if snap != nil {
		if r := snap.routes[string(key)]; r != nil && r.onDemand {
			s.demandHits.Add(1)
			s.serveOnDemand(ctx, snap, r, start, v2)
			snap.release()
			return
		}
		snap.release()
	}
	fail := writeError
	if v2 {
		fail = writeInferError
	}
	ref, err := s.rules.match(mp)
	if err == nil {
		s.demandMisses.Add(1)
		err = s.ensure(ref)
	}
	if err != nil {
		fail(ctx, err, "")
		s.refused(ctx, s.unknownRec)
		return
	}
	if snap = s.acquire(); snap != nil {
		if r := snap.routes[ref.Key()]; r != nil && r.onDemand {
			s.serveOnDemand(ctx, snap, r, time.Now(), v2)
			snap.release()
			return
		}
		snap.release()
	}
	// Loaded, then evicted for another before this request could use it.
	fail(ctx, retryLater(errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
		"model %s was unloaded to make room for another before this request could use it; retry", ref.Key()), time.Second), "")
	s.refused(ctx, s.unknownRec)
}

// serveOnDemand serves a request on the on-demand route r of snap.
func (s *Server) serveOnDemand(ctx *fasthttp.RequestCtx, snap *Snapshot, r *route, start time.Time, v2 bool) {
	r.used.Store(start.UnixNano())
	if v2 {
		s.infer(ctx, snap, r, nil, start)
		return
	}
	s.invocations(ctx, snap, r, start)
}

// ensure has the owner load ref within the cold-start timeout, and turns
// its failure into the response's status. Like a route's 503 with no
// version serving, the answer never carries the loader's error, which
// names local paths and registry addresses: the logs and /admin/models
// (process.registry_routes.failures) do.
func (s *Server) ensure(ref ModelRef) error {
	od := s.cfg.OnDemand
	if od == nil {
		return errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail, "models are not loaded on demand here")
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ColdStartTimeout)
	defer cancel()
	err := od.Ensure(ctx, ref)
	outcome := "error"
	switch {
	case err == nil:
		outcome = "ok"
	case errors.Is(err, ErrColdStart):
		outcome = "timeout"
	}
	s.cfg.Instruments.RecordColdStart(ctx, time.Since(start), outcome)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrNotRegistered):
		return errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
			"model %s: the registry has no such registered model, alias or version", ref.Key())
	case errors.Is(err, ErrColdStart):
		return retryLater(errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
			"model %s: still loading after the cold-start timeout (%s); the load goes on", ref.Key(), s.cfg.ColdStartTimeout), s.cfg.ColdStartTimeout)
	case errors.Is(err, ErrNoRoom):
		return retryLater(errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
			"model %s: no room in the memory budget now (what fills it is held by configured routes or by requests)", ref.Key()), s.cfg.ColdStartTimeout)
	}
	return retryLater(errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
		"model %s cannot be served: its version failed to resolve, download or load; GET /admin/models says why", ref.Key()), s.cfg.ColdStartTimeout)
}

// retryLater makes e carry a Retry-After of about after.
func retryLater(e *httpError, after time.Duration) *httpError {
	e.retryAfter = strconv.Itoa(max(int(after.Round(time.Second)/time.Second), 1))
	return e
}
