package serve

import (
	"encoding/json"
	"math"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/telemetry"
)

// LoadedModel is one model version loaded in memory, as the status page
// lists it.
type LoadedModel struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Bytes is the size of its model files.
	Bytes int64 `json:"bytes"`
	// Refs counts the references held on it: one per serving state that
	// holds it, one for the loaded-model cache, one per request running on
	// it.
	Refs int64 `json:"refs"`
	// Serving is true while the live serving state holds it (pinned in
	// the cache); a version that is not is kept for a quick swap back.
	Serving bool `json:"serving"`
	// Batching and Workers are how it runs requests.
	Batching string `json:"batching"`
	Workers  int    `json:"workers"`
}

// StatusFeed is the body of GET /admin/status, what the status page shows:
// per route and target the version serving and why, the split and how each
// version behaves over the last 1, 5 and 15 minutes, shadow comparisons,
// registry staleness, the loaded versions, admission, and the timeline.
type StatusFeed struct {
	Version   string    `json:"version"`
	Now       time.Time `json:"now"`
	StartedAt time.Time `json:"started_at"`
	Ready     bool      `json:"ready"`
	Draining  bool      `json:"draining"`
	// WindowSeconds are the windows each figure is given over.
	WindowSeconds []float64       `json:"window_seconds"`
	DefaultRoute  string          `json:"default_route"`
	Admission     AdmissionStatus `json:"admission"`
	Routes        []RouteFeed     `json:"routes"`
	Loaded        []LoadedModel   `json:"loaded"`
	Process       map[string]any  `json:"process,omitempty"`
	// Events are the timeline's events after the seq the request asked
	// for (?since=), at most 200, oldest first; EventsNext is the Seq of
	// the newest, to ask for the next ones.
	Events     []Event `json:"events"`
	EventsNext int64   `json:"events_next"`
}

// RouteFeed is one route in the status feed.
type RouteFeed struct {
	Name     string       `json:"name"`
	Default  bool         `json:"default"`
	Sticky   *StickySpec  `json:"sticky,omitempty"`
	Override bool         `json:"override"`
	Targets  []TargetFeed `json:"targets"`
	// Refused are the route's requests answered before a target was
	// chosen (wrong method, admission, unknown alias), per window.
	Refused []WindowFeed `json:"refused"`
	Shadow  *ShadowFeed  `json:"shadow,omitempty"`
	// OnDemand marks a registered model a registry route loaded for a
	// request (docs/registry-routes.md).
	OnDemand bool `json:"on_demand,omitempty"`
}

// TargetFeed is one target of a route in the status feed.
type TargetFeed struct {
	URI   string `json:"uri"`
	Alias string `json:"alias,omitempty"`
	// Weight is the configured weight, ConfiguredShare its share of the
	// route's weights.
	Weight          float64 `json:"weight"`
	ConfiguredShare float64 `json:"configured_share"`
	// Serving is the version serving the target; nil before it loads and
	// after a withdrawal.
	Serving  *ServingFeed  `json:"serving"`
	Registry *FollowStatus `json:"registry,omitempty"`
	// Windows are its requests per window (WindowSeconds) answered by the
	// version serving it now.
	Windows []WindowFeed `json:"windows"`
	// AllVersions are its requests per window whatever version answered
	// them: the observed split. Their Share is of the route's targets'
	// AllVersions.
	AllVersions []WindowFeed `json:"all_versions"`
	// Retired are the versions that served the target in the last 15
	// minutes and no longer do, newest first, with the requests they
	// answered per window.
	Retired []RetiredFeed `json:"retired"`
}

// RetiredFeed is a version that served a target and no longer does.
type RetiredFeed struct {
	Version   string       `json:"version"`
	RetiredAt time.Time    `json:"retired_at"`
	Windows   []WindowFeed `json:"windows"`
}

// ServingFeed is the version serving a target: its provenance, since when,
// and a link to its run in the MLflow UI when the tracking server is
// HTTP(S) and the run's experiment is known.
type ServingFeed struct {
	Provenance
	LoadedSince time.Time `json:"loaded_since"`
	RunURL      string    `json:"run_url,omitempty"`
}

// WindowFeed is a target's (or a route's refused) requests over one
// window.
type WindowFeed struct {
	// Seconds is the span the figures cover: the window, up to 10 s more,
	// or less when the version has served for less.
	Seconds  float64          `json:"seconds"`
	Requests int64            `json:"requests"`
	ByClass  map[string]int64 `json:"by_class"`
	// Share is the target's share of the requests its route's targets
	// answered in the window: in Windows, among their current versions;
	// in AllVersions, the observed split.
	Share float64 `json:"share"`
	// ErrorRate is the share of 5xx among Requests.
	ErrorRate float64 `json:"error_rate"`
	// P50Ms and P99Ms are latency percentiles (request start to response),
	// in milliseconds, within 6.25%.
	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
}

// ShadowFeed is a route's shadow comparison: ShadowStatus (cumulative since
// the shadow was configured), plus the distribution of |Δ| of each numeric
// output by decade, for the chart.
type ShadowFeed struct {
	ShadowStatus
	AbsDiffDecades map[string][]DecadeCount `json:"abs_diff_decades"`
}

// DecadeCount counts the |Δ| values in [Lower, 10×Lower); the first decade
// (Lower 1e-9) also holds the values below it, down to 0, the last (Lower
// 1) those above.
type DecadeCount struct {
	Lower float64 `json:"lower"`
	Count int64   `json:"count"`
}

// maxFeedEvents bounds the events of one status response.
const maxFeedEvents = 200

// Feed returns the status feed with the events after seq.
func (s *Server) Feed(seq int64) StatusFeed {
	now := time.Now()
	st := StatusFeed{
		Version: s.cfg.Version, Now: now, StartedAt: s.started, Ready: s.Ready(), Draining: s.draining.Load(),
		Admission: s.admissionStatus(), Routes: []RouteFeed{}, Loaded: []LoadedModel{},
	}
	for _, d := range telemetry.WindowLengths {
		st.WindowSeconds = append(st.WindowSeconds, d.Seconds())
	}
	if op := s.cfg.Operator; op != nil {
		st.Loaded = append(st.Loaded, op.Loaded()...)
		st.Process = op.Process()
	}
	st.Events, st.EventsNext = s.events.since(seq, maxFeedEvents)
	if st.Events == nil {
		st.Events = []Event{}
	}
	snap := s.acquire()
	if snap == nil {
		return st
	}
	defer snap.release()
	if snap.def != nil {
		st.DefaultRoute = snap.def.name
	}
	for _, spec := range snap.specs {
		st.Routes = append(st.Routes, s.routeFeed(snap.routes[spec.Name], spec, snap.def, now))
	}
	return st
}

func (s *Server) routeFeed(r *route, spec RouteSpec, def *route, now time.Time) RouteFeed {
	rf := RouteFeed{Name: r.name, Default: r == def, Sticky: spec.Sticky, Override: !r.noOverride,
		Targets: make([]TargetFeed, 0, len(r.targets)), Refused: windowsOf(now, r.routeRec), OnDemand: r.onDemand}
	for i := range r.targets {
		tg := &r.targets[i]
		tf := TargetFeed{URI: tg.uri, Alias: tg.alias, Weight: tg.weight, Windows: windowsOf(now, tg.rec), Retired: []RetiredFeed{}}
		tf.AllVersions = slices.Clone(tf.Windows)
		if ins := s.cfg.Instruments; ins != nil && tg.rec != nil {
			retired := ins.Retired(r.name, targetName(tg))
			for _, rec := range retired {
				if rec.Version() == "" { // the target before its first version loaded
					continue
				}
				tf.Retired = append(tf.Retired, RetiredFeed{Version: rec.Version(), RetiredAt: rec.RetiredAt(), Windows: windowsOf(now, rec)})
			}
			tf.AllVersions = windowsOf(now, append([]*telemetry.RequestRecorder{tg.rec}, retired...)...)
		}
		if r.total > 0 {
			tf.ConfiguredShare = tg.weight / r.total
		}
		if d := tg.d; d != nil {
			tf.Serving = &ServingFeed{Provenance: d.prov, LoadedSince: d.since, RunURL: s.runURL(d.prov)}
		}
		if s.cfg.Operator != nil {
			if f, ok := s.cfg.Operator.Follow(tg.uri); ok {
				tf.Registry = &f
			}
		}
		rf.Targets = append(rf.Targets, tf)
	}
	for w := range telemetry.WindowLengths {
		var all, serving int64
		for _, tf := range rf.Targets {
			all += tf.AllVersions[w].Requests
			serving += tf.Windows[w].Requests
		}
		for i := range rf.Targets {
			tf := &rf.Targets[i]
			if all > 0 {
				tf.AllVersions[w].Share = float64(tf.AllVersions[w].Requests) / float64(all)
			}
			if serving > 0 {
				tf.Windows[w].Share = float64(tf.Windows[w].Requests) / float64(serving)
			}
		}
	}
	if sh := r.shadow; sh != nil {
		ss := sh.stats.status()
		ss.URI, ss.Alias, ss.Sample = sh.spec.URI, sh.spec.Alias, sh.sample
		if d := sh.d; d != nil {
			p := d.prov
			ss.Serving = &p
		}
		rf.Shadow = &ShadowFeed{ShadowStatus: ss, AbsDiffDecades: sh.stats.decades()}
	}
	return rf
}

// windowsOf returns the requests of recs together over each window;
// zeros without a recorder (no instruments).
func windowsOf(now time.Time, recs ...*telemetry.RequestRecorder) []WindowFeed {
	out := make([]WindowFeed, len(telemetry.WindowLengths))
	for i, d := range telemetry.WindowLengths {
		wf := WindowFeed{ByClass: map[string]int64{}}
		if len(recs) > 0 && recs[0] != nil {
			f := telemetry.Windows(now, d, recs...)
			wf.Seconds, wf.Requests = math.Round(f.Seconds), f.Requests
			for c, n := range f.ByClass {
				if n > 0 {
					wf.ByClass[telemetry.StatusClasses[c]] = n
				}
			}
			if f.Requests > 0 {
				wf.ErrorRate = float64(f.ByClass[4]) / float64(f.Requests)
			}
			wf.P50Ms, wf.P99Ms = ms(f.P50), ms(f.P99)
		}
		out[i] = wf
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

// runURL links a run to the MLflow UI:
// <tracking server>/#/experiments/<id>/runs/<run id>.
func (s *Server) runURL(p Provenance) string {
	if s.cfg.TrackingUI == "" || p.ExperimentID == "" || p.RunID == "" {
		return ""
	}
	return s.cfg.TrackingUI + "/#/experiments/" + url.PathEscape(p.ExperimentID) + "/runs/" + url.PathEscape(p.RunID)
}

// TrackingUI returns the base of the MLflow UI's links for a tracking
// URI: an http(s) URI without its user, password, query and fragment, or
// "" for any other (a local store has no UI).
func TrackingUI(trackingURI string) string {
	u, err := url.Parse(trackingURI)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment, u.ForceQuery = nil, "", "", "", false
	return trimSlash(u.String())
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}

// decades returns the |Δ| distribution of each numeric output by decade.
func (st *shadowStats) decades() map[string][]DecadeCount {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := map[string][]DecadeCount{}
	for name, od := range st.outputs {
		if !od.numeric {
			continue
		}
		dc := make([]DecadeCount, len(od.decades))
		for i, n := range od.decades {
			dc[i] = DecadeCount{Lower: decadeLower(i), Count: n}
		}
		out[name] = dc
	}
	return out
}

// numDecades are the decades of |Δ| counted: [0, 1e-8) (its Lower is
// 1e-9), [1e-8, 1e-7), ..., [0.1, 1), [1, ∞).
const numDecades = 10

func decadeLower(i int) float64 { return math.Pow(10, float64(i-9)) }

// decadeOf returns the decade of |Δ| = diff.
func decadeOf(diff float64) int {
	switch {
	case !(diff >= 1e-8): // NaN too
		return 0
	case diff >= 1:
		return numDecades - 1
	}
	return min(max(int(math.Floor(math.Log10(diff)))+9, 0), numDecades-1)
}

// status serves GET /admin/status.
func (s *Server) status(ctx *fasthttp.RequestCtx) {
	if !ctx.IsGet() {
		writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest, "/admin/status: use GET"), "")
		return
	}
	var since int64
	if v := ctx.QueryArgs().Peek("since"); len(v) > 0 {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n < 0 {
			writeError(ctx, errorf(fasthttp.StatusBadRequest, codeInvalidParameterValue,
				"/admin/status: since must be an event seq, a whole number >= 0"), "")
			return
		}
		since = n
	}
	body, err := json.Marshal(s.Feed(since))
	if err != nil {
		writeError(ctx, err, "")
		return
	}
	ctx.Response.Header.Set(fasthttp.HeaderCacheControl, "no-store")
	ctx.SetContentType("application/json")
	ctx.SetBody(body)
}

// tickWindows has the request recorders take a reading every
// telemetry.WindowTick, for the status page's windows, until the server
// stops.
func (s *Server) tickWindows() {
	defer close(s.ticksStopped)
	ins := s.cfg.Instruments
	if ins == nil {
		return
	}
	t := time.NewTicker(telemetry.WindowTick)
	defer t.Stop()
	for {
		select {
		case <-s.stopFiles:
			return
		case now := <-t.C:
			ins.Tick(now)
		}
	}
}
