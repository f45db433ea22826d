package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/mlgate/mlgate/infer"
	"github.com/mlgate/mlgate/resolver"
	"github.com/mlgate/mlgate/serve"
)

// operator backs serve's admin and webhook endpoints with the watcher, the
// webhook receiver and the loaded-model cache.
type operator struct {
	watcher *resolver.Watcher
	hooks   *resolver.WebhookReceiver
	models  *infer.Cache
	fleet   *fleet
	demand  *demand // nil without registry routes
	log     *slog.Logger
	reload  func(context.Context) error
}

var _ serve.Operator = (*operator)(nil)

func (o *operator) Follow(uri string) (serve.FollowStatus, bool) {
	u, err := resolver.ParseURI(uri)
	if err != nil {
		return serve.FollowStatus{}, false
	}
	st, ok := o.watcher.StatusOf(u)
	if !ok {
		return serve.FollowStatus{}, false
	}
	return serve.FollowStatus{
		LastCheck: st.LastCheck, LastSuccess: st.LastSuccess,
		StalenessSeconds: st.Staleness(time.Now()).Seconds(), Stale: st.Stale(),
		Missing: st.Missing, Withdrawn: st.Withdrawn, FromCache: st.FromCache,
		LastError: st.LastError, LastErrorAt: st.LastErrorAt,
		PendingVersion: st.Pending, PendingFailures: st.PendingFailures, GaveUp: st.GaveUp,
		Checks: st.Checks, Failures: st.Failures,
	}, true
}

func (o *operator) Refresh(ctx context.Context) error {
	if err := o.watcher.Refresh(ctx); err != nil {
		return fmt.Errorf("%w: %w", serve.ErrUnavailable, err)
	}
	return nil
}

func (o *operator) Webhook(id, timestamp, signature string, body []byte) error {
	ev, err := o.hooks.Verify(id, timestamp, signature, body)
	switch {
	case errors.Is(err, resolver.ErrWebhookDisabled):
		return fmt.Errorf("%w: %w", serve.ErrDisabled, err)
	case errors.Is(err, resolver.ErrWebhookUnauthorized):
		o.log.Warn("webhook delivery rejected", "delivery_id", id, "err", err)
		return fmt.Errorf("%w: %w", serve.ErrUnauthorized, err)
	case errors.Is(err, resolver.ErrWebhookReplay):
		return fmt.Errorf("%w: %w", serve.ErrConflict, err)
	case err != nil:
		return fmt.Errorf("%w: %w", serve.ErrInvalid, err)
	}
	n := 0
	if ev.Relevant() {
		n = o.watcher.Trigger(ev.Name)
	}
	o.log.Info("webhook delivery", "delivery_id", ev.DeliveryID, "event", ev.Entity+"."+ev.Action,
		"model", ev.Name, "alias", ev.Alias, "triggered", n)
	return nil
}

func (o *operator) Process() map[string]any {
	p := map[string]any{
		"onnxruntime":   infer.Version(),
		"live_sessions": infer.LiveSessions(),
		"model_cache":   o.models.Stats(),
	}
	if o.demand != nil {
		st := o.demand.status()
		var mem []map[string]any
		for _, v := range o.models.Versions() {
			use, _ := o.fleet.mem.use(v.Key)
			mem = append(mem, map[string]any{"key": v.Key, "file_bytes": v.Model.Bytes(), "rss_delta_bytes": use.RSSDelta,
				"rss_measured": use.Measured, "accounted_bytes": o.fleet.mem.accounted(v.Key, v.Model.Bytes())})
		}
		st["loaded_memory"] = mem
		p["registry_routes"] = st
	}
	return p
}

func (o *operator) Loaded() []serve.LoadedModel {
	var out []serve.LoadedModel
	for _, v := range o.models.Versions() {
		info := v.Model.Info()
		p := o.fleet.provenanceOf(v.Key)
		out = append(out, serve.LoadedModel{Name: p.Name, Version: p.Version, Bytes: v.Model.Bytes(), Refs: v.Model.Refs(),
			Serving: v.Held, Batching: info.Batching, Workers: info.Workers})
	}
	slices.SortFunc(out, func(a, b serve.LoadedModel) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(len(a.Version), len(b.Version)), cmp.Compare(a.Version, b.Version))
	})
	return out
}
