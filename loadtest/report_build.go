package loadtest

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// report assembles the Report once every worker has finished.
func (r *runner) report() *Report {
	rec := r.rec
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.cur != nil {
		rec.closeBucket()
	}

	c := &r.cfg
	rep := &Report{
		Config: r.runConfig(),
		Start:  r.t0.Add(r.plan.measureStart).UTC().Round(0),
	}
	end := rec.last
	if at := time.Duration(r.stopAt.Load()); at > end && r.unsent.Load() > 0 {
		end = at
	}
	if d := end - r.plan.measureStart; d > 0 && rec.sent+r.unsent.Load() > 0 {
		rep.ElapsedSeconds = d.Seconds()
	}

	rep.Requests = Counts{
		Sent:            rec.sent,
		Responses:       rec.responses,
		OK:              rec.ok,
		HTTPErrors:      rec.httpErrors,
		TransportErrors: rec.transportErrors,
		Unsent:          r.unsent.Load(),
		Late:            rec.late,
		Warmup:          r.warmup.Load(),
		BytesIn:         rec.bytesIn,
		Dials:           r.conns.dials.Load(),
	}
	rep.Requests.Scheduled = rep.Requests.Sent + rep.Requests.Unsent
	if rep.ElapsedSeconds > 0 {
		rep.Throughput = Throughput{
			Total: float64(rec.responses) / rep.ElapsedSeconds,
			OK:    float64(rec.ok) / rep.ElapsedSeconds,
		}
	}
	rep.Latency = rec.lat.summary()
	rep.ServiceTime = rec.svc.summary()
	if c.openLoop() {
		rep.SendLag = rec.lag.summary()
	}
	rep.Statuses = statusCounts(rec.statuses)
	for _, e := range rec.errOrder {
		rep.TransportErrors = append(rep.TransportErrors, *e)
	}
	sort.SliceStable(rep.TransportErrors, func(i, j int) bool {
		return rep.TransportErrors[i].Count > rep.TransportErrors[j].Count
	})

	// Targets are reported most responses first; per-second entries refer
	// to them by their new index.
	order := make([]*targetStats, len(rec.targetList))
	copy(order, rec.targetList)
	sort.SliceStable(order, func(i, j int) bool {
		if order[i].responses != order[j].responses {
			return order[i].responses > order[j].responses
		}
		return targetLess(order[i].t, order[j].t)
	})
	remap := make([]int, len(order))
	for newIdx, ts := range order {
		remap[ts.idx] = newIdx
		tr := TargetReport{
			Target:    ts.t,
			Responses: ts.responses,
			OK:        ts.ok,
			Latency:   ts.lat.summary(),
			Statuses:  statusCounts(ts.statuses),
		}
		if rec.responses > 0 {
			tr.Share = float64(ts.responses) / float64(rec.responses)
		}
		rep.Targets = append(rep.Targets, tr)
	}
	labelTargets(rep.Targets)
	rep.Tally = tally(rep.Targets)

	rep.Series = rec.series
	for i := range rep.Series {
		ts := rep.Series[i].Targets
		for j := range ts {
			ts[j].Target = remap[ts[j].Target]
		}
		sort.Slice(ts, func(a, b int) bool { return ts[a].Target < ts[b].Target })
	}
	rep.Flips = rec.flips
	rep.FlipsDropped = rec.flipsDropped

	if c.ExpectSplit != nil {
		observed := make(map[string]int64)
		for _, t := range rep.Targets {
			k := t.Alias
			if c.ExpectSplit.By == SplitByVersion {
				k = t.Version
			}
			observed[k] += t.Responses
		}
		rep.Split = evaluateSplit(c.ExpectSplit, observed, c.Confidence)
	}
	return rep
}

func (r *runner) runConfig() RunConfig {
	c := &r.cfg
	rc := RunConfig{
		URL:         c.URL,
		Endpoint:    r.ep.uri,
		Route:       c.Route,
		Mode:        "closed",
		Rate:        c.Rate,
		Connections: c.Connections,
		Requests:    c.Requests,
		Warmup:      c.Warmup.String(),
		Timeout:     c.Timeout.String(),
		Grace:       c.Grace.String(),
		ContentType: c.Payload.ContentType,
		Bodies:      len(c.Payload.Bodies),
		BodyBytes:   len(c.Payload.Bodies[0]),
		Keys:        c.Keys,
		KeyOrder:    c.KeyOrder.String(),
		Confidence:  c.Confidence,
	}
	if c.Duration > 0 {
		rc.Duration = c.Duration.String()
	}
	if c.openLoop() {
		rc.Mode = "open"
		rc.MaxInFlight = c.MaxInFlight
		rc.LateAfter = c.LateAfter.String()
	}
	for _, h := range c.Headers {
		rc.Headers = append(rc.Headers, h.Name+": "+h.Value)
	}
	if c.ExpectSplit != nil {
		rc.ExpectSplit = c.ExpectSplit.String()
	}
	return rc
}

func statusCounts(m map[int]int64) []StatusCount {
	var out []StatusCount
	for s, n := range m {
		out = append(out, StatusCount{Status: s, Count: n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Status < out[j].Status })
	return out
}

func targetLess(a, b Target) bool {
	if a.Route != b.Route {
		return a.Route < b.Route
	}
	if a.Model != b.Model {
		return a.Model < b.Model
	}
	if a.Alias != b.Alias {
		return a.Alias < b.Alias
	}
	if a.Version != b.Version {
		return versionLess(a.Version, b.Version)
	}
	return a.RunID < b.RunID
}

// versionLess orders numeric versions numerically, others as strings.
func versionLess(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	if errA == nil && errB == nil {
		return x < y
	}
	return a < b
}

// labelTargets names each target by the parts that tell the targets apart:
// the route and the model only when they vary, then the alias and "v" +
// version, e.g. "champion v1" or "canary: churn-gbm@champion v1".
func labelTargets(ts []TargetReport) {
	routes, models := map[string]bool{}, map[string]bool{}
	for _, t := range ts {
		routes[t.Route] = true
		models[t.Model] = true
	}
	for i := range ts {
		ts[i].Label = targetLabel(ts[i].Target, len(routes) > 1, len(models) > 1)
	}
}

func targetLabel(t Target, withRoute, withModel bool) string {
	var parts []string
	if withRoute {
		r := t.Route
		if r == "" {
			r = "(no route)"
		}
		parts = append(parts, r+":")
	}
	name := t.Alias
	if withModel && t.Model != "" {
		name = t.Model
		if t.Alias != "" {
			name += "@" + t.Alias
		}
	}
	if name != "" {
		parts = append(parts, name)
	}
	if t.Version != "" {
		parts = append(parts, "v"+t.Version)
	}
	if name == "" && t.Version == "" {
		parts = append(parts, "(no provenance headers)")
	}
	return strings.Join(parts, " ")
}

func tally(ts []TargetReport) Tally {
	by := func(f func(Target) string) []NameCount {
		m := map[string]int64{}
		for _, t := range ts {
			m[f(t.Target)] += t.Responses
		}
		var out []NameCount
		for k, v := range m {
			out = append(out, NameCount{Name: k, Count: v})
		}
		sortNameCounts(out)
		return out
	}
	return Tally{
		ByVersion: by(func(t Target) string { return t.Version }),
		ByAlias:   by(func(t Target) string { return t.Alias }),
		ByRoute:   by(func(t Target) string { return t.Route }),
		ByModel:   by(func(t Target) string { return t.Model }),
	}
}
