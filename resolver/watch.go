package resolver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Deployer receives the versions a Watcher resolves. The caller implements
// it: load the version, warm it, check it, and swap it in. resolver knows
// nothing of serving.
type Deployer interface {
	// Deploy makes res, whose artifacts are in dir, the version serving
	// uri. It must leave the version currently serving untouched when it
	// fails.
	Deploy(ctx context.Context, uri URI, res *Resolution, dir string) error
	// Withdraw stops serving uri. It is called only under MissingWithdraw,
	// when the alias or version uri names has disappeared.
	Withdraw(uri URI, reason error)
	// Stand tells how what serves uri stands against what the registry
	// names for it, each time that changes: while a new version loads,
	// after it failed or was given up on, while the alias is missing or
	// the registry unreachable, and (the zero Standing) once what serves
	// is what the registry names. A successful Deploy is followed by the
	// zero Standing unless something else is wrong. Stand must not block
	// for long: the URI's checks wait for it.
	Stand(uri URI, st Standing)
}

// MissingPolicy says what to do when a watched alias or version disappears
// from the registry (alias deleted, version deleted).
type MissingPolicy int

const (
	// MissingKeep keeps serving the last good version, marks the URI
	// stale and logs an error on every check until it comes back.
	MissingKeep MissingPolicy = iota
	// MissingWithdraw stops serving the URI; requests for it get 503.
	MissingWithdraw
)

// ParseMissingPolicy parses "keep" or "withdraw".
func ParseMissingPolicy(s string) (MissingPolicy, error) {
	switch s {
	case "keep", "":
		return MissingKeep, nil
	case "withdraw":
		return MissingWithdraw, nil
	}
	return 0, fmt.Errorf("on-missing %q: want keep or withdraw: %w", s, ErrInvalid)
}

// WatchConfig configures a Watcher. The zero value of each field selects
// its documented default.
type WatchConfig struct {
	// PollInterval is how often each URI is re-resolved. Zero means 5s.
	// Polling asks the registry what the URI points at now; it never
	// relies on last_updated_timestamp, which MLflow does not bump when an
	// alias moves.
	PollInterval time.Duration
	// Jitter spreads checks by ± this fraction of PollInterval, so that
	// replicas do not poll in lockstep. Zero means 0.1; negative means none.
	Jitter float64
	// MaxAttempts is how many times one version may fail to download or
	// load before the watcher gives up on it, until the URI points at
	// another version. Zero means 5. A failure to reach the registry or
	// the artifact store (no answer, or 5xx) does not count: the version
	// is retried with backoff until the store answers.
	MaxAttempts int
	// RetryBackoff is the wait after the first failure of a version; it
	// doubles with each further failure, up to four poll intervals. Zero
	// means 1s.
	RetryBackoff time.Duration
	// CheckTimeout bounds one check, including download and load. Zero
	// means 5 minutes.
	CheckTimeout time.Duration
	// OnMissing is the policy for a vanished alias or version.
	OnMissing MissingPolicy
	// Logger receives swaps, failures and staleness. Nil discards them.
	Logger *slog.Logger
	// Tracer records background spans (resolve, download). Nil means
	// none.
	Tracer trace.Tracer
	// Events receives what the Watcher sees and does (a URI moved, a
	// version failed or was given up on, a URI vanished), from its checks,
	// synchronously: it must not block. Nil means none.
	Events func(WatchEvent)
}

// WatchEvent is one thing the Watcher saw or did, for a timeline.
type WatchEvent struct {
	Kind WatchEventKind
	URI  URI
	At   time.Time
	// Version is the version the URI points at (moved to, failed, given
	// up on); FromVersion the one serving when it happened.
	Version, FromVersion string
	// Err is why a version failed or the URI vanished.
	Err error
	// Attempt counts the failed attempts at Version, up to MaxAttempts.
	Attempt, MaxAttempts int
}

// WatchEventKind says what a WatchEvent is.
type WatchEventKind int

// Watch event kinds.
const (
	// WatchMoved: the registry says the URI now points at Version; the
	// Watcher is about to fetch and deploy it.
	WatchMoved WatchEventKind = iota + 1
	// WatchFailed: Version failed to resolve, download or deploy; the
	// version serving keeps serving, and Version is retried with backoff.
	WatchFailed
	// WatchGaveUp: Version failed MaxAttempts times; it is tried again
	// only when the URI moves.
	WatchGaveUp
	// WatchMissing: the alias or version vanished from the registry.
	WatchMissing
)

func (w *Watcher) event(e WatchEvent) {
	if w.cfg.Events == nil {
		return
	}
	if e.At.IsZero() {
		e.At = time.Now()
	}
	e.MaxAttempts = w.cfg.MaxAttempts
	w.cfg.Events(e)
}

func (c WatchConfig) withDefaults() WatchConfig {
	if c.PollInterval <= 0 {
		c.PollInterval = 5 * time.Second
	}
	if c.Jitter == 0 {
		c.Jitter = 0.1
	}
	if c.Jitter < 0 {
		c.Jitter = 0
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 5
	}
	if c.RetryBackoff <= 0 {
		c.RetryBackoff = time.Second
	}
	if c.CheckTimeout <= 0 {
		c.CheckTimeout = 5 * time.Minute
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tracer == nil {
		c.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return c
}

// Watcher follows models:/ URIs: it resolves each once when it is added,
// then re-resolves it on an interval (and at once on Trigger or Refresh),
// and hands every new version to the Deployer. A version that fails is
// retried with backoff and given up after MaxAttempts; the version already
// serving keeps serving through failures, registry outages and vanished
// aliases. Methods are safe for concurrent use.
type Watcher struct {
	r   *Resolver
	d   Deployer
	cfg WatchConfig

	mu     sync.Mutex
	refs   map[URI]*ref
	closed bool
	wg     sync.WaitGroup
}

// ref is the watch state of one URI.
type ref struct {
	uri     URI
	trigger chan struct{}
	cancel  context.CancelFunc

	// check holds a token while a check runs: one check at a time, and a
	// caller waiting for its turn gives up when its context ends.
	check chan struct{}

	mu sync.Mutex // guards the fields below
	st RefStatus
	// failKey is the version that has been failing; failures counts its
	// attempts, faults those that were not the store being unreachable.
	failKey   string
	failures  int
	faults    int
	nextRetry time.Time
	// unreachable is set while the last check could not reach the
	// registry; notReady and loading name the version the registry names
	// while it is not READY, and while it is being fetched and loaded.
	unreachable bool
	notReady    string
	loading     string
	// told is the Standing last reported to the Deployer.
	told Standing
}

// RefStatus describes one watched URI.
type RefStatus struct {
	URI string `json:"uri"`
	// Serving is the version being served; nil before the first deploy.
	Serving *Resolution `json:"serving,omitempty"`
	// ServingSince is when Serving was deployed.
	ServingSince time.Time `json:"serving_since,omitzero"`
	// FromCache is true while the version serving came from the on-disk
	// cache because the registry could not be reached at start.
	FromCache bool `json:"from_cache"`
	// LastCheck is when the registry was last asked; LastSuccess when it
	// last answered (including "not found").
	LastCheck   time.Time `json:"last_check,omitzero"`
	LastSuccess time.Time `json:"last_success,omitzero"`
	// Missing is true while the alias or version is gone from the
	// registry.
	Missing bool `json:"missing"`
	// Withdrawn is true when MissingWithdraw stopped serving the URI.
	Withdrawn bool `json:"withdrawn"`
	// LastError is the most recent failure (registry, download, load),
	// cleared by the next successful swap or check.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
	// Pending names a version that failed to deploy and will be retried,
	// PendingFailures how many times; GaveUp is true once it failed
	// MaxAttempts times for a reason other than an unreachable store.
	Pending         string `json:"pending_version,omitempty"`
	PendingFailures int    `json:"pending_failures,omitempty"`
	GaveUp          bool   `json:"gave_up,omitempty"`
	// ServingStatus says why the version serving is not the one the
	// registry names (see Standing); empty when it is. RegistryVersion is
	// the version the registry names, when known.
	ServingStatus   ServingStatus `json:"serving_status,omitempty"`
	RegistryVersion string        `json:"registry_version,omitempty"`
	// Checks, Swaps and Failures count since the URI was added.
	Checks   int64 `json:"checks"`
	Swaps    int64 `json:"swaps"`
	Failures int64 `json:"failures"`
}

// Staleness returns how long ago the registry last confirmed what the URI
// points at (from the cached resolution's time when serving from cache).
func (s RefStatus) Staleness(now time.Time) time.Duration {
	at := s.LastSuccess
	if at.IsZero() && s.Serving != nil {
		at = s.Serving.ResolvedAt
	}
	if at.IsZero() {
		return 0
	}
	return now.Sub(at)
}

// Stale reports whether the serving version may not be what the registry
// names: the URI is missing, the last check failed or is taking long, or
// the version the registry names is not the one serving.
func (s RefStatus) Stale() bool {
	return s.Missing || s.FromCache || s.ServingStatus != "" || (!s.LastCheck.IsZero() && s.LastCheck.After(s.LastSuccess))
}

// NewWatcher returns a Watcher that resolves through r and deploys through
// d. It watches nothing until Watch.
func NewWatcher(r *Resolver, d Deployer, cfg WatchConfig) *Watcher {
	return &Watcher{r: r, d: d, cfg: cfg.withDefaults(), refs: map[URI]*ref{}}
}

// Watch resolves u and deploys it before returning, then keeps following it
// in the background until Unwatch or Close. If the registry or the
// artifact store cannot be reached, Watch deploys the last version that
// served u from the on-disk cache, and says so in the logs and in Status;
// it fails when no cached version can stand in, or when u cannot be
// resolved or fetched. A version that the registry names and that was
// fetched but fails to load (a *VersionError) does not fail Watch: nothing
// serves u, the Deployer is told the version failed (Stand), and the
// version is retried with backoff and given up on after MaxAttempts, as
// after an alias move, until it loads or u names another version. Watching
// a URI already watched does nothing.
func (w *Watcher) Watch(ctx context.Context, u URI) error {
	rf := newRef(u)
	rf.check <- struct{}{} // held through the first check
	w.mu.Lock()
	if _, ok := w.refs[u]; ok {
		w.mu.Unlock()
		return nil
	}
	// Registered before the first deploy, so that Status knows the URI as
	// soon as its version serves.
	w.refs[u] = rf
	w.mu.Unlock()

	p, err := w.Prepare(ctx, u, func(ctx context.Context, res *Resolution, dir string) error {
		return w.d.Deploy(ctx, u, res, dir)
	})
	var ve *VersionError
	switch {
	case err == nil:
		w.started(rf, p)
		w.report(rf)
	case errors.As(err, &ve):
		w.startFailed(rf, ve)
		w.report(rf)
		err = nil
	}
	<-rf.check
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refs[u] != rf { // unwatched or closed meanwhile
		return err
	}
	if err != nil {
		delete(w.refs, u)
		return err
	}
	w.startLoop(rf)
	return nil
}

func newRef(u URI) *ref {
	rf := &ref{uri: u, trigger: make(chan struct{}, 1), check: make(chan struct{}, 1)}
	rf.st.URI = u.String()
	return rf
}

// startLoop follows rf in the background. Called with w.mu held.
func (w *Watcher) startLoop(rf *ref) {
	loopCtx, cancel := context.WithCancel(context.Background())
	rf.cancel = cancel
	w.wg.Add(1)
	go w.loop(loopCtx, rf)
}

// Prepared is a URI's first version, resolved, fetched and loaded by
// Prepare: what Follow starts from once it serves.
type Prepared struct {
	// Resolution is the version; Dir holds its files.
	Resolution *Resolution
	Dir        string
	// FromCache is true when the registry could not be reached and the
	// last version that served the URI stands in, from the on-disk cache;
	// RegistryErr says why.
	FromCache   bool
	RegistryErr error
	// at is when the registry was asked.
	at time.Time
}

// VersionError is the failure of the version a URI names to load: its
// files were downloaded, but they do not load, warm up or pass the checks
// (a corrupt model.onnx, a signature that does not fit the graph, outputs
// that cannot be encoded). The registry and the artifact store answered;
// another version, or another attempt, may do.
type VersionError struct {
	// Resolution is the version that failed.
	Resolution *Resolution
	Err        error
}

func (e *VersionError) Error() string { return fmt.Sprintf("%s: %v", e.Resolution, e.Err) }
func (e *VersionError) Unwrap() error { return e.Err }

// Prepare resolves u, fetches its version and hands it to load, which
// loads it for serving, all inside one update span. When the registry or
// the artifact store cannot be reached, load gets the last version that
// served u, from the on-disk cache, and the result says so. Prepare fails
// when u cannot be resolved, fetched or loaded and no cached version can
// stand in; the failure of the version the registry names is a
// *VersionError. It changes nothing the Watcher follows: Follow starts
// following u once its version serves.
func (w *Watcher) Prepare(ctx context.Context, u URI, load func(ctx context.Context, res *Resolution, dir string) error) (*Prepared, error) {
	now := time.Now()
	ctx, span := w.startUpdate(ctx, u, "start")
	defer span.End()
	res, dir, err := w.resolveAndFetch(ctx, u)
	if err == nil {
		if err := load(ctx, res, dir); err != nil {
			return nil, &VersionError{Resolution: res, Err: err}
		}
		return &Prepared{Resolution: res, Dir: dir, at: now}, nil
	}
	if !errors.Is(err, ErrUnavailable) {
		return nil, err
	}
	cached, cdir, cerr := w.r.Cached(u)
	if cerr != nil {
		return nil, fmt.Errorf("%w; and no cached version to serve instead (cache %s): %w", err, w.r.Cache().Root(), cerr)
	}
	// Said before the cached version serves, so that its first answer
	// says it too.
	w.d.Stand(u, Standing{Status: ServingUnreachable, Reason: err.Error()})
	if derr := load(ctx, cached, cdir); derr != nil {
		return nil, fmt.Errorf("%w; and the cached %s failed to load: %w", err, cached, derr)
	}
	return &Prepared{Resolution: cached, Dir: cdir, FromCache: true, RegistryErr: err, at: now}, nil
}

// Follow starts following u, which now serves p's version (from Prepare):
// from now on it is re-resolved on the poll interval and its new versions
// are deployed, as after Watch. Following a URI already followed, or
// following after Close, does nothing.
func (w *Watcher) Follow(u URI, p *Prepared) {
	rf := newRef(u)
	w.started(rf, p)
	w.mu.Lock()
	if _, ok := w.refs[u]; ok || w.closed {
		w.mu.Unlock()
		return
	}
	w.refs[u] = rf
	w.mu.Unlock()
	rf.check <- struct{}{} // the loop's first check waits for the report
	w.report(rf)
	<-rf.check
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refs[u] == rf {
		w.startLoop(rf)
	}
}

// startFailed records that the first version of rf, which the registry
// named, failed: it is retried like a version an alias moved to.
func (w *Watcher) startFailed(rf *ref, ve *VersionError) {
	now := time.Now()
	rf.mu.Lock()
	rf.st.LastCheck, rf.st.LastSuccess = now, now
	rf.mu.Unlock()
	w.failed(rf, now, resolutionKey(ve.Resolution), ve.Err, true)
	w.cfg.Logger.Error("the version the registry names failed at start: nothing serves this model until a version loads",
		"uri", rf.uri.String(), "version", versionOf(ve.Resolution), "max_attempts", w.cfg.MaxAttempts, "err", ve.Err)
}

// started records the first version of rf, from Prepare.
func (w *Watcher) started(rf *ref, p *Prepared) {
	if !p.FromCache {
		w.served(rf, p.Resolution, p.at, false)
		return
	}
	w.cfg.Logger.Warn("registry unreachable at start: serving the cached version",
		"uri", rf.uri.String(), "version", p.Resolution.Version, "resolved_at", p.Resolution.ResolvedAt, "err", p.RegistryErr)
	w.served(rf, p.Resolution, p.at, true)
	rf.mu.Lock()
	rf.st.LastCheck = p.at
	rf.st.LastError, rf.st.LastErrorAt = p.RegistryErr.Error(), p.at
	rf.mu.Unlock()
}

// startUpdate starts the background span that covers resolving,
// downloading and deploying a version of u; the Deployer's load and warm-up
// spans are its children through ctx.
func (w *Watcher) startUpdate(ctx context.Context, u URI, why string) (context.Context, trace.Span) {
	return w.cfg.Tracer.Start(ctx, "mlgate.update", trace.WithAttributes(
		attribute.String("model.uri", u.String()), attribute.String("model.name", u.Name),
		attribute.String("model.alias", u.Alias), attribute.String("mlgate.update.reason", why)))
}

func (w *Watcher) resolveAndFetch(ctx context.Context, u URI) (*Resolution, string, error) {
	rctx, span := w.cfg.Tracer.Start(ctx, "mlgate.resolve", trace.WithAttributes(
		attribute.String("model.uri", u.String()), attribute.String("model.name", u.Name), attribute.String("model.alias", u.Alias)))
	res, err := w.r.Resolve(rctx, u)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		span.End()
		return nil, "", err
	}
	span.SetAttributes(attribute.String("model.version", res.Version), attribute.String("mlflow.run_id", res.RunID))
	span.End()
	dctx, span := w.cfg.Tracer.Start(ctx, "mlgate.download", trace.WithAttributes(
		attribute.String("model.name", res.Name), attribute.String("model.version", res.Version),
		attribute.String("model.alias", u.Alias), attribute.String("mlflow.run_id", res.RunID)))
	defer span.End()
	dir, err := w.r.Fetch(dctx, res)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return nil, "", err
	}
	return res, dir, nil
}

// served records a successful deploy.
func (w *Watcher) served(rf *ref, res *Resolution, now time.Time, fromCache bool) {
	rf.mu.Lock()
	prev := rf.st.Serving
	rf.st.Serving, rf.st.ServingSince, rf.st.FromCache = res, now, fromCache
	if !fromCache {
		rf.st.LastCheck, rf.st.LastSuccess = now, now
		rf.st.LastError, rf.st.LastErrorAt = "", time.Time{}
	}
	rf.st.Missing, rf.st.Withdrawn = false, false
	rf.st.Pending, rf.st.PendingFailures, rf.st.GaveUp = "", 0, false
	rf.failKey, rf.failures, rf.faults = "", 0, 0
	rf.loading, rf.notReady = "", ""
	if prev != nil {
		rf.st.Swaps++
	}
	rf.mu.Unlock()
	if !fromCache {
		if err := w.r.Remember(res); err != nil {
			w.cfg.Logger.Warn("cannot record the serving version for offline starts", "uri", rf.uri.String(), "err", err)
		}
	}
	from := ""
	if prev != nil {
		from = prev.Version
	}
	w.cfg.Logger.Info("model version serving", "uri", rf.uri.String(), "version", res.Version,
		"from_version", from, "run_id", res.RunID, "from_cache", fromCache)
}

// Unwatch stops following u. The version it serves is not withdrawn; that
// is the caller's business.
func (w *Watcher) Unwatch(u URI) {
	w.mu.Lock()
	rf, ok := w.refs[u]
	delete(w.refs, u)
	w.mu.Unlock()
	if ok && rf.cancel != nil {
		rf.cancel()
	}
}

// Close stops following every URI and waits for checks in progress.
func (w *Watcher) Close() {
	w.mu.Lock()
	w.closed = true
	for u, rf := range w.refs {
		if rf.cancel != nil {
			rf.cancel()
		}
		delete(w.refs, u)
	}
	w.mu.Unlock()
	w.wg.Wait()
}

// Trigger asks for an immediate re-check of every watched URI of the
// registered model name (all URIs when name is empty), without waiting for
// it. It returns how many URIs it triggered. A webhook delivery only ever
// triggers: its payload is not trusted as the answer.
func (w *Watcher) Trigger(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for u, rf := range w.refs {
		if name != "" && u.Name != name {
			continue
		}
		select {
		case rf.trigger <- struct{}{}:
		default:
		}
		n++
	}
	return n
}

// Refresh re-checks every watched URI now and returns when all checks are
// done, with the errors of those that failed. A check already in progress
// for a URI is waited for, until ctx ends; each check is bounded by
// CheckTimeout and the resolver's deadlines.
func (w *Watcher) Refresh(ctx context.Context) error {
	w.mu.Lock()
	refs := make([]*ref, 0, len(w.refs))
	for _, rf := range w.refs {
		refs = append(refs, rf)
	}
	w.mu.Unlock()
	var errs []error
	for _, rf := range refs {
		if err := w.checkNow(ctx, rf, true); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rf.uri, err))
		}
	}
	return errors.Join(errs...)
}

// Status returns the state of every watched URI, sorted by URI.
func (w *Watcher) Status() []RefStatus {
	w.mu.Lock()
	out := make([]RefStatus, 0, len(w.refs))
	for _, rf := range w.refs {
		rf.mu.Lock()
		out = append(out, rf.st)
		rf.mu.Unlock()
	}
	w.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].URI < out[j].URI })
	return out
}

// StatusOf returns the state of one watched URI.
func (w *Watcher) StatusOf(u URI) (RefStatus, bool) {
	w.mu.Lock()
	rf, ok := w.refs[u]
	w.mu.Unlock()
	if !ok {
		return RefStatus{}, false
	}
	rf.mu.Lock()
	defer rf.mu.Unlock()
	return rf.st, true
}

func (w *Watcher) loop(ctx context.Context, rf *ref) {
	defer w.wg.Done()
	t := time.NewTimer(w.delay(rf))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-rf.trigger:
		}
		w.checkNow(ctx, rf, false)
		t.Reset(w.delay(rf))
	}
}

// delay is the wait before rf's next check: the poll interval with jitter,
// or sooner when a failed version is due for a retry.
func (w *Watcher) delay(rf *ref) time.Duration {
	d := w.cfg.PollInterval
	if j := w.cfg.Jitter; j > 0 {
		d = time.Duration(float64(d) * (1 + j*(2*rand.Float64()-1)))
	}
	rf.mu.Lock()
	retry, gaveUp := rf.nextRetry, rf.st.GaveUp
	rf.mu.Unlock()
	if until := time.Until(retry); !gaveUp && until > 0 && until < d {
		d = until
	}
	return d
}

// Span names and attributes of a check. Each check is the root of its own
// trace, named CheckSpan; CheckChanged says whether it changed anything
// the Watcher reports (the version serving, an error, a pending or given-up
// version, a vanished URI), so that a tracing backend can be spared the
// checks that changed nothing (telemetry drops them).
const (
	CheckSpan    = "mlgate.check"
	CheckChanged = "mlgate.check.changed"
	CheckOutcome = "mlgate.check.outcome"
)

// checkNow asks the registry what rf points at and deploys a new version,
// inside a CheckSpan. force skips a pending retry's backoff (an explicit
// refresh).
func (w *Watcher) checkNow(ctx context.Context, rf *ref, force bool) (err error) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.CheckTimeout)
	defer cancel()
	select {
	case rf.check <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("waiting for the check in progress: %w", ctx.Err())
	}
	defer func() { <-rf.check }()
	defer w.report(rf)
	ctx, span := w.cfg.Tracer.Start(ctx, CheckSpan, trace.WithAttributes(
		attribute.String("model.uri", rf.uri.String()), attribute.String("model.name", rf.uri.Name),
		attribute.String("model.alias", rf.uri.Alias)))
	before := rf.fingerprint()
	outcome := "unchanged"
	defer func() {
		span.SetAttributes(attribute.String(CheckOutcome, outcome), attribute.Bool(CheckChanged, rf.fingerprint() != before))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}()
	now := time.Now()
	mv, serving, withdrawn, err := w.ask(ctx, rf, now)
	switch {
	case errors.Is(err, ErrNotFound):
		outcome = "missing"
		return err
	case err != nil:
		outcome = "failed"
		return err
	}
	key := versionKey(mv)
	if serving != nil && key == resolutionKey(serving) && !withdrawn {
		w.unchanged(rf)
		return nil
	}
	if mv.Status != StatusReady {
		outcome = "not_ready"
		err := fmt.Errorf("model %s version %s has status %q, not READY: %w", mv.Name, mv.Version, mv.Status, ErrNotReady)
		rf.mu.Lock()
		rf.notReady = mv.Version
		rf.mu.Unlock()
		w.failed(rf, now, "", err, false)
		w.cfg.Logger.Warn("new version is not READY: not served", "uri", rf.uri.String(), "version", mv.Version, "status", mv.Status)
		return err
	}
	if !w.due(rf, key, now, force) {
		outcome = "waiting"
		return nil
	}
	outcome = "moved"
	return w.deployMoved(ctx, rf, now, key, mv, serving)
}

// fingerprint sums up what Status reports of rf, but for the check counts
// and times, to tell a check that changed something.
func (rf *ref) fingerprint() string {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	st := rf.st
	serving := ""
	if st.Serving != nil {
		serving = resolutionKey(st.Serving)
	}
	return fmt.Sprintf("%q %t %t %t %q %q %d %t %d %d", serving, st.FromCache, st.Missing, st.Withdrawn,
		st.LastError, st.Pending, st.PendingFailures, st.GaveUp, st.Swaps, st.Failures)
}

// ask asks the registry what rf points at now, and records the check: a
// failure, a vanished URI, or an answer. It returns the version rf serves
// and whether it was withdrawn, as they were when the check started.
func (w *Watcher) ask(ctx context.Context, rf *ref, now time.Time) (*ModelVersion, *Resolution, bool, error) {
	rf.mu.Lock()
	rf.st.Checks++
	rf.st.LastCheck = now // before the call, so a hanging registry shows as stale
	serving := rf.st.Serving
	rf.mu.Unlock()
	mv, err := w.r.Check(ctx, rf.uri)
	switch {
	case errors.Is(err, ErrNotFound):
		w.missing(rf, now, err)
		return nil, serving, false, err
	case err != nil:
		rf.mu.Lock()
		rf.unreachable = true
		rf.mu.Unlock()
		w.failed(rf, now, "", err, false)
		w.cfg.Logger.Warn("registry check failed: still serving the current version",
			"uri", rf.uri.String(), "serving", versionOf(serving), "err", err)
		return nil, serving, false, err
	}
	rf.mu.Lock()
	rf.st.LastSuccess = now
	wasMissing, withdrawn := rf.st.Missing, rf.st.Withdrawn
	rf.st.Missing, rf.unreachable, rf.notReady = false, false, ""
	rf.mu.Unlock()
	if wasMissing {
		w.cfg.Logger.Info("model URI is back in the registry", "uri", rf.uri.String(), "version", mv.Version)
	}
	return mv, serving, withdrawn, nil
}

// unchanged records a check that found the version serving: the registry
// answered, and a version that was failing is no longer pending.
func (w *Watcher) unchanged(rf *ref) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	rf.st.FromCache = false
	if rf.failKey != "" { // the alias moved back to what serves
		rf.failKey, rf.failures, rf.faults, rf.nextRetry = "", 0, 0, time.Time{}
		rf.st.Pending, rf.st.PendingFailures, rf.st.GaveUp = "", 0, false
	}
	rf.st.LastError = ""
}

// due reports whether the new version key should be tried now: not given
// up on, and past its retry backoff unless force.
func (w *Watcher) due(rf *ref, key string, now time.Time, force bool) bool {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	if rf.failKey != key {
		rf.failKey, rf.failures, rf.faults, rf.nextRetry = key, 0, 0, time.Time{}
		rf.st.Pending, rf.st.PendingFailures, rf.st.GaveUp = "", 0, false
	}
	gaveUp := rf.faults >= w.cfg.MaxAttempts
	early := !force && now.Before(rf.nextRetry)
	return !gaveUp && !early
}

// deployMoved resolves, fetches and deploys the version rf moved to (mv,
// key), and records the swap or the failure.
func (w *Watcher) deployMoved(ctx context.Context, rf *ref, now time.Time, key string, mv *ModelVersion, serving *Resolution) error {
	ctx, span := w.startUpdate(ctx, rf.uri, "moved")
	defer span.End()
	rf.mu.Lock()
	rf.loading = mv.Version
	if mv.Name == "" {
		rf.loading = mv.Source
	}
	retry := rf.failKey == key && rf.failures > 0
	rf.mu.Unlock()
	w.report(rf)
	defer func() {
		rf.mu.Lock()
		rf.loading = ""
		rf.mu.Unlock()
	}()
	if !retry {
		w.event(WatchEvent{Kind: WatchMoved, URI: rf.uri, At: now, Version: keyVersion(key), FromVersion: versionOf(serving)})
	}
	res, dir, err := w.resolveAndFetch(ctx, rf.uri)
	if err == nil {
		if resolutionKey(res) != key {
			// The URI moved again between Check and Resolve: deploy what
			// Resolve saw, it is the newer answer.
			key = resolutionKey(res)
		}
		err = w.d.Deploy(ctx, rf.uri, res, dir)
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		w.failed(rf, now, key, err, true)
		rf.mu.Lock()
		n, gave := rf.failures, rf.st.GaveUp
		rf.mu.Unlock()
		lvl := slog.LevelWarn
		if gave {
			lvl = slog.LevelError
		}
		msg := "new version failed to deploy: still serving the current version"
		if serving == nil {
			msg = "version failed to deploy: nothing serves this model yet"
		}
		w.cfg.Logger.Log(ctx, lvl, msg, "uri", rf.uri.String(), "version", mv.Version, "serving", versionOf(serving),
			"attempt", n, "max_attempts", w.cfg.MaxAttempts, "gave_up", gave, "err", err)
		ev := WatchEvent{Kind: WatchFailed, URI: rf.uri, Version: keyVersion(key), FromVersion: versionOf(serving), Err: err, Attempt: n}
		w.event(ev)
		if gave {
			ev.Kind = WatchGaveUp
			w.event(ev)
		}
		return err
	}
	w.served(rf, res, time.Now(), false)
	return nil
}

// missing handles an alias or version that the registry says is gone.
func (w *Watcher) missing(rf *ref, now time.Time, err error) {
	rf.mu.Lock()
	rf.st.LastSuccess = now
	wasMissing := rf.st.Missing
	rf.st.Missing, rf.unreachable, rf.notReady = true, false, ""
	rf.st.LastError, rf.st.LastErrorAt = err.Error(), now
	serving := rf.st.Serving
	withdraw := w.cfg.OnMissing == MissingWithdraw && !rf.st.Withdrawn
	if withdraw {
		rf.st.Withdrawn = true
	}
	rf.mu.Unlock()
	if !wasMissing {
		w.event(WatchEvent{Kind: WatchMissing, URI: rf.uri, At: now, FromVersion: versionOf(serving), Err: err})
	}
	if withdraw {
		w.cfg.Logger.Error("model URI vanished from the registry: withdrawn, requests get 503",
			"uri", rf.uri.String(), "was_serving", versionOf(serving), "err", err)
		w.report(rf) // before the withdrawal, so that its 503s say why
		w.d.Withdraw(rf.uri, err)
		return
	}
	w.cfg.Logger.Error("model URI vanished from the registry: still serving the last good version (stale)",
		"uri", rf.uri.String(), "serving", versionOf(serving), "err", err)
}

// failed records a failure; counted marks a failure of the version key
// (download or load), which counts towards giving up on it.
func (w *Watcher) failed(rf *ref, now time.Time, key string, err error, counted bool) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	rf.st.LastError, rf.st.LastErrorAt = err.Error(), now
	if !counted {
		return
	}
	rf.st.Failures++
	if rf.failKey != key {
		rf.failKey, rf.failures, rf.faults = key, 0, 0
	}
	rf.failures++
	if !errors.Is(err, errUnreachable) {
		rf.faults++
	}
	backoff := w.cfg.RetryBackoff << min(rf.failures-1, 16)
	backoff = min(backoff, 4*w.cfg.PollInterval)
	rf.nextRetry = now.Add(backoff)
	rf.st.Pending = keyVersion(key)
	rf.st.PendingFailures = rf.failures
	rf.st.GaveUp = rf.faults >= w.cfg.MaxAttempts
}

func versionOf(r *Resolution) string {
	if r == nil {
		return ""
	}
	if r.Version != "" {
		return r.Version
	}
	return r.ModelID
}

// versionKey identifies what a check found: a version is the same version
// when its name, number and creation time agree (names and numbers are
// reused after a registered model is deleted and re-created).
func versionKey(mv *ModelVersion) string {
	id := mv.Version
	if mv.Name == "" {
		id = mv.Source
	}
	return mv.Name + "\x00" + id + "\x00" + strconv.FormatInt(mv.CreationTimestamp, 10)
}

func resolutionKey(r *Resolution) string {
	id := r.Version
	if r.Name == "" {
		id = r.URI.String()
	}
	return r.Name + "\x00" + id + "\x00" + strconv.FormatInt(r.CreationTimestamp, 10)
}

// keyVersion extracts the version from a versionKey, for status.
func keyVersion(key string) string {
	start, end := -1, -1
	for i := 0; i < len(key); i++ {
		if key[i] == 0 {
			if start < 0 {
				start = i + 1
			} else {
				end = i
				break
			}
		}
	}
	if start < 0 || end < 0 {
		return key
	}
	return key[start:end]
}
