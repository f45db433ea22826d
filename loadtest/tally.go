package loadtest

import (
	"bytes"
	"sync"
	"time"
)

// maxFlips bounds the flips a report records; a flapping alias would
// otherwise grow the list without bound.
const maxFlips = 1000

// outcome is one measured request as a worker hands it to the recorder.
// key and err are only read during add.
type outcome struct {
	intended, sent, done time.Duration // offsets from t0
	status               int           // 0 when no response
	errKind              string        // set when no response
	err                  error
	key                  []byte // provenance key, see appendProvenanceKey
	bytesIn              int
}

// recorder accumulates the measured outcomes of a run: histograms, counts,
// per-target tallies, alias flips and the per-second series. It is safe for
// concurrent use; add holds one mutex for a few histogram updates, and
// allocates only when it meets a new target, status, error kind or second.
type recorder struct {
	mu sync.Mutex

	measureStart time.Duration
	lateAfter    time.Duration
	openLoop     bool

	sent, responses, ok, httpErrors, transportErrors, late, bytesIn int64

	lat, svc, lag *latencyHist
	statuses      map[int]int64
	errs          map[string]*ErrorCount
	errOrder      []*ErrorCount

	targets    map[string]*targetStats
	targetList []*targetStats
	aliases    map[string]*aliasState

	flips        []Flip
	flipsDropped int64

	last   time.Duration // latest done offset of a measured request
	cur    *secondBucket
	series []Second
	free   []*latencyHist
}

type targetStats struct {
	idx       int
	t         Target
	responses int64
	ok        int64
	lat       *latencyHist
	statuses  map[int]int64
	alias     *aliasState // nil when responses carry no alias
}

// aliasState follows which version serves one (model, alias).
type aliasState struct {
	cur    string
	seen   int64
	flip   int           // index in recorder.flips of the latest flip, -1 if none
	flipAt time.Duration // done offset of that flip
}

type secondBucket struct {
	t                     int
	responses, ok, errors int64
	lat                   *latencyHist
	targets               []*targetSecondAcc // indexed by target idx
}

type targetSecondAcc struct {
	responses, ok int64
	lat           *latencyHist
}

func newRecorder(measureStart, lateAfter time.Duration, openLoop bool) *recorder {
	return &recorder{
		measureStart: measureStart,
		lateAfter:    lateAfter,
		openLoop:     openLoop,
		lat:          newLatencyHist(),
		svc:          newLatencyHist(),
		lag:          newLatencyHist(),
		statuses:     make(map[int]int64),
		errs:         make(map[string]*ErrorCount),
		targets:      make(map[string]*targetStats),
		aliases:      make(map[string]*aliasState),
	}
}

// appendProvenanceKey appends the target key for the given header values.
// HTTP header values cannot hold NUL, so NUL separates them unambiguously.
func appendProvenanceKey(dst, route, model, alias, version, runID []byte) []byte {
	for i, v := range [...][]byte{route, model, alias, version, runID} {
		if i > 0 {
			dst = append(dst, 0)
		}
		dst = append(dst, v...)
	}
	return dst
}

func (r *recorder) add(o *outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()

	r.sent++
	// Workers race to the lock, so done offsets arrive slightly out of
	// order; bucketing by the latest one seen keeps the series monotonic.
	r.last = max(r.last, o.done)
	b := r.bucket(r.last)

	if r.openLoop {
		lag := o.sent - o.intended
		r.lag.record(micros(lag))
		if lag > r.lateAfter {
			r.late++
		}
	}

	if o.status == 0 {
		r.transportErrors++
		b.errors++
		e := r.errs[o.errKind]
		if e == nil {
			e = &ErrorCount{Kind: o.errKind}
			if o.err != nil {
				e.Example = o.err.Error()
			}
			r.errs[o.errKind] = e
			r.errOrder = append(r.errOrder, e)
		}
		e.Count++
		return
	}

	lat := micros(o.done - o.intended)
	r.responses++
	r.bytesIn += int64(o.bytesIn)
	r.lat.record(lat)
	r.svc.record(micros(o.done - o.sent))
	r.statuses[o.status]++
	ok := o.status >= 200 && o.status < 300
	if ok {
		r.ok++
	} else {
		r.httpErrors++
		b.errors++
	}
	b.responses++
	b.lat.record(lat)

	ts := r.targets[string(o.key)]
	if ts == nil {
		ts = r.newTarget(o.key)
	}
	ts.responses++
	ts.lat.record(lat)
	ts.statuses[o.status]++
	for len(b.targets) <= ts.idx {
		b.targets = append(b.targets, nil)
	}
	tb := b.targets[ts.idx]
	if tb == nil {
		tb = &targetSecondAcc{lat: r.getHist()}
		b.targets[ts.idx] = tb
	}
	tb.responses++
	tb.lat.record(lat)
	if ok {
		ts.ok++
		b.ok++
		tb.ok++
	}
	if ts.alias != nil {
		r.observeAlias(ts, o)
	}
}

func (r *recorder) newTarget(key []byte) *targetStats {
	parts := bytes.SplitN(key, []byte{0}, 5)
	for len(parts) < 5 {
		parts = append(parts, nil)
	}
	ts := &targetStats{
		idx: len(r.targetList),
		t: Target{Route: string(parts[0]), Model: string(parts[1]), Alias: string(parts[2]),
			Version: string(parts[3]), RunID: string(parts[4])},
		lat:      newLatencyHist(),
		statuses: make(map[int]int64),
	}
	if ts.t.Alias != "" {
		ak := ts.t.Model + "\x00" + ts.t.Alias
		a := r.aliases[ak]
		if a == nil {
			a = &aliasState{flip: -1}
			r.aliases[ak] = a
		}
		ts.alias = a
	}
	r.targets[string(key)] = ts
	r.targetList = append(r.targetList, ts)
	return ts
}

// observeAlias advances the flip timeline of ts's alias. A response from the
// version an alias just left counts as interleaved when its request was sent
// before the flip (it was in flight); sent after the flip, it is a flip back.
func (r *recorder) observeAlias(ts *targetStats, o *outcome) {
	a := ts.alias
	v := ts.t.Version
	seq := a.seen
	a.seen++
	switch {
	case seq == 0 || v == a.cur:
		a.cur = v
		return
	case a.flip >= 0 && v == r.flips[a.flip].From && o.sent < a.flipAt:
		f := &r.flips[a.flip]
		f.Interleaved++
		f.LastOld = seconds(o.done - r.measureStart)
		return
	}
	from := a.cur
	a.cur = v
	if len(r.flips) >= maxFlips {
		r.flipsDropped++
		a.flip = -1
		return
	}
	at := seconds(o.done - r.measureStart)
	r.flips = append(r.flips, Flip{
		Model: ts.t.Model, Alias: ts.t.Alias, From: from, To: v,
		At: at, Seq: seq, LastOld: at,
	})
	a.flip = len(r.flips) - 1
	a.flipAt = o.done
}

func seconds(d time.Duration) float64 { return d.Seconds() }

// bucket returns the series bucket for completion offset at, closing the
// buckets of earlier seconds.
func (r *recorder) bucket(at time.Duration) *secondBucket {
	t := 0
	if d := at - r.measureStart; d > 0 {
		t = int(d / time.Second)
	}
	if r.cur != nil && r.cur.t == t {
		return r.cur
	}
	if r.cur != nil {
		r.closeBucket()
	}
	for len(r.series) < t {
		r.series = append(r.series, Second{T: len(r.series)})
	}
	r.cur = &secondBucket{t: t, lat: r.getHist()}
	return r.cur
}

func (r *recorder) closeBucket() {
	b := r.cur
	s := Second{T: b.t, Responses: b.responses, OK: b.ok, Errors: b.errors, Latency: b.lat.percentiles()}
	for i, tb := range b.targets {
		if tb == nil {
			continue
		}
		s.Targets = append(s.Targets, TargetSecond{Target: i, Responses: tb.responses, OK: tb.ok, Latency: tb.lat.percentiles()})
		r.putHist(tb.lat)
	}
	r.putHist(b.lat)
	r.series = append(r.series, s)
	r.cur = nil
}

func (r *recorder) getHist() *latencyHist {
	if n := len(r.free); n > 0 {
		h := r.free[n-1]
		r.free = r.free[:n-1]
		return h
	}
	return newLatencyHist()
}

func (r *recorder) putHist(h *latencyHist) {
	h.reset()
	r.free = append(r.free, h)
}
