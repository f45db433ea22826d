package serve

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"
)

// Operator is what the admin and webhook endpoints need from the rest of
// mlgate: the registry-following state, and the actions an operator or
// MLflow can trigger. cmd/mlgate implements it. Errors wrap the sentinels
// below to choose the HTTP status.
type Operator interface {
	// Follow returns how the registry is being followed for a model URI.
	Follow(uri string) (FollowStatus, bool)
	// Refresh re-resolves every model URI now and waits for the result.
	Refresh(ctx context.Context) error
	// Reload re-reads the configuration and swaps in its routes, or
	// rejects it and keeps the current ones.
	Reload(ctx context.Context) error
	// Webhook verifies an MLflow webhook delivery and triggers a re-check
	// of the models it names. id, timestamp and signature are the
	// X-MLflow-Delivery-Id, X-MLflow-Timestamp and X-MLflow-Signature
	// headers.
	Webhook(id, timestamp, signature string, body []byte) error
	// Process returns process-wide facts for /admin/models (loaded
	// sessions, cache use).
	Process() map[string]any
	// Loaded lists the model versions loaded in memory, for the status
	// page.
	Loaded() []LoadedModel
}

// Operator errors, for the status of admin and webhook responses.
var (
	ErrDisabled     = errors.New("disabled")     // 404
	ErrUnauthorized = errors.New("unauthorized") // 401
	ErrConflict     = errors.New("conflict")     // 409
	ErrInvalid      = errors.New("invalid")      // 400
	ErrUnavailable  = errors.New("unavailable")  // 503
)

// FollowStatus is how the registry is being followed for one model URI.
type FollowStatus struct {
	LastCheck        time.Time `json:"last_check,omitzero"`
	LastSuccess      time.Time `json:"last_success,omitzero"`
	StalenessSeconds float64   `json:"staleness_seconds"`
	Stale            bool      `json:"stale"`
	Missing          bool      `json:"missing"`
	Withdrawn        bool      `json:"withdrawn"`
	FromCache        bool      `json:"from_cache"`
	LastError        string    `json:"last_error,omitempty"`
	LastErrorAt      time.Time `json:"last_error_at,omitzero"`
	PendingVersion   string    `json:"pending_version,omitempty"`
	PendingFailures  int       `json:"pending_failures,omitempty"`
	GaveUp           bool      `json:"gave_up,omitempty"`
	Checks           int64     `json:"checks"`
	Failures         int64     `json:"failures"`
}

// ModelsStatus is the body of GET /admin/models.
type ModelsStatus struct {
	Ready        bool            `json:"ready"`
	Draining     bool            `json:"draining"`
	Admission    AdmissionStatus `json:"admission"`
	DefaultRoute string          `json:"default_route"`
	Routes       []RouteStatus   `json:"routes"`
	Process      map[string]any  `json:"process,omitempty"`
}

// RouteStatus describes one route.
type RouteStatus struct {
	Name     string      `json:"name"`
	Sticky   *StickySpec `json:"sticky,omitempty"`
	Override bool        `json:"override"`
	// JSONNonFinite and MissingValues are the route's rules for
	// non-finite numbers in responses and requests.
	JSONNonFinite string         `json:"json_non_finite"`
	MissingValues string         `json:"missing_values"`
	Targets       []TargetStatus `json:"targets"`
	Shadow        *ShadowStatus  `json:"shadow,omitempty"`
	// OnDemand marks a registered model a registry route loaded for a
	// request; LastUsed is when it was last requested.
	OnDemand bool      `json:"on_demand,omitempty"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// TargetStatus describes one target of a route: which version it serves,
// since when, how fresh that answer is, and its recent swaps.
type TargetStatus struct {
	URI     string       `json:"uri"`
	Alias   string       `json:"alias,omitempty"`
	Weight  float64      `json:"weight"`
	Serving *ServingInfo `json:"serving"`
	// ServingStatus is ServingCurrent when the version serving is the
	// one the registry names, ServingNotLoaded before a first version,
	// else why not (Standing.Status), as the X-Model-Serving-Status
	// header says. RegistryVersion is the version the registry names,
	// when known; Reason says why it is not serving.
	ServingStatus   string `json:"serving_status"`
	RegistryVersion string `json:"registry_version,omitempty"`
	Reason          string `json:"reason,omitempty"`
	Model           any    `json:"model,omitempty"`
	// Limits are the max_rows and max_elements of a request to the
	// serving version, defaults resolved.
	Limits *Limits       `json:"limits,omitempty"`
	Follow *FollowStatus `json:"registry,omitempty"`
	Swaps  []Swap        `json:"swaps"`
}

// ServingInfo is the provenance of the version serving a target.
type ServingInfo struct {
	Provenance
	LoadedSince time.Time `json:"loaded_since"`
}

// Status returns the state of every route and target of the live
// Snapshot.
func (s *Server) Status() ModelsStatus {
	st := ModelsStatus{Ready: s.Ready(), Draining: s.draining.Load(), Admission: s.admissionStatus()}
	snap := s.acquire()
	if snap == nil {
		return st
	}
	defer snap.release()
	if snap.def != nil {
		st.DefaultRoute = snap.def.name
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, spec := range snap.specs {
		r := snap.routes[spec.Name]
		rs := RouteStatus{Name: r.name, Sticky: spec.Sticky, Override: !r.noOverride,
			JSONNonFinite: r.enc.NonFinite.String(), MissingValues: r.limits.MissingValues.String(), OnDemand: r.onDemand}
		if r.used != nil {
			rs.LastUsed = time.Unix(0, r.used.Load())
		}
		for i := range r.targets {
			tg := &r.targets[i]
			ts := TargetStatus{URI: tg.uri, Alias: spec.Targets[i].Alias, Weight: tg.weight, Swaps: append([]Swap{}, s.history[tg.uri]...)}
			if d := tg.d; d != nil {
				ts.Serving = &ServingInfo{Provenance: d.prov, LoadedSince: d.since}
				lim := d.model.Plan().Limits(r.limits)
				ts.Limits = &Limits{MaxRows: lim.MaxRows, MaxElements: lim.MaxElements}
				if in, ok := d.model.(interface{ Describe() any }); ok {
					ts.Model = in.Describe()
				}
			}
			ts.ServingStatus, ts.RegistryVersion, ts.Reason = servingStatus(snap.standings[tg.uri], tg.d)
			if s.cfg.Operator != nil {
				if f, ok := s.cfg.Operator.Follow(tg.uri); ok {
					f.Stale = f.Stale || ts.ServingStatus != ServingCurrent
					ts.Follow = &f
				}
			}
			rs.Targets = append(rs.Targets, ts)
		}
		if sh := r.shadow; sh != nil {
			ss := sh.stats.status()
			ss.URI, ss.Alias, ss.Sample = sh.spec.URI, sh.spec.Alias, sh.sample
			if d := sh.d; d != nil {
				p := d.prov
				ss.Serving = &p
			}
			rs.Shadow = &ss
		}
		st.Routes = append(st.Routes, rs)
	}
	return st
}

// servingStatus returns what /admin/models says of a target served by d
// (nil: none) with standing st.
func servingStatus(st Standing, d *deployment) (status, registryVersion, reason string) {
	switch {
	case st.Status != "":
		return st.Status, st.RegistryVersion, st.Reason
	case d != nil:
		return ServingCurrent, d.prov.Version, ""
	}
	return ServingNotLoaded, "", ""
}

// adminEndpoint serves /admin/* and, with Config.Pprof, /debug/pprof/,
// behind the admin token when one is configured. It reports whether it
// handled the path.
func (s *Server) adminEndpoint(ctx *fasthttp.RequestCtx) bool {
	path := string(ctx.Path())
	pprof := s.cfg.Pprof && strings.HasPrefix(path, "/debug/pprof/")
	switch path {
	case "/admin/models", "/admin/refresh", "/admin/reload", "/admin/status":
	case statusPagePath, statusScriptPath, statusStylePath:
		// The page's files hold no data (the same bytes in every
		// mlgate): a browser cannot send a bearer token with a
		// navigation, so the page asks for the token and sends it with
		// every /admin/status request.
		s.statusPage(ctx, path)
		return true
	default:
		if !pprof {
			return false
		}
	}
	if ts := s.adminTokens(); ts != nil {
		auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
		if !ts.valid(auth) {
			unauthorized(ctx, len(auth) > 0)
			return true
		}
	}
	if pprof {
		pprofhandler.PprofHandler(ctx)
		return true
	}
	switch path {
	case "/admin/status":
		s.status(ctx)
	case "/admin/models":
		if !ctx.IsGet() {
			writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest, "%s: use GET", path), "")
			return true
		}
		st := s.Status()
		if s.cfg.Operator != nil {
			st.Process = s.cfg.Operator.Process()
		}
		writeJSON(ctx, fasthttp.StatusOK, st)
	case "/admin/refresh", "/admin/reload":
		op := s.cfg.Operator
		if op == nil {
			writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound, "%s: not available", path), "")
			return true
		}
		if path == "/admin/refresh" {
			if !ctx.IsPost() {
				writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest, "%s: use POST", path), "")
				return true
			}
			if ok, wait := s.refreshLimit.take(); !ok {
				tooManyRefreshes(ctx, wait)
				return true
			}
			s.adminAction(ctx, path, "refresh", op.Refresh)
		} else {
			s.adminAction(ctx, path, "reload", op.Reload)
		}
	}
	return true
}

// adminAction runs an operator action (POST only) and answers with the
// status after it.
func (s *Server) adminAction(ctx *fasthttp.RequestCtx, path, what string, action func(context.Context) error) {
	if !ctx.IsPost() {
		writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest, "%s: use POST", path), "")
		return
	}
	rctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := action(rctx); err != nil {
		writeError(ctx, err, what)
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, s.Status())
}

// webhook receives MLflow's webhook deliveries (model_version_alias.created
// and .deleted, model_version.created). A delivery only triggers an
// immediate re-check; its payload is never taken as the answer.
func (s *Server) webhook(ctx *fasthttp.RequestCtx) {
	if !ctx.IsPost() {
		writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest, "/webhooks/mlflow: use POST"), "")
		return
	}
	if s.cfg.Operator == nil {
		writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound, "/webhooks/mlflow: not available"), "")
		return
	}
	h := &ctx.Request.Header
	err := s.cfg.Operator.Webhook(string(h.Peek("X-MLflow-Delivery-Id")), string(h.Peek("X-MLflow-Timestamp")),
		string(h.Peek("X-MLflow-Signature")), ctx.PostBody())
	if err != nil {
		writeError(ctx, err, "webhook")
		return
	}
	writeJSON(ctx, fasthttp.StatusOK, map[string]string{"status": "accepted"})
}

func writeJSON(ctx *fasthttp.RequestCtx, status int, v any) {
	body, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		writeError(ctx, err, "")
		return
	}
	ctx.SetStatusCode(status)
	ctx.SetContentType("application/json")
	ctx.SetBody(append(body, '\n'))
}
