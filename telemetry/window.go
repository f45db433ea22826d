package telemetry

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Latencies are counted in buckets of microseconds, eight per power of
// two: below 16µs one per microsecond, above it each bucket 1/8 wider than
// the one before, so that a quantile read from the buckets is within 6.25%
// of the truth. The last bucket also holds everything above 2^28µs (about
// 4.5 minutes).
const (
	latencySubBuckets = 8
	latencyMaxOctave  = 24
	numLatencyBuckets = latencySubBuckets*(latencyMaxOctave+1) + latencySubBuckets
)

// latencyBucket returns the bucket of a latency of us microseconds.
func latencyBucket(us int64) int {
	if us < 2*latencySubBuckets {
		return int(max(us, 0))
	}
	e := bits.Len64(uint64(us)) - 4 // us>>e is in [8, 16)
	if e > latencyMaxOctave {
		return numLatencyBuckets - 1
	}
	return e*latencySubBuckets + int(us>>e)
}

// latencyBucketRange returns the microseconds bucket i holds: [lo, hi).
func latencyBucketRange(i int) (lo, hi int64) {
	if i < 2*latencySubBuckets {
		return int64(i), int64(i) + 1
	}
	e := i/latencySubBuckets - 1
	m := int64(i - e*latencySubBuckets)
	return m << e, (m + 1) << e
}

// latencyCounts counts request latencies, cumulatively, with one atomic
// add per request.
type latencyCounts [numLatencyBuckets]atomic.Int64

func (c *latencyCounts) record(d time.Duration) {
	c[latencyBucket(d.Microseconds())].Add(1)
}

// inferCounts is the inference-time histogram of mlgate.inference.duration,
// in latencyBuckets, cumulative: counts per bucket (the last one above the
// highest bound) and the sum in nanoseconds.
type inferCounts struct {
	buckets [len(latencyBuckets) + 1]atomic.Int64
	sumNs   atomic.Int64
}

func (c *inferCounts) record(d time.Duration) {
	secs := d.Seconds()
	i := 0
	for i < len(latencyBuckets) && secs > latencyBuckets[i] {
		i++
	}
	c.buckets[i].Add(1)
	c.sumNs.Add(int64(d))
}

// counts are a recorder's cumulative counts at one moment.
type counts struct {
	classes [len(statusClasses)]int64
	latency [numLatencyBuckets]int64
}

func (r *RequestRecorder) read() *counts {
	c := &counts{}
	for p := range r.classes {
		for i := range r.classes[p] {
			c.classes[i] += r.classes[p][i].Load()
		}
	}
	for i := range r.latency {
		c.latency[i] = r.latency[i].Load()
	}
	return c
}

// Windows are computed from readings of the counts that Instruments.Tick
// takes every WindowTick and keeps for the longest window: each reading
// holds what was counted since the one before, the latencies sparsely. A
// window is what was counted since the newest reading at least its length
// old, so it covers between its length and its length plus one tick.
const (
	// WindowTick is how often Tick should be called.
	WindowTick = 10 * time.Second
	maxWindow  = 15 * time.Minute
	keepTicks  = int(maxWindow/WindowTick) + 1
)

// WindowLengths are the windows Window is meant for: 1, 5 and 15 minutes.
var WindowLengths = []time.Duration{time.Minute, 5 * time.Minute, maxWindow}

// reading is what a recorder counted between two ticks.
type reading struct {
	at      time.Time
	classes [len(statusClasses)]int64
	latency []bucketCount
}

type bucketCount struct {
	bucket int
	n      int64
}

// windows holds a recorder's recent readings.
type windows struct {
	mu       sync.Mutex
	readings []reading // oldest first
	last     *counts   // the counts at the newest reading; nil before one
}

// tick takes a reading at now.
func (r *RequestRecorder) tick(now time.Time) {
	cur := r.read()
	w := &r.win
	w.mu.Lock()
	defer w.mu.Unlock()
	rd := reading{at: now, classes: cur.classes}
	if w.last != nil {
		for i := range rd.classes {
			rd.classes[i] -= w.last.classes[i]
		}
	}
	for i, n := range cur.latency {
		if w.last != nil {
			n -= w.last.latency[i]
		}
		if n != 0 {
			rd.latency = append(rd.latency, bucketCount{i, n})
		}
	}
	if len(w.readings) == keepTicks {
		copy(w.readings, w.readings[1:])
		w.readings = w.readings[:keepTicks-1]
	}
	w.readings = append(w.readings, rd)
	w.last = cur
}

// WindowFigures are a recorder's requests over a recent window.
type WindowFigures struct {
	// Seconds is the span the figures cover: the window's length and up
	// to one WindowTick more, or less when the recorder is younger.
	Seconds float64
	// Requests counts the requests answered, ByClass them by status
	// class (1xx to 5xx).
	Requests int64
	ByClass  [5]int64
	// P50 and P99 are the median and 99th percentile of the requests'
	// latency (from the request's start to its response), zero without
	// requests.
	P50, P99 time.Duration
}

// StatusClasses names the entries of WindowFigures.ByClass.
var StatusClasses = statusClasses

// Window returns the recorder's requests over the last d before now (at
// most 15 minutes). It takes a reading of the live counts and a lock, not
// on the request path.
func (r *RequestRecorder) Window(now time.Time, d time.Duration) WindowFigures {
	return Windows(now, d, r)
}

// Windows returns the requests of recs together over the last d before
// now: their counts added up, the percentiles of all their latencies, and
// the longest span any of them covers.
func Windows(now time.Time, d time.Duration, recs ...*RequestRecorder) WindowFigures {
	var sum counts
	var f WindowFigures
	for _, r := range recs {
		c, from := r.windowCounts(now, d)
		for i := range c.classes {
			sum.classes[i] += c.classes[i]
		}
		for i := range c.latency {
			sum.latency[i] += c.latency[i]
		}
		f.Seconds = max(f.Seconds, max(now.Sub(from), 0).Seconds())
	}
	f.ByClass = sum.classes
	for _, n := range sum.classes {
		f.Requests += n
	}
	f.P50 = quantile(&sum.latency, 0.50)
	f.P99 = quantile(&sum.latency, 0.99)
	return f
}

// windowCounts returns what r counted over the last d before now, and
// where that span starts.
func (r *RequestRecorder) windowCounts(now time.Time, d time.Duration) (*counts, time.Time) {
	cur := r.read()
	from := r.start
	w := &r.win
	w.mu.Lock()
	defer w.mu.Unlock()
	if cut := now.Add(-d); w.last != nil && r.start.Before(cut) {
		// The newest reading at least d old, or the oldest there is.
		k := 0
		for i, rd := range w.readings {
			if !rd.at.After(cut) {
				k = i
			}
		}
		from = w.readings[k].at
		for i := range cur.classes {
			cur.classes[i] -= w.last.classes[i]
		}
		for i := range cur.latency {
			cur.latency[i] -= w.last.latency[i]
		}
		for _, rd := range w.readings[k+1:] {
			for i := range cur.classes {
				cur.classes[i] += rd.classes[i]
			}
			for _, bc := range rd.latency {
				cur.latency[bc.bucket] += bc.n
			}
		}
	}
	return cur, from
}

// quantile returns the q-quantile of the latencies counted in b: the
// middle of the bucket that holds it.
func quantile(b *[numLatencyBuckets]int64, q float64) time.Duration {
	var total int64
	for _, n := range b {
		total += n
	}
	if total == 0 {
		return 0
	}
	rank := int64(q*float64(total-1)) + 1
	var seen int64
	for i, n := range b {
		seen += n
		if seen >= rank {
			lo, hi := latencyBucketRange(i)
			return time.Duration(lo+hi) * time.Microsecond / 2
		}
	}
	return 0
}

// Tick takes a reading of every recorder's counts at now (the live ones,
// and those retired in the last 15 minutes), which Window computes its
// windows from. Call it every WindowTick; the recorders' figures do not
// depend on anything else calling it.
func (ins *Instruments) Tick(now time.Time) {
	ins.mu.Lock()
	ins.pruneRetired(now)
	recs := make([]*RequestRecorder, 0, len(ins.recorders)+len(ins.retired))
	for _, r := range ins.recorders {
		recs = append(recs, r)
	}
	recs = append(recs, ins.retired...)
	ins.mu.Unlock()
	for _, r := range recs {
		r.tick(now)
	}
}

// maxRetired bounds the retired recorders kept for the windows.
const maxRetired = 64

// pruneRetired forgets the recorders retired more than 15 minutes before
// now, and the oldest beyond maxRetired. Called with ins.mu held.
func (ins *Instruments) pruneRetired(now time.Time) {
	keep := ins.retired[:0]
	for _, r := range ins.retired {
		if now.Sub(r.retiredAt) <= maxWindow {
			keep = append(keep, r)
		}
	}
	if n := len(keep) - maxRetired; n > 0 {
		keep = keep[:copy(keep, keep[n:])]
	}
	clear(ins.retired[len(keep):])
	ins.retired = keep
}

// Retired returns the recorders of route's target retired in the last 15
// minutes (their version no longer serves it), newest first: their
// windows still count the requests they answered.
func (ins *Instruments) Retired(route, target string) []*RequestRecorder {
	ins.mu.Lock()
	defer ins.mu.Unlock()
	ins.pruneRetired(ins.now())
	var out []*RequestRecorder
	for i := len(ins.retired) - 1; i >= 0; i-- {
		if r := ins.retired[i]; r.key.route == route && r.key.target == target {
			out = append(out, r)
		}
	}
	return out
}

// Version returns the model version the recorder records.
func (r *RequestRecorder) Version() string { return r.key.version }

// RetiredAt returns when the recorder's last reference was released, zero
// while it is live.
func (r *RequestRecorder) RetiredAt() time.Time {
	r.ins.mu.Lock()
	defer r.ins.mu.Unlock()
	return r.retiredAt
}
