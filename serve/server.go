// Package serve owns mlgate's HTTP surface on fasthttp: the MLflow scoring
// endpoints (/invocations, /routes/<route>/invocations, /ping, /health,
// /version), the route table and the choice of target per request, the
// per-request deadline, provenance headers, and the mapping of every error to
// an HTTP status and MLflow's error body.
//
// serve imports signature and infer; it does not import resolver. Loaded
// models reach it through Publish, behind the small Model interface.
// fasthttp types and request byte slices never leave this package nor
// outlive a request.
package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mlgate/mlgate/telemetry"
)

// Config configures a Server. The zero value of each field selects its
// documented default.
type Config struct {
	// RequestTimeout bounds each scoring request, from the moment it has
	// been read until its response is ready. Zero means 30s.
	RequestTimeout time.Duration
	// MaxBodyBytes caps request bodies; a larger one gets 413. Zero means
	// 16 MiB.
	MaxBodyBytes int
	// MaxRows bounds the rows of one scoring request; a request with more
	// gets 413 naming max_rows. Zero means MaxElements divided by the
	// serving model's values per row (signature.Plan.RowWidth). A route's
	// Limits override it.
	MaxRows int
	// MaxElements bounds the values of one scoring request: the scalars of
	// its data and the cells (rows × columns) it decodes into; a request
	// with more gets 413 naming max_elements. Zero means 1,048,576
	// (signature.DefaultMaxElements). A route's Limits override it.
	MaxElements int
	// MaxInflightBytes bounds the memory the scoring requests being served
	// hold, each counted from the moment its body has been measured until
	// its response is ready, by signature.Cost.Memory (its body, parsed
	// values, feeds, tensors and response). A request that does not fit
	// waits like one over MaxInflight, then gets 429; one that needs more
	// than all of it is served alone. Zero means 256 MiB; negative means
	// no limit.
	MaxInflightBytes int64
	// ReadTimeout bounds reading one request, headers and body. Zero means
	// 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing one response. Zero means 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes keep-alive connections idle this long. Zero means
	// 120s.
	IdleTimeout time.Duration
	// Version is the mlgate version reported by GET /version.
	Version string
	// Logger receives request errors. Nil discards them.
	Logger *slog.Logger
	// Operator backs /admin/models, /admin/refresh and /webhooks/mlflow.
	// Nil disables refresh and webhooks; /admin/models still shows the
	// routes.
	Operator Operator
	// ShadowQueue bounds the sampled requests waiting for shadow models;
	// beyond it copies are dropped and counted. Zero means 1024.
	ShadowQueue int
	// ShadowWorkers is the number of goroutines sending copies to shadow
	// models. Zero means 1, so that shadows take at most one core's worth
	// of work from the primaries.
	ShadowWorkers int
	// MaxInflight bounds the scoring requests being served at once. Zero
	// means 512; negative means no limit.
	MaxInflight int
	// MaxQueue bounds the scoring requests waiting for one of the
	// MaxInflight slots; beyond it a request gets 429 at once. Zero means
	// 512.
	MaxQueue int
	// QueueTimeout is how long a request may wait for a slot before it
	// gets 429. Zero means 100ms.
	QueueTimeout time.Duration
	// Instruments records request metrics (mlgate.requests,
	// mlgate.inference.duration, http.server.request.duration). Nil records
	// none.
	Instruments *telemetry.Instruments
	// MetricsHandler serves GET /metrics (the Prometheus exporter's
	// handler). Nil: /metrics is 404.
	MetricsHandler http.Handler
	// Tracer, when set, records a server span per scoring request with
	// children for validation and inference. Nil: no spans, and no cost.
	Tracer trace.Tracer
	// Propagator extracts and injects trace context. Nil means W3C
	// TraceContext.
	Propagator propagation.TextMapPropagator
	// Throttle rate-limits request-error logs per route and status class,
	// counting what it drops. Nil logs every error through Logger.
	Throttle *telemetry.Throttle
	// Pprof serves Go's runtime profiles at /debug/pprof/ (CPU profile:
	// /debug/pprof/profile?seconds=10), guarded like /admin/*. Off by
	// default.
	Pprof bool
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// on /admin/*. Empty leaves the admin endpoints open (bind the listener
	// to a private network).
	AdminToken string
}

func (c Config) withDefaults() Config {
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 16 << 20
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = defaultMaxInflightBytes
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 30 * time.Second
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 120 * time.Second
	}
	if c.Version == "" {
		c.Version = "dev"
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxInflight == 0 {
		c.MaxInflight = 512
	}
	if c.MaxQueue == 0 && c.MaxInflight > 0 {
		c.MaxQueue = 512
	}
	if c.QueueTimeout == 0 {
		c.QueueTimeout = 100 * time.Millisecond
	}
	if c.ShadowQueue == 0 {
		c.ShadowQueue = 1024
	}
	if c.ShadowWorkers == 0 {
		c.ShadowWorkers = 1
	}
	return c
}

func (c Config) validate() error {
	switch {
	case c.RequestTimeout < 0:
		return fmt.Errorf("request timeout %s: must be positive", c.RequestTimeout)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("max body bytes %d: must be positive", c.MaxBodyBytes)
	case c.MaxRows < 0, c.MaxElements < 0:
		return errors.New("max rows and max elements must not be negative")
	case c.ReadTimeout < 0, c.WriteTimeout < 0, c.IdleTimeout < 0:
		return errors.New("read, write and idle timeouts must be positive")
	case c.MaxQueue < 0, c.QueueTimeout < 0:
		return errors.New("max queue and queue timeout must not be negative")
	case c.ShadowQueue < 0, c.ShadowWorkers < 0:
		return errors.New("shadow queue and workers must be positive")
	}
	return nil
}

// Server serves MLflow's scoring protocol for a table of routes. Its
// methods are safe for concurrent use.
type Server struct {
	cfg   Config
	http  *fasthttp.Server
	table atomic.Pointer[table]

	draining atomic.Bool

	admit admission

	mu       sync.Mutex // guards bindings and their swap history
	bindings map[string]*binding
	// pending holds bindings published ahead of the SetRoutes that uses
	// them (a reload warms new models before swapping routes in).
	pending map[string]*binding

	// shadows runs shadow copies; started by the first SetRoutes with a
	// shadow, stopped by Shutdown or Close. Guarded by mu.
	shadows *shadowPool
	metrics fasthttp.RequestHandler
}

// New returns a Server with no routes; SetRoutes must be called before it
// serves scoring requests.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg.withDefaults(), bindings: map[string]*binding{}, pending: map[string]*binding{}}
	if s.cfg.MaxInflight > 0 {
		s.admit.slots = make(chan struct{}, s.cfg.MaxInflight)
	}
	s.metrics = s.metricsHandler()
	s.http = &fasthttp.Server{
		Handler:              s.Handler,
		ErrorHandler:         s.transportError,
		Name:                 "mlgate",
		MaxRequestBodySize:   s.cfg.MaxBodyBytes,
		ReadTimeout:          s.cfg.ReadTimeout,
		WriteTimeout:         s.cfg.WriteTimeout,
		IdleTimeout:          s.cfg.IdleTimeout,
		CloseOnShutdown:      true,
		NoDefaultContentType: true,
		Logger:               fasthttpLogger{s.cfg.Logger},
	}
	return s, nil
}

// Serve accepts connections on ln until Shutdown. It returns nil after a
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	return s.http.Serve(ln)
}

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx ends. Shadow copies still queued are dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.ShutdownWithContext(ctx)
	s.stopShadows()
	return err
}

func (s *Server) stopShadows() {
	s.mu.Lock()
	p := s.shadows
	s.shadows = nil
	s.mu.Unlock()
	if p != nil {
		p.close()
	}
}

// SetDraining makes the server report not ready (/ready, /health, /ping
// answer 503) while it keeps serving: the first step of a graceful stop, so
// that load balancers route new traffic elsewhere before the listener
// closes.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Handler routes one request. It is exported for in-memory tests and
// benchmarks (fasthttp.RequestCtx without a network).
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	t := s.table.Load()
	switch string(path) {
	case "/invocations":
		if t == nil {
			writeError(ctx, errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail, "no routes configured"), "")
			return
		}
		s.invocations(ctx, t.def)
		return
	case "/ping", "/health", "/ready":
		s.health(ctx)
		return
	case "/live":
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
		return
	case "/version":
		s.version(ctx)
		return
	case "/metrics":
		if s.metrics != nil {
			s.metrics(ctx)
			return
		}
	}
	if name, ok := routeInvocations(path); ok && t != nil {
		r := t.routes[string(name)]
		if r == nil {
			writeError(ctx, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
				"route %q does not exist", name), "")
			return
		}
		s.invocations(ctx, r)
		return
	}
	if s.admin(ctx) {
		return
	}
	writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound,
		"no endpoint %s %s", ctx.Method(), path), "")
}

// routeInvocations matches /routes/<name>/invocations.
func routeInvocations(path []byte) ([]byte, bool) {
	const prefix, suffix = "/routes/", "/invocations"
	if len(path) <= len(prefix)+len(suffix) || string(path[:len(prefix)]) != prefix ||
		string(path[len(path)-len(suffix):]) != suffix {
		return nil, false
	}
	name := path[len(prefix) : len(path)-len(suffix)]
	for _, c := range name {
		if c == '/' {
			return nil, false
		}
	}
	return name, true
}

// transportError answers requests fasthttp could not read: bodies over the
// limit (413), timeouts and malformed HTTP.
func (s *Server) transportError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		writeError(ctx, errorf(fasthttp.StatusRequestEntityTooLarge, codeBadRequest,
			"request body exceeds the limit of %d bytes", s.cfg.MaxBodyBytes), "")
	case errors.As(err, &small):
		writeError(ctx, errorf(fasthttp.StatusRequestHeaderFieldsTooLarge, codeBadRequest,
			"request headers too large"), "")
	case errors.As(err, &ne) && ne.Timeout():
		writeError(ctx, errorf(fasthttp.StatusRequestTimeout, codeBadRequest,
			"timed out reading the request"), "")
	default:
		writeError(ctx, errorf(fasthttp.StatusBadRequest, codeBadRequest,
			"malformed HTTP request: %v", err), "")
	}
}

func (s *Server) health(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() && !ctx.IsHead() {
		writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest, "%s %s: use GET", ctx.Method(), ctx.Path()), "")
		return
	}
	if s.draining.Load() {
		writeError(ctx, errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
			"not ready: draining for shutdown"), "")
		return
	}
	if !s.Ready() {
		writeError(ctx, errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
			"not ready: a route's model is not loaded yet"), "")
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBodyString("\n")
}

func (s *Server) version(ctx *fasthttp.RequestCtx) {
	ctx.SetContentType("application/json")
	ctx.SetBodyString(s.cfg.Version)
}

// Inflight returns the scoring requests being served now.
func (s *Server) Inflight() int64 { return s.admit.inflight.Load() }

// fasthttpLogger sends fasthttp's connection-level messages (clients that
// send oversized bodies or hang up) to slog at debug level.
type fasthttpLogger struct{ l *slog.Logger }

func (f fasthttpLogger) Printf(format string, args ...any) {
	f.l.Debug("http connection", "msg", fmt.Sprintf(format, args...))
}
