package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
	"github.com/mlgate/mlgate/telemetry"
)

// cmdServe is `mlgate serve`: build everything, start listening (not ready),
// resolve and load every route's models, report ready, and run until ctx
// ends (SIGTERM or SIGINT), then drain and stop in reverse order. SIGHUP
// reloads the configuration file.
func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig("serve", serveSettings, args, os.Getenv, stderr)
	if err != nil {
		if errors.Is(err, flagHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "mlgate serve: %v\n", err)
		return 2
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintf(stderr, "mlgate serve: invalid configuration:\n%v\n", indent(err))
		return 2
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)
	if before, after, err := raiseFDLimit(); err != nil {
		log.Warn("cannot raise the open-file limit", "soft", before.Soft, "hard", before.Hard, "err", err)
	} else {
		log.Info("open-file limit", "soft", after.Soft, "hard", after.Hard, "soft_at_start", before.Soft)
	}
	a, err := newApp(cfg, log)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	ls, err := listen(cfg)
	if err != nil {
		log.Error("cannot listen", "err", err)
		a.close()
		return 1
	}
	if cfg.path != "" {
		a.reloadConfig = func() (Config, error) {
			return loadConfig("serve", serveSettings, args, os.Getenv, io.Discard)
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for range hup {
			if err := a.server.ReloadFiles(); err != nil {
				log.Error("a changed file was not taken; its last good contents stay in use", "err", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			if err := a.reload(ctx); err != nil {
				log.Error("configuration reload rejected; the current routes keep serving", "err", err)
			}
			cancel()
		}
	}()
	return a.run(ctx, ls)
}

// listeners are the sockets `mlgate serve` accepts on; admin is nil when
// the admin endpoints share the main listener, grpc when gRPC is off.
type listeners struct {
	main, admin, grpc net.Listener
}

// listen opens the main listener and, unless the admin endpoints share it,
// the admin listener.
func listen(cfg Config) (listeners, error) {
	var ls listeners
	var err error
	if ls.main, err = serve.Listen(cfg.Listen); err != nil {
		return ls, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if !cfg.sharedAdmin() {
		if ls.admin, err = serve.Listen(cfg.AdminListen); err != nil {
			ls.main.Close()
			return ls, fmt.Errorf("admin-listen %s: %w", cfg.AdminListen, err)
		}
	}
	if cfg.GRPCListen != "" {
		if ls.grpc, err = serve.Listen(cfg.GRPCListen); err != nil {
			ls.main.Close()
			if ls.admin != nil {
				ls.admin.Close()
			}
			return ls, fmt.Errorf("grpc-listen %s: %w", cfg.GRPCListen, err)
		}
	}
	return ls, nil
}

// app holds the running pieces of `mlgate serve`, in start order.
type app struct {
	cfg      Config
	log      *slog.Logger
	resolver *resolver.Resolver
	models   *infer.Cache
	server   *serve.Server
	fleet    *fleet
	watcher  *resolver.Watcher
	// demand loads registry routes' models; nil without registry routes.
	demand *demand

	tel       *telemetry.Telemetry
	observers metric.Registration
	maxConns  int // the main listener's connection limit

	reloadMu sync.Mutex
	// reloadConfig re-reads the configuration for a reload; nil when
	// there is no config file.
	reloadConfig func() (Config, error)
}

// newApp builds every part of mlgate serve, in start order, and publishes
// the configured routes with no model loaded yet. On failure it closes
// what it built.
func newApp(cfg Config, log *slog.Logger) (_ *app, err error) {
	if err := initRuntime(cfg); err != nil {
		return nil, err
	}
	routes, configs, err := planRoutes(cfg, log)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	ins, tracer, err := a.startTelemetry()
	if err != nil {
		return nil, err
	}
	for u, c := range configs {
		c.Tracer = tracer
		configs[u] = c
	}
	if a.resolver, err = a.newResolver(); err != nil {
		return nil, err
	}
	op := &operator{log: log, hooks: resolver.NewWebhookReceiver(resolver.WebhookConfig{
		Secret: cfg.WebhookSecret, AllowUnsigned: cfg.WebhookAllowUnsigned,
	})}
	if len(cfg.RegistryRoutes) > 0 {
		icfg, err := inferConfig(cfg, log)
		if err != nil {
			return nil, err
		}
		icfg.Tracer = tracer
		if a.demand, err = newDemand(cfg, icfg, log); err != nil {
			return nil, err
		}
	}
	if a.server, err = a.newServer(op, ins, tracer); err != nil {
		return nil, err
	}
	a.models = infer.NewCache(cfg.ModelCacheBytes)
	a.fleet = newFleet(a.server, a.models, log, ins, tracer)
	a.fleet.tags = cfg.Provenance.Tags
	if err := a.fleet.start(routes, cfg.DefaultRoute, configs); err != nil {
		return nil, err
	}
	onMissing, _ := resolver.ParseMissingPolicy(cfg.OnMissing)
	a.watcher = resolver.NewWatcher(a.resolver, a.fleet, resolver.WatchConfig{
		PollInterval: cfg.PollInterval, MaxAttempts: cfg.MaxAttempts,
		OnMissing: onMissing, Logger: log, Tracer: tracer, Events: a.fleet.watchEvent,
	})
	op.watcher, op.models, op.fleet, op.reload = a.watcher, a.models, a.fleet, a.reload
	src := sources(a.server, a.models, a.watcher)
	if d := a.demand; d != nil {
		d.f, d.w, op.demand = a.fleet, a.watcher, d
		src.OnDemand = d.figures
		go d.run()
	}
	if a.observers, err = telemetry.RegisterObservers(ins, src); err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	return a, nil
}

// initRuntime loads ONNX Runtime.
func initRuntime(cfg Config) error {
	lib, err := infer.FindLibrary(cfg.ONNXRuntimeLib)
	if err != nil {
		return fmt.Errorf("onnxruntime-lib: %w", err)
	}
	if err := infer.Init(lib); err != nil {
		return fmt.Errorf("onnxruntime-lib: %w", err)
	}
	return nil
}

// planRoutes parses the configured routes and the inference settings of
// each model URI they use.
func planRoutes(cfg Config, log *slog.Logger) ([]routeSpec, map[resolver.URI]infer.Config, error) {
	routes, err := parseRoutes(cfg)
	if err != nil {
		return nil, nil, err
	}
	icfg, err := inferConfig(cfg, log)
	if err != nil {
		return nil, nil, err
	}
	configs, err := inferConfigs(routes, icfg)
	if err != nil {
		return nil, nil, fmt.Errorf("routes: %w", err)
	}
	return routes, configs, nil
}

// startTelemetry builds the OpenTelemetry providers (configured by OTEL_*
// variables) and mlgate's instruments; the tracer is nil when tracing is
// off.
func (a *app) startTelemetry() (*telemetry.Instruments, trace.Tracer, error) {
	tel, err := telemetry.New(context.Background(), telemetry.Config{
		ServiceName: "mlgate", ServiceVersion: version, Getenv: os.Getenv, Logger: a.log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry (OTEL_* variables): %w", err)
	}
	a.tel = tel
	ins, err := telemetry.NewInstruments(tel.MeterProvider())
	if err != nil {
		return nil, nil, fmt.Errorf("telemetry: %w", err)
	}
	var tracer trace.Tracer
	if tel.TracingEnabled() {
		tracer = tel.TracerProvider().Tracer("github.com/mlgate/mlgate")
	}
	return ins, tracer, nil
}

// newResolver builds the registry client, its registry and artifact
// requests traced.
func (a *app) newResolver() (*resolver.Resolver, error) {
	rc, err := resolverConfig(a.cfg, os.Getenv)
	if err != nil {
		return nil, err
	}
	rc.Logger = a.log
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return telemetry.Transport(rt, a.tel.TracerProvider(), a.tel.Propagator())
	}
	res, err := resolver.New(rc)
	if err != nil {
		return nil, fmt.Errorf("tracking-uri %s: %w", resolver.Redact(a.cfg.TrackingURI), err)
	}
	return res, nil
}

// newServer builds the HTTP server, with op behind its admin and webhook
// endpoints, and records its connection limit.
func (a *app) newServer(op *operator, ins *telemetry.Instruments, tracer trace.Tracer) (*serve.Server, error) {
	cfg := a.cfg
	scfg := serve.Config{
		RequestTimeout: cfg.RequestTimeout, MaxBodyBytes: cfg.MaxBodyBytes,
		MaxRows: cfg.Limits.MaxRows, MaxElements: cfg.Limits.MaxElements, MaxInflightBytes: cfg.Limits.MaxInflightBytes,
		MaxInflight: cfg.MaxInflight, MaxQueue: cfg.MaxQueue, QueueTimeout: cfg.QueueTimeout,
		Version: version, Logger: a.log, Operator: op, AdminToken: cfg.AdminToken, Pprof: cfg.Pprof,
		Instruments: ins, MetricsHandler: a.tel.MetricsHandler(), Tracer: tracer, Propagator: a.tel.Propagator(),
		Throttle:       telemetry.NewThrottle(a.log, time.Second, ins.LogSuppressed()),
		ProvenanceTags: cfg.Provenance.Tags,
		StatusEvents:   cfg.StatusEvents, TrackingUI: serve.TrackingUI(cfg.TrackingURI),
		RegistryRoutes: cfg.registrySpecs(), ColdStartTimeout: cfg.ColdStartTimeout,
	}
	if a.demand != nil {
		scfg.OnDemand = a.demand
	}
	networkConfig(cfg, &scfg)
	a.maxConns = scfg.MaxConns
	return serve.New(scfg)
}

// networkConfig sets the listener, access and connection settings of
// scfg from cfg; a max-connections of 0 is sized from the open-file limit.
func networkConfig(cfg Config, scfg *serve.Config) {
	scfg.AdminTokenFile, scfg.AuthTokensFile = cfg.AdminTokenFile, cfg.AuthTokensFile
	scfg.AdminOnMain = cfg.sharedAdmin()
	scfg.TLSCertFile, scfg.TLSKeyFile, scfg.TLSClientCAFile = cfg.TLSCertFile, cfg.TLSKeyFile, cfg.TLSClientCAFile
	scfg.MaxConns, scfg.MaxConnsPerIP = cfg.MaxConnections, cfg.MaxConnectionsPerIP
	if scfg.MaxConns == 0 {
		var lim syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil {
			scfg.MaxConns = defaultMaxConnections(lim.Cur)
		}
	}
	scfg.ReadHeaderTimeout, scfg.ReadTimeout, scfg.IdleTimeout = cfg.ReadHeaderTimeout, cfg.ReadTimeout, cfg.IdleTimeout
}

func inferConfig(cfg Config, log *slog.Logger) (infer.Config, error) {
	mode, err := infer.ParseBatchMode(cfg.Inference.Batching)
	if err != nil {
		return infer.Config{}, fmt.Errorf("batching: %w", err)
	}
	ic := infer.Config{
		IntraOpThreads: cfg.Inference.IntraOpThreads, InterOpThreads: cfg.Inference.InterOpThreads,
		Spinning: cfg.Inference.Spinning, Workers: cfg.Inference.Workers, Batching: mode,
		MaxBatchRows: cfg.Inference.MaxBatchRows, MaxDelay: cfg.Inference.MaxBatchDelay,
		QueueRows: cfg.Inference.QueueRows, Logger: log,
	}
	if err := ic.Validate(); err != nil {
		return infer.Config{}, fmt.Errorf("inference: %w", err)
	}
	return ic, nil
}

func (a *app) run(ctx context.Context, ls listeners) int {
	served := make(chan error, 3)
	go func() { served <- a.server.Serve(ls.main) }()
	adminAddr := ls.main.Addr().String()
	if ls.admin != nil {
		adminAddr = ls.admin.Addr().String()
		go func() { served <- a.server.ServeAdmin(ls.admin) }()
	}
	grpcAddr := ""
	if ls.grpc != nil {
		grpcAddr = ls.grpc.Addr().String()
		go func() { served <- a.server.ServeGRPC(ls.grpc) }()
	}
	a.log.Info("listening; loading models", "listen", ls.main.Addr().String(), "admin_listen", adminAddr, "grpc_listen", grpcAddr,
		"tls", a.cfg.TLSCertFile != "", "mutual_tls", a.cfg.TLSClientCAFile != "",
		"scoring_auth", a.cfg.AuthTokensFile != "", "max_connections", a.maxConns,
		"version", version, "onnxruntime", infer.Version(), "tracking_uri", resolver.Redact(a.cfg.TrackingURI))

	routes := len(a.fleet.current().routes) // read before reloads may start
	loaded := make(chan error, 1)
	loadCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { loaded <- a.watchAll(loadCtx) }()
	for {
		select {
		case err := <-loaded:
			if err != nil {
				a.log.Error("cannot serve the configured models", "err", err)
				a.stop(0)
				return 1
			}
			if a.server.Ready() {
				a.log.Info("ready", "routes", routes)
			} else {
				a.log.Warn("started, not ready: a model the registry names failed to load and is being retried; "+
					"its route answers 503 and /ready turns 200 once it loads or is given up (GET /admin/models)", "routes", routes)
			}
		case err := <-served:
			a.log.Error("server stopped", "err", err)
			cancel()
			a.stop(0)
			return 1
		case <-ctx.Done():
			a.log.Info("stopping", "drain_delay", a.cfg.DrainDelay)
			cancel()
			return a.stop(a.cfg.DrainDelay)
		}
	}
}

// watchAll resolves, loads and starts following every route's URIs.
func (a *app) watchAll(ctx context.Context) error {
	a.reloadMu.Lock() // a SIGHUP during start waits for the first load
	defer a.reloadMu.Unlock()
	g, ctx := errgroup.WithContext(ctx)
	for _, u := range urisOf(a.fleet.current().routes) {
		g.Go(func() error { return a.watcher.Watch(ctx, u) })
	}
	return g.Wait()
}

// stop drains and shuts down: report not ready, wait for load balancers to
// notice, stop accepting, let in-flight requests finish, then release
// everything in reverse order of creation.
func (a *app) stop(drain time.Duration) int {
	a.server.SetDraining()
	time.Sleep(drain)
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	code := 0
	if err := a.server.Shutdown(ctx); err != nil {
		a.log.Error("in-flight requests did not finish in time", "shutdown_timeout", a.cfg.ShutdownTimeout, "err", err)
		code = 1
	}
	a.close()
	a.log.Info("stopped")
	return code
}

// close releases every part a has, in reverse order of creation; parts
// not built yet are skipped.
func (a *app) close() {
	if a.demand != nil && a.demand.f != nil {
		a.demand.stop()
	}
	if a.watcher != nil {
		a.watcher.Close()
	}
	if a.server != nil {
		a.server.Close()
	}
	if a.models != nil {
		a.models.Close()
	}
	if a.resolver != nil {
		a.resolver.Close()
	}
	if a.observers != nil {
		a.observers.Unregister()
	}
	if a.tel == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.tel.Shutdown(ctx); err != nil {
		a.log.Warn("flushing traces at exit", "err", err)
	}
}
