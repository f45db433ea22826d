package main

import (
	"time"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
	"github.com/mlgate/mlgate/telemetry"
)

// sources feeds telemetry's observable instruments from mlgate's own state,
// read at each /metrics scrape.
func sources(server *serve.Server, models *infer.Cache, w *resolver.Watcher) telemetry.Sources {
	return telemetry.Sources{
		ActiveRequests: server.Inflight,
		LoadedVersions: func() (int64, int64, int64) {
			st := models.Stats()
			return int64(st.Versions), int64(st.Held), st.Bytes
		},
		LiveSessions: infer.LiveSessions,
		Staleness: func() []telemetry.URIStaleness {
			now := time.Now()
			var out []telemetry.URIStaleness
			for _, st := range w.Status() {
				out = append(out, telemetry.URIStaleness{URI: st.URI, Seconds: st.Staleness(now).Seconds(), Stale: st.Stale()})
			}
			return out
		},
		Swaps: func() []telemetry.URICount {
			var out []telemetry.URICount
			for _, st := range w.Status() {
				out = append(out, telemetry.URICount{URI: st.URI, Swaps: st.Swaps, Failures: st.Failures})
			}
			return out
		},
		Targets: func() []telemetry.TargetServing {
			var out []telemetry.TargetServing
			for _, r := range server.Status().Routes {
				for _, tg := range r.Targets {
					name := tg.Alias
					if name == "" {
						name = tg.URI
					}
					out = append(out, telemetry.TargetServing{Route: r.Name, Target: name, Status: tg.ServingStatus})
				}
			}
			return out
		},
		TargetStatuses: []string{serve.ServingCurrent, string(resolver.ServingLoading), string(resolver.ServingLoadFailed),
			string(resolver.ServingGaveUp), string(resolver.ServingNotReady), string(resolver.ServingMissing), string(resolver.ServingUnreachable)},
		Shadow: func() []telemetry.ShadowFigures {
			var out []telemetry.ShadowFigures
			for _, r := range server.Status().Routes {
				sh := r.Shadow
				if sh == nil {
					continue
				}
				f := telemetry.ShadowFigures{Route: r.Name, ShadowURI: sh.URI, Sampled: sh.Sampled,
					Dropped: sh.Dropped, Errors: sh.Errors, Compared: sh.Compared,
					MeanLatencyDiffSeconds: sh.Latency.MeanDiff / 1e3}
				for name, o := range sh.Outputs {
					f.Outputs = append(f.Outputs, telemetry.OutputFigures{Output: name, Values: o.Values,
						Disagreements: o.Disagreements, Numeric: o.Numeric, MeanAbsDiff: o.MeanAbsDiff, P99AbsDiff: o.P99AbsDiff})
				}
				out = append(out, f)
			}
			return out
		},
	}
}
