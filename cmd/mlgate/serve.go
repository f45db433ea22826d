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
// resolve and load every route's models, report ready, and run until
// SIGTERM or SIGINT, then drain and stop in reverse order.
func cmdServe(args []string, stdout, stderr io.Writer) int {
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
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return a.run(ctx, ls)
}

// listeners are the sockets `mlgate serve` accepts on; admin is nil when
// the admin endpoints share the main listener.
type listeners struct {
	main, admin net.Listener
}

// listen opens the main listener and, unless the admin endpoints share it,
// the admin listener.
func listen(cfg Config) (listeners, error) {
	var ls listeners
	var err error
	if ls.main, err = serve.Listen(cfg.Listen); err != nil {
		return ls, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	if cfg.sharedAdmin() {
		return ls, nil
	}
	if ls.admin, err = serve.Listen(cfg.AdminListen); err != nil {
		ls.main.Close()
		return ls, fmt.Errorf("admin-listen %s: %w", cfg.AdminListen, err)
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
	deployer *deployer
	watcher  *resolver.Watcher
	routes   []routeSpec // guarded by reloadMu after start

	tel       *telemetry.Telemetry
	observers metric.Registration
	maxConns  int // the main listener's connection limit

	reloadMu sync.Mutex
	// reloadConfig re-reads the configuration for a reload; nil when
	// there is no config file.
	reloadConfig func() (Config, error)
}

func newApp(cfg Config, log *slog.Logger) (_ *app, err error) {
	lib, err := infer.FindLibrary(cfg.ONNXRuntimeLib)
	if err != nil {
		return nil, fmt.Errorf("onnxruntime-lib: %w", err)
	}
	if err := infer.Init(lib); err != nil {
		return nil, fmt.Errorf("onnxruntime-lib: %w", err)
	}
	routes, err := parseRoutes(cfg)
	if err != nil {
		return nil, err
	}
	icfg, err := inferConfig(cfg, log)
	if err != nil {
		return nil, err
	}
	configs, err := inferConfigs(routes, icfg)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}

	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()
	tel, err := telemetry.New(context.Background(), telemetry.Config{
		ServiceName: "mlgate", ServiceVersion: version, Getenv: os.Getenv, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("telemetry (OTEL_* variables): %w", err)
	}
	undo = append(undo, func() { tel.Shutdown(context.Background()) })
	ins, err := telemetry.NewInstruments(tel.MeterProvider())
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	var tracer trace.Tracer
	if tel.TracingEnabled() {
		tracer = tel.TracerProvider().Tracer("github.com/mlgate/mlgate")
		icfg.Tracer = tracer
		for u, c := range configs {
			c.Tracer = tracer
			configs[u] = c
		}
	}

	rc, err := resolverConfig(cfg, os.Getenv)
	if err != nil {
		return nil, err
	}
	rc.Logger = log
	rc.WrapTransport = func(rt http.RoundTripper) http.RoundTripper {
		return telemetry.Transport(rt, tel.TracerProvider(), tel.Propagator())
	}
	res, err := resolver.New(rc)
	if err != nil {
		return nil, fmt.Errorf("tracking-uri %s: %w", resolver.Redact(cfg.TrackingURI), err)
	}
	undo = append(undo, func() { res.Close() })

	op := &operator{log: log, hooks: resolver.NewWebhookReceiver(resolver.WebhookConfig{
		Secret: cfg.WebhookSecret, AllowUnsigned: cfg.WebhookAllowUnsigned,
	})}
	scfg := serve.Config{
		RequestTimeout: cfg.RequestTimeout, MaxBodyBytes: cfg.MaxBodyBytes,
		MaxRows: cfg.Limits.MaxRows, MaxElements: cfg.Limits.MaxElements, MaxInflightBytes: cfg.Limits.MaxInflightBytes,
		MaxInflight: cfg.MaxInflight, MaxQueue: cfg.MaxQueue, QueueTimeout: cfg.QueueTimeout,
		Version: version, Logger: log, Operator: op, AdminToken: cfg.AdminToken, Pprof: cfg.Pprof,
		Instruments: ins, MetricsHandler: tel.MetricsHandler(), Tracer: tracer, Propagator: tel.Propagator(),
		Throttle: telemetry.NewThrottle(log, time.Second, ins.LogSuppressed()),
	}
	networkConfig(cfg, &scfg)
	server, err := serve.New(scfg)
	if err != nil {
		return nil, err
	}
	if _, err := server.SetRoutes(specsOf(routes), cfg.DefaultRoute); err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	onMissing, _ := resolver.ParseMissingPolicy(cfg.OnMissing)
	models := infer.NewCache(cfg.ModelCacheBytes)
	d := newDeployer(server, models, icfg, log)
	d.setConfigs(configs)
	d.ins, d.tracer = ins, tracer
	w := resolver.NewWatcher(res, d, resolver.WatchConfig{
		PollInterval: cfg.PollInterval, MaxAttempts: cfg.MaxAttempts,
		OnMissing: onMissing, Logger: log, Tracer: tracer,
	})
	op.watcher, op.models = w, models
	reg, err := telemetry.RegisterObservers(ins, sources(server, models, w))
	if err != nil {
		return nil, fmt.Errorf("telemetry: %w", err)
	}
	a := &app{cfg: cfg, log: log, resolver: res, models: models, server: server,
		deployer: d, watcher: w, routes: routes, tel: tel, observers: reg, maxConns: scfg.MaxConns}
	op.reload = a.reload
	return a, nil
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
	served := make(chan error, 2)
	go func() { served <- a.server.Serve(ls.main) }()
	adminAddr := ls.main.Addr().String()
	if ls.admin != nil {
		adminAddr = ls.admin.Addr().String()
		go func() { served <- a.server.ServeAdmin(ls.admin) }()
	}
	a.log.Info("listening; loading models", "listen", ls.main.Addr().String(), "admin_listen", adminAddr,
		"tls", a.cfg.TLSCertFile != "", "mutual_tls", a.cfg.TLSClientCAFile != "",
		"scoring_auth", a.cfg.AuthTokensFile != "", "max_connections", a.maxConns,
		"version", version, "onnxruntime", infer.Version(), "tracking_uri", resolver.Redact(a.cfg.TrackingURI))

	routes := len(a.routes) // read before reloads may start
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
			a.log.Info("ready", "routes", routes)
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
	for _, u := range urisOf(a.routes) {
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

func (a *app) close() {
	a.watcher.Close()
	a.server.Close()
	a.models.Close()
	a.resolver.Close()
	a.observers.Unregister()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.tel.Shutdown(ctx); err != nil {
		a.log.Warn("flushing traces at exit", "err", err)
	}
}
