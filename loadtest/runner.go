package loadtest

import (
	"context"
	"math/rand/v2"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Why a run stopped before its natural end.
const (
	stopNone int32 = iota
	stopDeadline
	stopCancel
)

// Run sends the load c describes and returns its report. It always stops by
// itself: at Warmup + the measured window + Grace it abandons what is still
// in flight (counted as timeouts) and what was never sent (counted as
// unsent), and it stops early when ctx is cancelled, closing its
// connections so that in-flight requests end at once (counted as aborted).
// A cancelled run returns its partial report, marked Interrupted, together
// with ctx.Err(). Every goroutine Run starts has ended when it returns,
// except fasthttp's idle-connection cleaner, which exits within
// IdleConnTimeout. A *ConfigError reports an invalid Config.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	c, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	ep, err := parseEndpoint(c.URL, c.Route, c.Path)
	if err != nil {
		return nil, err
	}
	r := newRunner(c, ep)
	return r.run(ctx)
}

// runner is one run in progress.
type runner struct {
	cfg   Config
	ep    endpoint
	plan  plan
	sched schedule
	rec   *recorder

	client *fasthttp.HostClient
	conns  *connTracker
	hdrs   []preparedHeader

	t0         time.Time
	stop       chan struct{} // closed when the run must stop early
	stopReason atomic.Int32

	seq     atomic.Int64 // closed loop: next request index
	claimed atomic.Int64 // closed loop with Requests: measured requests claimed
	warmup  atomic.Int64
	unsent  atomic.Int64
	stopAt  atomic.Int64 // offset at which the open-loop schedule stopped early
}

// preparedHeader is a request header; a templated one holds one value per
// cohort key.
type preparedHeader struct {
	name   string
	value  string
	values [][]byte // nil for a static header
}

func newRunner(c Config, ep endpoint) *runner {
	r := &runner{
		cfg:   c,
		ep:    ep,
		plan:  newPlan(&c),
		rec:   newRecorder(c.Warmup, c.LateAfter, c.openLoop()),
		conns: newConnTracker(),
		stop:  make(chan struct{}),
	}
	if c.openLoop() {
		r.sched = schedule{rate: c.Rate}
	}
	workers := c.Connections
	if c.openLoop() {
		workers = c.MaxInFlight
	}
	r.client = &fasthttp.HostClient{
		Addr:                      ep.addr,
		IsTLS:                     ep.isTLS,
		Name:                      "mlgate-loadtest",
		MaxConns:                  workers,
		MaxConnWaitTimeout:        c.Timeout,
		MaxIdleConnDuration:       c.IdleConnTimeout,
		MaxIdemponentCallAttempts: 1,
		RetryIf:                   func(*fasthttp.Request) bool { return false },
		DialTimeout:               r.conns.dial,
		DisablePathNormalizing:    true,
	}
	for _, h := range c.Headers {
		ph := preparedHeader{name: h.Name, value: h.Value}
		if strings.Contains(h.Value, KeyPlaceholder) {
			ph.values = make([][]byte, c.Keys)
			for k := range ph.values {
				ph.values[k] = []byte(strings.ReplaceAll(h.Value, KeyPlaceholder, cohortKey(k)))
			}
		}
		r.hdrs = append(r.hdrs, ph)
	}
	return r
}

// cohortKey is the k-th sticky key.
func cohortKey(k int) string { return "key-" + strconv.Itoa(k) }

func (r *runner) since() time.Duration { return time.Since(r.t0) }

func (r *runner) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *runner) run(ctx context.Context) (*Report, error) {
	r.t0 = time.Now()
	finished := make(chan struct{})
	var monitor sync.WaitGroup
	monitor.Add(1)
	go func() {
		defer monitor.Done()
		timer := time.NewTimer(r.plan.hardDeadline - r.since())
		defer timer.Stop()
		select {
		case <-finished:
			return
		case <-ctx.Done():
			r.stopReason.Store(stopCancel)
		case <-timer.C:
			r.stopReason.Store(stopDeadline)
		}
		close(r.stop)
		r.conns.closeAll()
	}()

	if r.cfg.openLoop() {
		r.runOpen()
	} else {
		r.runClosed()
	}
	close(finished)
	monitor.Wait()
	r.client.CloseIdleConnections()
	r.conns.closeAll()

	rep := r.report()
	if r.stopReason.Load() == stopCancel {
		rep.Interrupted = true
		return rep, ctx.Err()
	}
	return rep, nil
}

// preciseWait is the part of a wait for the next open-loop send slept with
// preciseSleep rather than on a Go timer, whose wake-up on an idle process
// can come a millisecond late.
const preciseWait = 2 * time.Millisecond

// preciseMin is the shortest interval between sends at which the open
// loop sleeps with preciseSleep: more frequent sends keep the process busy
// enough for its timers to be on time.
const preciseMin = 100 * time.Microsecond

// runOpen dispatches the schedule to MaxInFlight workers. A request whose
// intended time has come waits for a free worker; its latency still counts
// from the intended time.
func (r *runner) runOpen() {
	jobs := make(chan int64)
	var wg sync.WaitGroup
	for w := range r.cfg.MaxInFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := r.newWorker(w)
			defer wk.release()
			for i := range jobs {
				r.sendScheduled(wk, i)
			}
		}()
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	precise := r.sched.at(1) >= preciseMin
	if precise {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		defer tightenTimerSlack()()
	}
	i := int64(0)
dispatch:
	for ; i < r.plan.total; i++ {
		wait := r.sched.at(i) - r.since()
		// On a timer, which a stop interrupts: the whole wait when sends
		// come so close together that they keep the process busy, and its
		// timers on time (a system call per send, and the kernel's timer
		// slack, would cost more than the interval); otherwise all but
		// the last preciseWait, which preciseSleep then sleeps.
		if !precise && wait > 0 || wait > preciseWait {
			d := wait
			if precise {
				d -= preciseWait
			}
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-r.stop:
				break dispatch
			}
			wait = r.sched.at(i) - r.since()
		}
		if precise && wait > 0 {
			preciseSleep(wait)
			if r.stopped() {
				break dispatch
			}
		}
		select {
		case jobs <- i:
		case <-r.stop:
			break dispatch
		}
	}
	timer.Stop()
	close(jobs)
	if i < r.plan.total {
		// Stopped early: requests already due count as unsent; the rest of
		// the schedule is dropped (only a cancelled run gets here with any).
		now := r.since()
		r.stopAt.Store(int64(now))
		due := min(r.sched.countBefore(now+1), r.plan.total)
		if first := max(i, r.plan.warm); due > first {
			r.unsent.Add(due - first)
		}
	}
	wg.Wait()
}

// sendScheduled sends open-loop request i, unless the run already stopped.
func (r *runner) sendScheduled(w *worker, i int64) {
	measured := i >= r.plan.warm
	if r.stopped() || r.since() >= r.plan.hardDeadline {
		if measured {
			r.unsent.Add(1)
		}
		return
	}
	r.exchange(w, i, r.sched.at(i), measured)
}

// runClosed runs Connections workers that each send back to back until the
// measured window ends or Requests measured requests were claimed.
func (r *runner) runClosed() {
	var wg sync.WaitGroup
	for w := range r.cfg.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			wk := r.newWorker(w)
			defer wk.release()
			for !r.stopped() {
				now := r.since()
				if now >= r.plan.measureEnd {
					return
				}
				measured := now >= r.plan.measureStart
				if measured && r.cfg.Requests > 0 && r.claimed.Add(1) > r.cfg.Requests {
					return
				}
				r.exchange(wk, r.seq.Add(1)-1, atSend, measured)
			}
		}()
	}
	wg.Wait()
}

// worker owns one request/response pair and its scratch; it is used by one
// goroutine.
type worker struct {
	req  *fasthttp.Request
	resp *fasthttp.Response
	key  []byte
	rng  *rand.Rand
}

func (r *runner) newWorker(id int) *worker {
	w := &worker{
		req:  fasthttp.AcquireRequest(),
		resp: fasthttp.AcquireResponse(),
		key:  make([]byte, 0, 128),
		rng:  rand.New(rand.NewPCG(r.cfg.Seed, uint64(id))),
	}
	w.req.SetRequestURI(r.ep.uri)
	w.req.Header.SetMethod(fasthttp.MethodPost)
	w.req.Header.SetContentType(r.cfg.Payload.ContentType)
	for _, h := range r.hdrs {
		if h.values == nil {
			w.req.Header.Set(h.name, h.value)
		}
	}
	return w
}

func (w *worker) release() {
	fasthttp.ReleaseRequest(w.req)
	fasthttp.ReleaseResponse(w.resp)
}

// atSend, as an intended time, means "when the request is sent": the closed
// loop has no schedule.
const atSend time.Duration = -1

// exchange sends request i, intended at the given offset (or atSend), and
// records it when measured.
func (r *runner) exchange(w *worker, i int64, intended time.Duration, measured bool) {
	bodies := r.cfg.Payload.Bodies
	w.req.SetBodyRaw(bodies[i%int64(len(bodies))])
	if r.cfg.Keys > 0 {
		var k int
		if r.cfg.KeyOrder == KeysRandom {
			k = w.rng.IntN(r.cfg.Keys)
		} else {
			k = int(i % int64(r.cfg.Keys))
		}
		for j := range r.hdrs {
			if h := &r.hdrs[j]; h.values != nil {
				w.req.Header.SetBytesV(h.name, h.values[k])
			}
		}
	}
	sent := r.since()
	if intended == atSend {
		intended = sent
	}
	deadline := min(sent+r.cfg.Timeout, r.plan.hardDeadline)
	err := r.client.DoDeadline(w.req, w.resp, r.t0.Add(deadline))
	done := r.since()
	if !measured {
		r.warmup.Add(1)
		return
	}
	o := outcome{intended: intended, sent: sent, done: done}
	if err != nil {
		o.err = err
		switch r.stopReason.Load() {
		case stopCancel:
			o.errKind = ErrKindAborted
		case stopDeadline:
			o.errKind = ErrKindTimeout
		default:
			o.errKind = errKind(err)
		}
	} else {
		h := &w.resp.Header
		o.status = w.resp.StatusCode()
		o.bytesIn = len(w.resp.Body())
		w.key = appendProvenanceKey(w.key[:0],
			h.Peek("X-Route"), h.Peek("X-Model-Name"), h.Peek("X-Model-Alias"), h.Peek("X-Model-Version"),
			h.Peek("X-Mlflow-Run-Id"))
		o.key = w.key
	}
	r.rec.add(&o)
	if r.cfg.OnResult != nil {
		r.cfg.OnResult(Result{Index: i, Intended: intended, Sent: sent, Done: done, Status: o.status, Err: o.errKind})
	}
}
