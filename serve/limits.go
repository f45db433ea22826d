package serve

import (
	"runtime/debug"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/signature"
)

// Limits bounds the work one scoring request may ask for on a route. Zero
// fields take the server's (Config.MaxRows, Config.MaxElements).
type Limits struct {
	// MaxRows bounds the rows of one request.
	MaxRows int `json:"max_rows,omitempty"`
	// MaxElements bounds the values of one request.
	MaxElements int `json:"max_elements,omitempty"`
}

// defaultMaxInflightBytes is Config.MaxInflightBytes when zero.
const defaultMaxInflightBytes = 256 << 20

// routeLimits returns the limits a route's requests are decoded within:
// the route's own, else the server's; zero fields left are resolved by the
// serving model's plan (signature.Plan.Limits).
func (s *Server) routeLimits(l Limits) signature.Limits {
	if l.MaxRows == 0 {
		l.MaxRows = s.cfg.MaxRows
	}
	if l.MaxElements == 0 {
		l.MaxElements = s.cfg.MaxElements
	}
	return signature.Limits{MaxRows: l.MaxRows, MaxElements: l.MaxElements}
}

// limitAdvice ends the message of a request refused for one of its limits.
func limitAdvice(limit string) string {
	what := "rows"
	if limit == "max_elements" {
		what = "values"
	}
	return "; send fewer " + what + " per request, or raise the " + limit +
		" setting (for the server, or in the route's limits)"
}

// byteGate admits scoring requests by the memory they are estimated to
// hold (signature.Cost.Memory), up to a budget, in arrival order. A
// request needing more than the whole budget is admitted alone: its own
// rows and elements are bounded by the route's limits. The fast path, with
// room and nobody waiting, takes a mutex and allocates nothing.
type byteGate struct {
	mu sync.Mutex
	// used is what admitted requests reserved, each at most the budget.
	used int64
	// inflight and peak are the admitted requests' estimates, whole.
	inflight, peak int64
	// head and tail queue the requests waiting for room, oldest first.
	head, tail *byteWaiter
	waiting    int64

	rejected, refusedLimits int64

	// scavenging is set while the memory of a large request that finished
	// is being returned to the operating system; lastScavenge is when that
	// last ended.
	scavenging   bool
	lastScavenge time.Time
	scavenges    int64
}

// A large request leaves its memory to the garbage collector, which with
// the default GOGC neither collects it nor returns it to the operating
// system until the heap has grown as much again, or for minutes on an idle
// server. So once a request estimated at scavengeBytes or more has
// finished and no other one that large is in flight, the server collects
// and returns the memory (debug.FreeOSMemory) in the background, at most
// once per scavengeEvery.
const (
	scavengeBytes = 64 << 20
	scavengeEvery = 10 * time.Second
)

// byteWaiter is one request waiting for room. ready receives once the
// request is admitted, while mu is held.
type byteWaiter struct {
	n, need int64
	ready   chan struct{}
	next    *byteWaiter
	granted bool
}

var byteWaiterPool = sync.Pool{New: func() any { return &byteWaiter{ready: make(chan struct{}, 1)} }}

// admitBytes admits a request estimated to hold need bytes, waiting up to
// QueueTimeout for room. It returns the reservation to give back with
// releaseBytes, or the error to answer with (429) when the request is
// refused.
func (s *Server) admitBytes(r *route, need int64) (reservation, error) {
	g := &s.admit.bytes
	budget := s.cfg.MaxInflightBytes
	res := reservation{n: min(need, max(budget, 0)), need: need}
	g.mu.Lock()
	if budget < 0 || g.head == nil && g.used+res.n <= budget {
		g.admitLocked(res.n, need)
		g.mu.Unlock()
		return res, nil
	}
	if queue := s.cfg.MaxQueue; g.waiting >= int64(queue) || queue == 0 && g.waiting >= 512 {
		g.rejected++
		inflight, waiting := g.inflight, g.waiting
		g.mu.Unlock()
		return res, errorf(fasthttp.StatusTooManyRequests, codeRequestLimitExceeded,
			"route %s: requests holding about %d bytes are in flight (limit max_inflight_bytes %d) and %d are waiting; retry later",
			r.name, inflight, budget, waiting)
	}
	w := byteWaiterPool.Get().(*byteWaiter)
	w.n, w.need, w.granted, w.next = res.n, need, false, nil
	if g.tail == nil {
		g.head = w
	} else {
		g.tail.next = w
	}
	g.tail = w
	g.waiting++
	g.mu.Unlock()

	dc := startDeadline(time.Now(), s.cfg.QueueTimeout)
	select {
	case <-w.ready:
	case <-dc.Done():
	}
	dc.stop()
	g.mu.Lock()
	if w.granted {
		g.mu.Unlock()
		select { // a grant that raced with the timeout
		case <-w.ready:
		default:
		}
		byteWaiterPool.Put(w)
		return res, nil
	}
	g.unlinkLocked(w)
	g.rejected++
	g.grantLocked(budget) // those queued behind w may fit now
	inflight := g.inflight
	g.mu.Unlock()
	byteWaiterPool.Put(w)
	return res, errorf(fasthttp.StatusTooManyRequests, codeRequestLimitExceeded,
		"route %s: no room for a request of about %d bytes within %s: requests holding about %d bytes are in flight (limit max_inflight_bytes %d); retry later",
		r.name, need, s.cfg.QueueTimeout, inflight, budget)
}

// reservation is what one admitted request holds in the byte gate.
type reservation struct{ n, need int64 }

// releaseBytes gives back what admitBytes reserved and admits the waiting
// requests that fit.
func (s *Server) releaseBytes(res reservation) {
	g := &s.admit.bytes
	g.mu.Lock()
	g.used -= res.n
	g.inflight -= res.need
	g.grantLocked(s.cfg.MaxInflightBytes)
	scavenge := res.need >= scavengeBytes && g.inflight < scavengeBytes && !g.scavenging &&
		time.Since(g.lastScavenge) >= scavengeEvery
	g.scavenging = g.scavenging || scavenge
	g.mu.Unlock()
	if scavenge {
		go g.scavenge()
	}
}

// scavenge returns freed memory to the operating system.
func (g *byteGate) scavenge() {
	debug.FreeOSMemory()
	g.mu.Lock()
	g.scavenging, g.lastScavenge = false, time.Now()
	g.scavenges++
	g.mu.Unlock()
}

func (g *byteGate) admitLocked(n, need int64) {
	g.used += n
	g.inflight += need
	g.peak = max(g.peak, g.inflight)
}

// grantLocked admits waiting requests, oldest first, while they fit.
func (g *byteGate) grantLocked(budget int64) {
	for w := g.head; w != nil && g.used+w.n <= budget; w = g.head {
		g.unlinkLocked(w)
		g.admitLocked(w.n, w.need)
		w.granted = true
		w.ready <- struct{}{}
	}
}

// unlinkLocked removes w from the queue.
func (g *byteGate) unlinkLocked(w *byteWaiter) {
	var prev *byteWaiter
	for q := g.head; q != nil; prev, q = q, q.next {
		if q != w {
			continue
		}
		if prev == nil {
			g.head = q.next
		} else {
			prev.next = q.next
		}
		if g.tail == q {
			g.tail = prev
		}
		g.waiting--
		return
	}
}

// refusedForLimit counts a request refused for max_rows or max_elements.
func (s *Server) refusedForLimit() {
	g := &s.admit.bytes
	g.mu.Lock()
	g.refusedLimits++
	g.mu.Unlock()
}
