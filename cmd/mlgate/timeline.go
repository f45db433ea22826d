package main

import (
	"fmt"
	"strings"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
)

// The status page's timeline: what the fleet and the watcher do, as
// serve.Events. The serving state records the swaps, withdrawals and
// retirements itself, in the order they happen.

// maxReason bounds the text of an event's reason (an error can be long).
const maxReason = 600

func clipReason(s string) string {
	if len(s) <= maxReason {
		return s
	}
	return s[:maxReason] + "…"
}

// watchEvent records what the watcher saw or did.
func (f *fleet) watchEvent(e resolver.WatchEvent) {
	ev := serve.Event{At: e.At, URI: e.URI.String(), Version: e.Version, FromVersion: e.FromVersion}
	switch e.Kind {
	case resolver.WatchMoved:
		ev.Kind = serve.EventAliasMoved
		ev.Reason = fmt.Sprintf("the registry points %s at version %s", e.URI, e.Version)
	case resolver.WatchFailed:
		ev.Kind = serve.EventLoadFailed
		ev.Reason = clipReason(fmt.Sprintf("attempt %d of %d; the current version keeps serving: %v", e.Attempt, e.MaxAttempts, e.Err))
	case resolver.WatchGaveUp:
		ev.Kind = serve.EventGaveUp
		ev.Reason = fmt.Sprintf("failed %d times; tried again only when %s points elsewhere", e.Attempt, e.URI)
	case resolver.WatchMissing:
		ev.Kind = serve.EventMissing
		ev.Reason = clipReason(fmt.Sprint(e.Err))
	default:
		return
	}
	f.server.RecordEvent(ev)
}

// recordLoad records a version loaded and warmed up for u.
func (f *fleet) recordLoad(u resolver.URI, res *resolver.Resolution, info infer.Info) {
	f.server.RecordEvent(serve.Event{Kind: serve.EventLoad, URI: u.String(), Version: res.Version,
		Seconds: info.LoadDuration.Seconds(), Reason: fmt.Sprintf("%s of model files", bytesText(info.Bytes))})
	f.server.RecordEvent(serve.Event{Kind: serve.EventWarmup, URI: u.String(), Version: res.Version,
		Seconds: info.WarmupDuration.Seconds(), Reason: fmt.Sprintf("%d worker(s), batching %s", info.Workers, info.Batching)})
}

// remember keeps the provenance of the version loaded under key.
func (f *fleet) remember(key string, p serve.Provenance) {
	f.provsMu.Lock()
	defer f.provsMu.Unlock()
	f.provs[key] = p
}

// provenanceOf returns the provenance of the version loaded under key.
func (f *fleet) provenanceOf(key string) serve.Provenance {
	f.provsMu.Lock()
	defer f.provsMu.Unlock()
	return f.provs[key]
}

// forgetUnloaded drops the provenance of versions no longer loaded.
func (f *fleet) forgetUnloaded() {
	cached := map[string]bool{}
	for _, v := range f.models.Versions() {
		cached[v.Key] = true
	}
	f.provsMu.Lock()
	defer f.provsMu.Unlock()
	for k := range f.provs {
		if !cached[k] {
			delete(f.provs, k)
		}
	}
	f.mem.forget(func(k string) bool { return cached[k] })
}

// reloadEvent records a reload: accepted with the routes of next, or
// rejected with err.
func (a *app) reloadEvent(err error, next *lineup) {
	ev := serve.Event{Kind: serve.EventReload}
	if err != nil {
		ev.Reason = clipReason("rejected; the current routes keep serving: " + err.Error())
	} else {
		names := make([]string, 0, len(next.routes))
		for _, r := range next.routes {
			names = append(names, r.Name)
		}
		ev.Reason = "routes " + strings.Join(names, ", ")
	}
	a.server.RecordEvent(ev)
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
