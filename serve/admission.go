package serve

import (
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/telemetry"
)

// admission bounds the scoring requests in flight: MaxInflight run at
// once, up to MaxQueue more wait up to QueueTimeout for a slot, and the
// rest get 429 at once. Once a request has been measured, the memory it
// will hold is admitted the same way against MaxInflightBytes (bytes).
// Rejections are counted. Health, admin and metrics endpoints are not
// subject to it, so an overloaded server stays observable.
type admission struct {
	slots   chan struct{} // nil: no limit
	waiting atomic.Int64

	inflight                        atomic.Int64
	rejectedQueue, rejectedTimedOut atomic.Int64

	bytes byteGate
}

// AdmissionStatus is the admission state in /admin/models.
type AdmissionStatus struct {
	MaxInflight int   `json:"max_inflight"`
	MaxQueue    int   `json:"max_queue"`
	Inflight    int64 `json:"inflight"`
	Waiting     int64 `json:"waiting"`
	// RejectedQueueFull counts requests refused because MaxQueue were
	// already waiting; RejectedTimeout those that waited QueueTimeout.
	RejectedQueueFull int64 `json:"rejected_queue_full"`
	RejectedTimeout   int64 `json:"rejected_timeout"`

	// MaxInflightBytes is the memory budget of the requests in flight;
	// -1 means none.
	MaxInflightBytes int64 `json:"max_inflight_bytes"`
	// InflightBytes is the memory the requests being served are
	// estimated to hold (signature.Cost.Memory), and PeakInflightBytes
	// the most it has been since the server started.
	InflightBytes     int64 `json:"inflight_bytes"`
	PeakInflightBytes int64 `json:"peak_inflight_bytes"`
	// WaitingForBytes counts the requests waiting for room in
	// MaxInflightBytes.
	WaitingForBytes int64 `json:"waiting_for_bytes"`
	// RejectedBytes counts requests refused (429) because there was no
	// room in MaxInflightBytes within QueueTimeout, or MaxQueue requests
	// were already waiting for it.
	RejectedBytes int64 `json:"rejected_bytes"`
	// RejectedLimits counts requests refused (413) for having more rows
	// or values than their route's max_rows or max_elements.
	RejectedLimits int64 `json:"rejected_limits"`
	// MemoryReturns counts the times the memory of large requests that
	// finished was returned to the operating system.
	MemoryReturns int64 `json:"memory_returns"`
}

// enter takes a slot for a scoring request, waiting if need be. When the
// request is refused it returns the error to answer with (429) and why;
// otherwise the caller must call leave.
func (s *Server) enter(r *route) (telemetry.RejectReason, error) {
	a := &s.admit
	a.inflight.Add(1)
	if a.slots == nil {
		return 0, nil
	}
	select {
	case a.slots <- struct{}{}:
		return 0, nil
	default:
	}
	if a.waiting.Add(1) > int64(s.cfg.MaxQueue) {
		a.waiting.Add(-1)
		a.inflight.Add(-1)
		a.rejectedQueue.Add(1)
		return telemetry.RejectQueue, errorf(fasthttp.StatusTooManyRequests, codeRequestLimitExceeded,
			"route %s: %d requests in flight and %d waiting (the limits); retry later", r.name, s.cfg.MaxInflight, s.cfg.MaxQueue)
	}
	dc := startDeadline(time.Now(), s.cfg.QueueTimeout)
	defer dc.stop()
	select {
	case a.slots <- struct{}{}:
		a.waiting.Add(-1)
		return 0, nil
	case <-dc.Done():
	}
	a.waiting.Add(-1)
	a.inflight.Add(-1)
	a.rejectedTimedOut.Add(1)
	return telemetry.RejectConcurrency, errorf(fasthttp.StatusTooManyRequests, codeRequestLimitExceeded,
		"route %s: no room among %d requests in flight within %s; retry later", r.name, s.cfg.MaxInflight, s.cfg.QueueTimeout)
}

func (s *Server) leave() {
	if s.admit.slots != nil {
		<-s.admit.slots
	}
	s.admit.inflight.Add(-1)
}

func (s *Server) admissionStatus() AdmissionStatus {
	a := &s.admit
	st := AdmissionStatus{
		MaxInflight: s.cfg.MaxInflight, MaxQueue: s.cfg.MaxQueue,
		Inflight: a.inflight.Load(), Waiting: a.waiting.Load(),
		RejectedQueueFull: a.rejectedQueue.Load(), RejectedTimeout: a.rejectedTimedOut.Load(),
		MaxInflightBytes: max(s.cfg.MaxInflightBytes, -1),
	}
	g := &a.bytes
	g.mu.Lock()
	st.InflightBytes, st.PeakInflightBytes, st.WaitingForBytes = g.inflight, g.peak, g.waiting
	st.RejectedBytes, st.RejectedLimits, st.MemoryReturns = g.rejected, g.refusedLimits, g.scavenges
	g.mu.Unlock()
	return st
}
