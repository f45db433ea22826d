package serve

import (
	"bytes"
	"context"
	"errors"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/valyala/fastjson"
)

// ShadowSpec sends a sampled copy of a route's requests to another model,
// after the primary has answered, and compares the two answers. The shadow
// never delays, changes or fails the primary response.
type ShadowSpec struct {
	// URI is the shadow model (usually models:/<name>@challenger).
	URI string
	// Alias is the alias URI addresses, for status.
	Alias string
	// Sample is the fraction of requests copied, in (0, 1].
	Sample float64
}

// shadowJob is one sampled request waiting for the shadow model. It owns
// copies of the request body and the primary's answer: the fasthttp
// buffers they came from are reused once the handler returns. It holds a
// reference on the Snapshot its route belongs to until it has run or been
// dropped.
type shadowJob struct {
	snap  *Snapshot
	route *route
	// in is the request's data: a copy of its body, or its tensors.
	in input
	// primary is the primary's answer as MLflow's scoring response, the
	// form the comparison reads whatever protocol the request came in.
	primary []byte
	latency time.Duration
}

// shadowStats accumulates a route's primary-versus-shadow comparison. It
// survives config reloads while the route keeps the same shadow model.
type shadowStats struct {
	sampled, dropped, errors, compared atomic.Int64

	mu      sync.Mutex
	outputs map[string]*outputDiff
	// Latency of the primary (decode + run + encode) and of the shadow,
	// in microseconds.
	primaryLat, shadowLat *hdrhistogram.Histogram
	latDiffSum            float64 // Σ (shadow - primary), seconds
	lastError             string
}

// outputDiff compares one output. Labels (integers, strings, booleans) are
// counted equal or not; numbers get the distribution of |primary - shadow|.
type outputDiff struct {
	values, disagreements int64
	// absDiff records |difference| in units of 1e-9.
	absDiff *hdrhistogram.Histogram
	sumDiff float64
	maxDiff float64
	numeric bool
	// decades counts |difference| by decade (decadeOf).
	decades [numDecades]int64
}

func newShadowStats() *shadowStats {
	return &shadowStats{
		outputs:    map[string]*outputDiff{},
		primaryLat: hdrhistogram.New(1, 60_000_000, 3),
		shadowLat:  hdrhistogram.New(1, 60_000_000, 3),
	}
}

// shadowPool runs shadow requests on a bounded queue.
type shadowPool struct {
	s     *Server
	queue chan *shadowJob
	wg    sync.WaitGroup
	stop  chan struct{}
}

func newShadowPool(s *Server, queue, workers int) *shadowPool {
	p := &shadowPool{s: s, queue: make(chan *shadowJob, queue), stop: make(chan struct{})}
	for range workers {
		p.wg.Go(p.work)
	}
	return p
}

// offer enqueues a sampled request without ever blocking; it reports
// false when the queue is full.
func (p *shadowPool) offer(j *shadowJob) bool {
	select {
	case p.queue <- j:
		return true
	default:
		return false
	}
}

// offerShadow hands a sampled copy to the shadow pool, taking a reference
// on its Snapshot (the caller holds one), or drops and counts it when the
// queue is full or the pool is stopped (the server is shutting down).
func (s *Server) offerShadow(j *shadowJob) {
	j.snap.share()
	s.mu.Lock()
	queued := s.shadows != nil && s.shadows.offer(j)
	s.mu.Unlock()
	if !queued {
		j.route.shadow.stats.dropped.Add(1)
		j.snap.release()
	}
}

// close stops the workers and drops the copies still queued. Nothing is
// offered any more: the server forgot the pool first.
func (p *shadowPool) close() {
	close(p.stop)
	p.wg.Wait()
	for {
		select {
		case j := <-p.queue:
			j.snap.release()
		default:
			return
		}
	}
}

func (p *shadowPool) work() {
	for {
		select {
		case <-p.stop:
			return
		case j := <-p.queue:
			p.run(j)
			j.snap.release()
		}
	}
}

// run sends one copy to the shadow model and records the comparison.
func (p *shadowPool) run(j *shadowJob) {
	sh := j.route.shadow
	st := sh.stats
	d := sh.d
	if d == nil {
		st.fail("shadow model " + sh.uri + " is not loaded")
		return
	}
	start := time.Now()
	plan := d.model.Plan()
	b := plan.GetBatch()
	defer plan.PutBatch(b)
	ctx, cancel := context.WithTimeout(context.Background(), p.s.cfg.RequestTimeout)
	defer cancel()
	cost, err := j.in.measure(plan, j.route.limits)
	if err == nil {
		err = j.in.decode(ctx, plan, cost, b)
	}
	if err != nil {
		st.fail(d.errorTag + ": " + err.Error())
		return
	}
	out, err := predict(ctx, d.model, b, j.route.enc, nil)
	if err != nil {
		st.fail(d.errorTag + ": " + err.Error())
		return
	}
	st.record(j.primary, out, j.latency, time.Since(start))
}

func (st *shadowStats) fail(msg string) {
	st.errors.Add(1)
	st.mu.Lock()
	st.lastError = msg
	st.mu.Unlock()
}

// record compares a primary and a shadow response body, output by output
// (outputs both models have), value by value.
func (st *shadowStats) record(primary, shadow []byte, primaryLat, shadowLat time.Duration) {
	a, errA := flattenPredictions(primary)
	b, errB := flattenPredictions(shadow)
	if errA != nil || errB != nil {
		st.fail("cannot compare predictions: unexpected response shape")
		return
	}
	st.compared.Add(1)
	st.mu.Lock()
	defer st.mu.Unlock()
	st.primaryLat.RecordValue(max(primaryLat.Microseconds(), 1))
	st.shadowLat.RecordValue(max(shadowLat.Microseconds(), 1))
	st.latDiffSum += (shadowLat - primaryLat).Seconds()
	for name, pv := range a {
		sv, ok := b[name]
		if !ok || len(sv) != len(pv) {
			continue
		}
		od := st.outputs[name]
		if od == nil {
			od = &outputDiff{absDiff: hdrhistogram.New(0, 1e15, 3)}
			st.outputs[name] = od
		}
		for i := range pv {
			od.values++
			x, y := pv[i], sv[i]
			if !x.number || !y.number || !(x.float || y.float) {
				if x.text != y.text {
					od.disagreements++
				}
				continue
			}
			od.numeric = true
			diff := math.Abs(x.value - y.value)
			if math.IsNaN(diff) {
				if !(math.IsNaN(x.value) && math.IsNaN(y.value)) {
					od.disagreements++
				}
				continue
			}
			od.sumDiff += diff
			od.maxDiff = max(od.maxDiff, diff)
			od.decades[decadeOf(diff)]++
			od.absDiff.RecordValue(min(int64(diff*1e9), 1e15))
		}
	}
}

// leaf is one value of a prediction. Labels (integers, strings, booleans)
// compare by text; a float compares by value. null, which a route that
// writes RFC 8259 JSON sends for NaN and the infinities, is a float whose
// value is NaN.
type leaf struct {
	text   string // the JSON text, strings as their value prefixed by '"'
	value  float64
	number bool
	float  bool
}

// flattenPredictions turns {"predictions": ...} into one flat list of
// values per output, whether the body has one record per row or one entry
// per output, and whether it writes non-finite numbers as null or as
// Python's NaN, Infinity and -Infinity.
func flattenPredictions(body []byte) (map[string][]leaf, error) {
	var p fastjson.Parser
	v, err := p.ParseBytes(pyLiterals(body))
	if err != nil {
		return nil, err
	}
	preds := v.Get("predictions")
	if preds == nil {
		return nil, errors.New("no predictions")
	}
	out := map[string][]leaf{}
	switch preds.Type() {
	case fastjson.TypeArray:
		for _, rec := range preds.GetArray() {
			o, err := rec.Object()
			if err != nil {
				out[""] = appendLeaves(out[""], rec)
				continue
			}
			o.Visit(func(k []byte, v *fastjson.Value) { out[string(k)] = appendLeaves(out[string(k)], v) })
		}
	case fastjson.TypeObject:
		o, _ := preds.Object()
		o.Visit(func(k []byte, v *fastjson.Value) { out[string(k)] = appendLeaves(out[string(k)], v) })
	}
	return out, nil
}

func appendLeaves(dst []leaf, v *fastjson.Value) []leaf {
	switch v.Type() {
	case fastjson.TypeArray:
		for _, e := range v.GetArray() {
			dst = appendLeaves(dst, e)
		}
		return dst
	case fastjson.TypeObject:
		o, _ := v.Object()
		var keys []string
		o.Visit(func(k []byte, _ *fastjson.Value) { keys = append(keys, string(k)) })
		sort.Strings(keys)
		for _, k := range keys {
			dst = appendLeaves(dst, o.Get(k))
		}
		return dst
	case fastjson.TypeNumber:
		text := string(v.MarshalTo(nil))
		x, _ := v.Float64()
		return append(dst, leaf{text: text, value: x, number: true, float: strings.ContainsAny(text, ".eEiInN")})
	case fastjson.TypeNull:
		return append(dst, leaf{text: "null", value: math.NaN(), number: true, float: true})
	case fastjson.TypeString:
		return append(dst, leaf{text: `"` + string(v.GetStringBytes())})
	}
	return append(dst, leaf{text: v.String()})
}

// pyLiterals returns body with Python's Infinity and -Infinity outside
// strings written as inf and -inf (and padding), which fastjson parses, as
// it parses NaN.
func pyLiterals(body []byte) []byte {
	if !bytes.Contains(body, []byte("Infinity")) {
		return body
	}
	out := make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		switch c := body[i]; {
		case c == '"':
			j := i + 1
			for j < len(body) && body[j] != '"' {
				if body[j] == '\\' {
					j++
				}
				j++
			}
			j = min(j+1, len(body))
			out = append(out, body[i:j]...)
			i = j
		case bytes.HasPrefix(body[i:], []byte("Infinity")):
			out = append(out, "inf     "...)
			i += len("Infinity")
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// ShadowStatus is a route's primary-versus-shadow comparison in
// /admin/models.
type ShadowStatus struct {
	URI       string                   `json:"uri"`
	Alias     string                   `json:"alias,omitempty"`
	Sample    float64                  `json:"sample"`
	Serving   *Provenance              `json:"serving"`
	Sampled   int64                    `json:"sampled"`
	Dropped   int64                    `json:"dropped"`
	Errors    int64                    `json:"errors"`
	Compared  int64                    `json:"compared"`
	LastError string                   `json:"last_error,omitempty"`
	Outputs   map[string]OutputCompare `json:"outputs"`
	Latency   LatencyCompare           `json:"latency"`
}

// OutputCompare summarises one output: for labels the disagreement rate,
// for numbers the distribution of absolute differences.
type OutputCompare struct {
	Values           int64   `json:"values"`
	Disagreements    int64   `json:"disagreements"`
	DisagreementRate float64 `json:"disagreement_rate"`
	Numeric          bool    `json:"numeric"`
	MeanAbsDiff      float64 `json:"mean_abs_diff,omitempty"`
	P50AbsDiff       float64 `json:"p50_abs_diff,omitempty"`
	P90AbsDiff       float64 `json:"p90_abs_diff,omitempty"`
	P99AbsDiff       float64 `json:"p99_abs_diff,omitempty"`
	MaxAbsDiff       float64 `json:"max_abs_diff,omitempty"`
}

// LatencyCompare compares the primary's and the shadow's latency (decode,
// run and encode) on the same requests, in milliseconds.
type LatencyCompare struct {
	PrimaryP50 float64 `json:"primary_p50_ms"`
	PrimaryP99 float64 `json:"primary_p99_ms"`
	ShadowP50  float64 `json:"shadow_p50_ms"`
	ShadowP99  float64 `json:"shadow_p99_ms"`
	MeanDiff   float64 `json:"mean_shadow_minus_primary_ms"`
}

func (st *shadowStats) status() ShadowStatus {
	s := ShadowStatus{
		Sampled: st.sampled.Load(), Dropped: st.dropped.Load(), Errors: st.errors.Load(),
		Compared: st.compared.Load(), Outputs: map[string]OutputCompare{},
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	s.LastError = st.lastError
	for name, od := range st.outputs {
		oc := OutputCompare{Values: od.values, Disagreements: od.disagreements, Numeric: od.numeric}
		if od.values > 0 {
			oc.DisagreementRate = float64(od.disagreements) / float64(od.values)
		}
		if n := od.absDiff.TotalCount(); n > 0 {
			oc.MeanAbsDiff = od.sumDiff / float64(n)
			oc.P50AbsDiff = float64(od.absDiff.ValueAtQuantile(50)) / 1e9
			oc.P90AbsDiff = float64(od.absDiff.ValueAtQuantile(90)) / 1e9
			oc.P99AbsDiff = float64(od.absDiff.ValueAtQuantile(99)) / 1e9
			oc.MaxAbsDiff = od.maxDiff
		}
		s.Outputs[name] = oc
	}
	if n := st.primaryLat.TotalCount(); n > 0 {
		s.Latency = LatencyCompare{
			PrimaryP50: float64(st.primaryLat.ValueAtQuantile(50)) / 1e3,
			PrimaryP99: float64(st.primaryLat.ValueAtQuantile(99)) / 1e3,
			ShadowP50:  float64(st.shadowLat.ValueAtQuantile(50)) / 1e3,
			ShadowP99:  float64(st.shadowLat.ValueAtQuantile(99)) / 1e3,
			MeanDiff:   st.latDiffSum / float64(n) * 1e3,
		}
	}
	return s
}
