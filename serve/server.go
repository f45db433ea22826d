// Package serve owns mlgate's HTTP surface on fasthttp: the MLflow scoring
// endpoints (/invocations, /routes/<route>/invocations, /ping, /health,
// /version), the Open Inference Protocol's (/v2, and over gRPC on a
// listener of its own, with the generated code in serve/oip), the route
// table and the choice of target per request, the per-request deadline,
// provenance headers, and the mapping of every error to an HTTP status
// (classify), written as MLflow's error body, the protocol's, or the gRPC
// code standing for it. serve encodes responses: a model
// hands it output views (signature.Prediction), never bytes. It also owns
// the network edge: the main and admin listeners (connection limits, accept
// backoff, header timeouts, TLS, a close that resets no queued connection)
// and access to them (admin and scoring bearer tokens, client
// certificates).
//
// serve imports signature and telemetry; it imports neither infer (cgo) nor
// resolver. Loaded models reach it through Publish, behind the small Model
// interface.
// fasthttp types and request byte slices never leave this package nor
// outlive a request.
package serve

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"

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
	// ReadHeaderTimeout bounds reading a request's headers: from a new
	// connection's accept, or a kept-alive connection's next first byte, to
	// the end of the headers (TLS handshake included), and of a body of at
	// most 64 KiB with them. A slower client is answered 408 and
	// disconnected. Zero means 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a request's body larger than 64 KiB (or
	// chunked) once its headers are read. Zero means 30s.
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
	// RegistryRoutes let requests address registered models no route
	// names (docs/registry-routes.md); OnDemand loads them, a request
	// waiting at most ColdStartTimeout (zero: 30s) before 503 with
	// Retry-After.
	RegistryRoutes   []RegistryRouteSpec
	OnDemand         OnDemand
	ColdStartTimeout time.Duration
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
	// ProvenanceTags are the run tags sent with every response as
	// X-Mlflow-Tag-<Name> headers (see TagHeader), when the serving
	// version's run has them. New refuses names that cannot be headers or
	// that collide. Nil sends none.
	ProvenanceTags []string
	// Pprof serves Go's runtime profiles at /debug/pprof/ (CPU profile:
	// /debug/pprof/profile?seconds=10), guarded like /admin/*. Off by
	// default.
	Pprof bool
	// AdminToken, when set, is required as "Authorization: Bearer <token>"
	// on the admin endpoints (/admin/*, /debug/pprof/). Empty, and without
	// AdminTokenFile, they are open to whoever reaches the admin listener,
	// which must then be a loopback address (ServeAdmin refuses others).
	AdminToken string
	// AdminTokenFile names a file holding the admin token instead, re-read
	// when it changes. Exclusive with AdminToken.
	AdminTokenFile string
	// AdminOnMain serves the admin endpoints on the main listener too, for
	// an admin address equal to the main one. Serve then applies
	// ServeAdmin's rule: a non-loopback listener needs an admin token.
	AdminOnMain bool
	// AuthTokensFile, when set, makes scoring requests need
	// "Authorization: Bearer <token>" with a token from this file: one per
	// line, blank lines and lines starting with # ignored; re-read when it
	// changes. Health, version, metrics and webhook endpoints need none.
	// Empty: scoring is open.
	AuthTokensFile string
	// TLSCertFile and TLSKeyFile, when set, are the PEM certificate chain
	// and key both listeners serve HTTPS with (plain HTTP is then refused),
	// re-read when they change. Empty: plain HTTP.
	TLSCertFile, TLSKeyFile string
	// TLSClientCAFile, when set with TLSCertFile, makes the main listener
	// require a client certificate signed by one of its PEM CA
	// certificates (mutual TLS); re-read when it changes. The admin
	// listener asks for none: its token guards it.
	TLSClientCAFile string
	// FileCheckInterval is how often the token, certificate and CA files
	// are checked for changes. Zero means 5s; negative means only when
	// ReloadFiles is called.
	FileCheckInterval time.Duration
	// MaxConns bounds the main listener's open connections; a connection
	// beyond it is closed at once, after a 503 on plain HTTP. Zero means
	// no limit.
	MaxConns int
	// MaxConnsPerIP bounds the main listener's open connections from one
	// client address, in the same way. Zero means no limit.
	MaxConnsPerIP int
	// StatusEvents is how many events the status page's timeline keeps
	// (RecordEvent). Zero means 1000; negative keeps none.
	StatusEvents int
	// TrackingUI is the MLflow UI the status page links runs to (see
	// TrackingUI); empty: no links.
	TrackingUI string
}

func (c Config) withDefaults() Config {
	if c.ColdStartTimeout == 0 {
		c.ColdStartTimeout = 30 * time.Second
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 30 * time.Second
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 16 << 20
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = 10 * time.Second
	}
	if c.MaxInflightBytes == 0 {
		c.MaxInflightBytes = defaultMaxInflightBytes
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = 30 * time.Second
	}
	if c.FileCheckInterval == 0 {
		c.FileCheckInterval = 5 * time.Second
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
	if c.StatusEvents == 0 {
		c.StatusEvents = 1000
	}
	return c
}

func (c Config) validate() error {
	if err := ValidateRegistryRoutes(c.RegistryRoutes); err != nil {
		return err
	}
	switch {
	case c.ColdStartTimeout < 0:
		return errors.New("cold-start timeout must not be negative")
	case c.RequestTimeout < 0:
		return fmt.Errorf("request timeout %s: must be positive", c.RequestTimeout)
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("max body bytes %d: must be positive", c.MaxBodyBytes)
	case c.MaxRows < 0, c.MaxElements < 0:
		return errors.New("max rows and max elements must not be negative")
	case c.ReadHeaderTimeout < 0, c.ReadTimeout < 0, c.WriteTimeout < 0, c.IdleTimeout < 0:
		return errors.New("read header, read, write and idle timeouts must be positive")
	case c.MaxConns < 0, c.MaxConnsPerIP < 0:
		return errors.New("max connections and max connections per IP must not be negative")
	case c.AdminToken != "" && c.AdminTokenFile != "":
		return errors.New("admin token and admin token file: give one or the other")
	case (c.TLSCertFile == "") != (c.TLSKeyFile == ""):
		return errors.New("tls certificate and key files: give both or neither")
	case c.TLSClientCAFile != "" && c.TLSCertFile == "":
		return errors.New("tls client CA file needs a tls certificate and key")
	case c.MaxQueue < 0, c.QueueTimeout < 0:
		return errors.New("max queue and queue timeout must not be negative")
	case c.ShadowQueue < 0, c.ShadowWorkers < 0:
		return errors.New("shadow queue and workers must be positive")
	}
	if c.AdminToken != "" {
		if err := CheckToken(c.AdminToken); err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
	}
	if _, err := TagHeaders(c.ProvenanceTags); err != nil {
		return fmt.Errorf("provenance tags: %w", err)
	}
	return nil
}

// Server serves MLflow's scoring protocol and the Open Inference Protocol
// for the routes of its live Snapshot. Its methods are safe for concurrent
// use.
type Server struct {
	cfg     Config
	http    *fasthttp.Server // the main listener's
	admin   *fasthttp.Server // the admin listener's
	metrics fasthttp.RequestHandler
	live    atomic.Pointer[Snapshot]
	// adminLoopback is the admin listener's address when it is on a
	// loopback address, for the main listener's /status redirect.
	adminLoopback atomic.Pointer[string]
	// serverMetadata is the body of GET /v2.
	serverMetadata []byte
	// grpc serves the Open Inference Protocol over gRPC (ServeGRPC), and
	// healthSrv grpc.health.v1 beside it.
	grpc      *grpc.Server
	healthSrv *health.Server

	adminToken     *tokenSet  // from Config.AdminToken; nil without
	adminTokenFile *tokenFile // from Config.AdminTokenFile; nil without
	authTokens     *tokenFile // nil: scoring is open
	tls            *tlsFiles  // nil: plain HTTP
	refreshLimit   *tokenBucket
	stopFiles      chan struct{} // closed to stop checking files
	filesStopped   chan struct{} // closed when the file checker returned
	stopOnce       sync.Once
	filesMu        sync.Mutex // serialises ReloadFiles

	draining atomic.Bool

	// lnMu guards the listeners being served and whether Shutdown has
	// begun: fasthttp's Shutdown does not see a listener whose Serve has
	// not registered it yet, so Shutdown closes them itself.
	lnMu      sync.Mutex
	listeners []net.Listener
	shutdown  bool

	admit admission
	// rules are Config.RegistryRoutes; usage says when each on-demand
	// route was last requested.
	rules registryRules
	usage usage
	// demandHits and demandMisses count registry-route requests that
	// found their model loaded, and that waited for a load.
	demandHits, demandMisses atomic.Int64
	// tags are Config.ProvenanceTags with their headers.
	tags []tagHeader

	started      time.Time     // when New made the server
	events       *events       // the status page's timeline
	ticksStopped chan struct{} // closed when tickWindows returned

	// unknownRec records scoring requests that name no route; nil
	// without instruments. httpRoutes records the other requests by
	// http.route ("" for a path no endpoint has).
	unknownRec *telemetry.RequestRecorder
	httpRoutes map[string]*telemetry.HTTPRoute

	mu sync.Mutex // serialises Publish; guards the fields below
	// history holds the recent swaps of each URI the live routes use.
	history map[string][]Swap
	closed  bool
	// shadows runs shadow copies; started by the first Publish with a
	// shadow, stopped by Shutdown or Close.
	shadows *shadowPool
}

// New returns a Server with no routes; a Snapshot must be published before
// it serves scoring requests. It reads the token and TLS files now and
// fails when one is missing or invalid; Close or Shutdown stops re-reading
// them.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg.withDefaults(), history: map[string][]Swap{},
		refreshLimit: newTokenBucket(refreshRate, refreshBurst, nil),
		stopFiles:    make(chan struct{}), filesStopped: make(chan struct{}), ticksStopped: make(chan struct{}),
		started: time.Now(), rules: registryRules(cfg.RegistryRoutes)}
	s.events = newEvents(max(s.cfg.StatusEvents, 0))
	if s.cfg.MaxInflight > 0 {
		s.admit.slots = make(chan struct{}, s.cfg.MaxInflight)
	}
	headers, _ := TagHeaders(s.cfg.ProvenanceTags) // checked by validate
	for i, h := range headers {
		s.tags = append(s.tags, tagHeader{name: s.cfg.ProvenanceTags[i], header: h})
	}
	if err := s.loadFiles(); err != nil {
		return nil, err
	}
	s.metrics = s.metricsHandler()
	s.prepareHTTPRecorders()
	s.serverMetadata = renderServerMetadata(s.cfg.Version)
	s.healthSrv = newHealthServer()
	s.reportHealth()
	s.grpc = s.newGRPC()
	s.http = s.newHTTPServer(s.Handler, max(s.cfg.MaxConns, fasthttp.DefaultConcurrency))
	s.admin = s.newHTTPServer(s.AdminHandler, fasthttp.DefaultConcurrency)
	go s.checkFiles()
	go s.tickWindows()
	return s, nil
}

func (s *Server) newHTTPServer(h fasthttp.RequestHandler, concurrency int) *fasthttp.Server {
	return &fasthttp.Server{
		Handler:      h,
		ErrorHandler: s.transportError,
		// ReadTimeout covers the headers (fasthttp sets it at the accept
		// and at a kept-alive connection's first byte); once they are in,
		// HeaderReceived gives a body over smallBody its own deadline.
		ReadTimeout:          s.cfg.ReadHeaderTimeout,
		HeaderReceived:       s.headerReceived,
		Name:                 "mlgate",
		MaxRequestBodySize:   s.cfg.MaxBodyBytes,
		WriteTimeout:         s.cfg.WriteTimeout,
		IdleTimeout:          s.cfg.IdleTimeout,
		Concurrency:          concurrency,
		CloseOnShutdown:      true,
		NoDefaultContentType: true,
		// Parse errors must not quote the request: it may carry a token.
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{s.cfg.Logger},
	}
}

// adminMaxConns bounds the admin listener's open connections.
const adminMaxConns = 64

// Serve accepts connections on ln for the main endpoints (scoring, health,
// version, metrics, webhooks; the admin endpoints too with AdminOnMain)
// until Shutdown, and returns nil after a Shutdown. It keeps accepting
// through transient errors such as running out of file descriptors. ln
// should come from Listen.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.AdminOnMain {
		if err := s.checkAdminAddr(ln.Addr()); err != nil {
			return err
		}
	}
	return s.serve(s.http, ln, listenerConfig{name: "main", maxConns: s.cfg.MaxConns, maxConnsPerIP: s.cfg.MaxConnsPerIP}, false)
}

// ServeAdmin accepts connections on ln for the admin endpoints (/admin/*,
// /debug/pprof/ with Pprof, /metrics, and the health endpoints) until
// Shutdown. It refuses a listener that is not on a loopback address when
// no admin token is configured.
func (s *Server) ServeAdmin(ln net.Listener) error {
	if err := s.checkAdminAddr(ln.Addr()); err != nil {
		return err
	}
	if a := ln.Addr().String(); IsLoopback(a) {
		s.adminLoopback.Store(&a)
	}
	return s.serve(s.admin, ln, listenerConfig{name: "admin", maxConns: adminMaxConns}, true)
}

// ErrAdminNeedsToken is returned by ServeAdmin, and by Serve with
// AdminOnMain, for a listener reachable from other hosts while no admin
// token is configured.
var ErrAdminNeedsToken = errors.New("admin endpoints on a non-loopback address need an admin token")

func (s *Server) checkAdminAddr(a net.Addr) error {
	if s.adminTokens() != nil || IsLoopback(a.String()) {
		return nil
	}
	return fmt.Errorf("%w (listening on %s)", ErrAdminNeedsToken, a)
}

// IsLoopback reports whether addr (host:port) names only loopback
// addresses: 127.0.0.0/8, ::1 or localhost. An empty or unspecified host
// (all interfaces) is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

func (s *Server) serve(srv *fasthttp.Server, ln net.Listener, lc listenerConfig, admin bool) error {
	lc.plain, lc.log = s.tls == nil, s.cfg.Logger
	var l net.Listener = newListener(ln, lc)
	if s.tls != nil {
		l = tls.NewListener(l, s.tls.config(admin))
	}
	s.lnMu.Lock()
	if s.shutdown {
		s.lnMu.Unlock()
		l.Close()
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.lnMu.Unlock()
	err := srv.Serve(l)
	s.lnMu.Lock()
	stopped := s.shutdown
	s.lnMu.Unlock()
	if stopped && errors.Is(err, net.ErrClosed) {
		return nil // closed by Shutdown before fasthttp knew of it
	}
	return err
}

// closeListeners marks the server as shutting down and closes every
// listener being served, including one whose Serve has not reached
// fasthttp yet. A Serve that starts afterwards returns at once.
func (s *Server) closeListeners() {
	s.lnMu.Lock()
	s.shutdown = true
	ls := s.listeners
	s.listeners = nil
	s.lnMu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

// Shutdown stops accepting connections and waits for in-flight requests
// (gRPC ones too) until ctx ends; gRPC calls still running then are
// cancelled. Shadow copies still queued are dropped.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.closeListeners() // after fasthttp's own shutdown has drained what it knew
	adminErr := make(chan error, 1)
	go func() { adminErr <- s.admin.ShutdownWithContext(ctx) }()
	grpcErr := make(chan error, 1)
	go func() { grpcErr <- s.stopGRPC(ctx) }()
	err := s.http.ShutdownWithContext(ctx)
	err = errors.Join(err, <-adminErr, <-grpcErr)
	s.stopShadows()
	s.stopCheckingFiles()
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
// answer 503) while it keeps serving, every response with "Connection:
// close": the first step of a graceful stop, so that load balancers route
// new traffic elsewhere and keep-alive clients open no request on a
// connection the server is about to close.
func (s *Server) SetDraining() {
	s.draining.Store(true)
	s.reportHealth()
}

// stopGRPC stops the gRPC server gracefully: no new calls, the running
// ones finish; when ctx ends first, it stops it at once.
func (s *Server) stopGRPC(ctx context.Context) error {
	s.healthSrv.Shutdown()
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.grpc.Stop()
		<-done
		return fmt.Errorf("grpc: %w", ctx.Err())
	}
}

// Handler routes one request of the main listener. It is exported for
// in-memory tests and benchmarks (fasthttp.RequestCtx without a network).
// Every request is recorded in http.server.request.duration; scoring
// requests also in mlgate.requests, under route "(unknown)" when they name
// no route.
func (s *Server) Handler(ctx *fasthttp.RequestCtx) {
	if h := s.serveMain(ctx); h != nil {
		s.recordHTTP(ctx, h)
	}
}

// serveMain serves a request of the main listener and returns the recorder
// of its http.route, or nil when the request recorded itself (scoring).
func (s *Server) serveMain(ctx *fasthttp.RequestCtx) *telemetry.HTTPRoute {
	if !s.admissible(ctx) {
		return s.httpRoute("")
	}
	path := ctx.Path()
	switch string(path) {
	case "/invocations":
		if !s.authorized(ctx) {
			return s.httpRoute("/invocations")
		}
		s.score(ctx, nil)
		return nil
	case "/webhooks/mlflow":
		s.webhook(ctx)
		return s.httpRoute("/webhooks/mlflow")
	}
	if isV2(path) {
		return s.v2(ctx, path)
	}
	if isV1(path) {
		return s.v1(ctx, path)
	}
	if s.common(ctx, path) {
		return s.httpRoute(string(path))
	}
	if name, ok := routeInvocations(path); ok && s.live.Load() != nil {
		if !s.authorized(ctx) {
			return s.httpRoute(routeTemplate)
		}
		s.score(ctx, name)
		return nil
	}
	if len(s.rules) > 0 {
		if mp, ok := parseRegistryPath(path); ok {
			if !s.authorized(ctx) {
				return s.httpRoute(registryTemplate)
			}
			s.scoreRegistry(ctx, mp, false)
			return nil
		}
	}
	if s.cfg.AdminOnMain {
		if s.adminEndpoint(ctx) {
			return s.adminHTTPRoute(path)
		}
	} else if s.statusRedirect(ctx, path) {
		return s.httpRoute(statusPagePath)
	} else if bytes.HasPrefix(path, []byte("/admin/")) || bytes.HasPrefix(path, []byte("/debug/pprof/")) ||
		string(path) == statusPagePath || bytes.HasPrefix(path, []byte(statusPagePath+"/")) {
		writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound,
			"no endpoint %s %s here: the admin endpoints and the status page are on the admin listener (--admin-listen)", ctx.Method(), path), "")
		return s.httpRoute("")
	}
	writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound,
		"no endpoint %s %s", ctx.Method(), path), "")
	return s.httpRoute("")
}

// statusRedirect answers GET /status on the main listener with a
// redirect (307) to the status page on the admin listener, when both the
// connection and the admin listener are on this host's loopback: a
// browser that can reach one can reach the other, and nothing about the
// admin listener is told to another host. It reports whether it answered.
func (s *Server) statusRedirect(ctx *fasthttp.RequestCtx, path []byte) bool {
	if string(path) != statusPagePath || !(ctx.IsGet() || ctx.IsHead()) {
		return false
	}
	admin := s.adminLoopback.Load()
	if admin == nil || !IsLoopback(ctx.LocalAddr().String()) || !IsLoopback(ctx.RemoteAddr().String()) {
		return false
	}
	scheme := "http://"
	if s.tls != nil {
		scheme = "https://"
	}
	ctx.Response.Header.Set(fasthttp.HeaderLocation, scheme+*admin+statusPagePath)
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetStatusCode(fasthttp.StatusTemporaryRedirect)
	return true
}

// score serves a scoring request on the route named name (the default
// route when name is nil) of the live Snapshot, which it holds until the
// response is ready.
func (s *Server) score(ctx *fasthttp.RequestCtx, name []byte) {
	snap := s.acquire()
	if snap == nil {
		writeError(ctx, errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail, "no routes configured"), "")
		s.refused(ctx, s.unknownRec)
		return
	}
	r := snap.def
	if r == nil && name == nil {
		writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound,
			"no default route: no route is configured; address a registered model as /models/<name>@<alias>/invocations"), "")
		s.refused(ctx, s.unknownRec)
		snap.release()
		return
	}
	if name != nil {
		if r = snap.routes[string(name)]; r == nil || r.onDemand {
			writeError(ctx, errorf(fasthttp.StatusNotFound, codeResourceDoesNotExist,
				"route %q does not exist", name), "")
			s.refused(ctx, s.unknownRec)
			snap.release()
			return
		}
	}
	s.invocations(ctx, snap, r, requestStart(ctx))
	snap.release()
}

// AdminHandler routes one request of the admin listener: /admin/*,
// /debug/pprof/ with Config.Pprof, and, as on the main listener, /metrics
// and the health endpoints (for probes when the main listener requires
// client certificates). Every request is recorded in
// http.server.request.duration.
func (s *Server) AdminHandler(ctx *fasthttp.RequestCtx) {
	s.recordHTTP(ctx, s.serveAdmin(ctx))
}

func (s *Server) serveAdmin(ctx *fasthttp.RequestCtx) *telemetry.HTTPRoute {
	if !s.admissible(ctx) {
		return s.httpRoute("")
	}
	path := ctx.Path()
	if s.common(ctx, path) {
		return s.httpRoute(string(path))
	}
	if s.adminEndpoint(ctx) {
		return s.adminHTTPRoute(path)
	}
	writeError(ctx, errorf(fasthttp.StatusNotFound, codeEndpointNotFound,
		"no endpoint %s %s on the admin listener", ctx.Method(), path), "")
	return s.httpRoute("")
}

// common serves the endpoints both listeners have: health, version and
// metrics. It reports whether it handled the path.
func (s *Server) common(ctx *fasthttp.RequestCtx, path []byte) bool {
	switch string(path) {
	case "/ping", "/health", "/ready":
		s.health(ctx)
	case "/live":
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString("ok\n")
	case "/version":
		s.version(ctx)
	case "/metrics":
		if s.metrics == nil {
			return false
		}
		s.metrics(ctx)
	default:
		return false
	}
	return true
}

// admissible applies what holds for every request: while draining the
// connection closes after the response, and a request whose body framing
// is ambiguous (marked by headerReceived) is refused.
func (s *Server) admissible(ctx *fasthttp.RequestCtx) bool {
	if s.draining.Load() {
		ctx.SetConnectionClose()
	}
	if h := &ctx.Request.Header; h.ConnectionClose() && ambiguousFraming(h) {
		ctx.SetConnectionClose()
		writeError(ctx, errAmbiguousFraming, "")
		return false
	}
	return true
}

var errAmbiguousFraming = &httpError{status: fasthttp.StatusBadRequest, code: codeBadRequest,
	msg: "request has both Transfer-Encoding and Content-Length: where its body ends is ambiguous"}

// ambiguousFraming reports a request a proxy in front may have framed
// differently from mlgate (request smuggling, RFC 9112 section 6.1):
// Transfer-Encoding together with Content-Length, or Transfer-Encoding in
// HTTP/1.0. fasthttp reads such a body by Transfer-Encoding and keeps the
// connection. It looks at the headers as received, so it holds after the
// body is read.
func ambiguousFraming(h *fasthttp.RequestHeader) bool {
	te, cl := false, false
	for line := range bytes.Lines(h.RawHeaders()) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		te = te || bytes.EqualFold(name, []byte(fasthttp.HeaderTransferEncoding))
		cl = cl || bytes.EqualFold(name, []byte(fasthttp.HeaderContentLength))
	}
	return te && (cl || !h.IsHTTP11())
}

// smallBody is the largest request body (by Content-Length) that must
// arrive within ReadHeaderTimeout, like the headers; a larger or chunked
// one gets ReadTimeout of its own once the headers are in. Setting a
// connection deadline costs about half a microsecond, a few percent of a
// small request's work, and a small body mostly arrives with its headers.
const smallBody = 64 << 10

// headerReceived runs once a request's headers are read, before its body:
// it gives a body larger than smallBody its own read deadline, and marks
// a chunked request with ambiguous framing to close its connection, which
// makes admissible look at it (a request with neither costs one
// comparison).
func (s *Server) headerReceived(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	n := h.ContentLength()
	if n == -1 && ambiguousFraming(h) {
		h.SetConnectionClose()
	}
	if n >= 0 && n <= smallBody {
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{ReadTimeout: s.cfg.ReadTimeout}
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
