package infer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlgate/mlgate/signature"
)

// ErrOverloaded is returned by Predict when the queue in front of a model's
// workers is full. Serve answers 429. It has the method Overloaded() bool,
// so that a caller can recognise it by behaviour without importing infer.
var ErrOverloaded error = overloadedError{}

type overloadedError struct{}

func (overloadedError) Error() string    { return "overloaded" }
func (overloadedError) Overloaded() bool { return true }

// ErrRun marks a failure inside ONNX Runtime while running a request that
// passed validation. Serve answers 500: it is not the client's mistake.
var ErrRun = errors.New("inference failed")

// Job states.
const (
	jobQueued int32 = iota
	jobTaken
	jobCancelled
)

// job is one request's trip through the batcher, and the Prediction
// Predict returns. Jobs are pooled per model; a job cancelled while queued
// is dropped rather than pooled, since the queue may still point at it.
type job struct {
	m     *Model
	b     *signature.Batch
	state atomic.Int32
	done  chan struct{} // buffered(1): the result is in, or this job leads
	next  *job

	// Set by whoever ran the job.
	outs []signature.Output
	err  error

	// Set when the job is handed the worker to lead the next run.
	lead   bool
	worker *worker
	batch  []*job
}

func (j *job) rows() int { return j.b.Rows }

// Outputs returns the request's rows of every output; they belong to j
// until Release.
func (j *job) Outputs() []signature.Output { return j.outs }

// Release returns j to its model's pool.
func (j *job) Release() { j.m.putJob(j) }

var _ signature.Prediction = (*job)(nil)

// batcher is a model's queue of requests waiting for a worker, and its idle
// workers. Invariant (busy and off modes): idle workers exist only while the
// queue is empty, since a worker that finishes a run hands itself to the
// next queued job.
type batcher struct {
	mu         sync.Mutex
	idle       []*worker
	head, tail *job
	queuedRows int
	// window mode: a leader is collecting; wake it when full.
	windowOpen bool
	windowFull chan struct{}
}

func (q *batcher) push(j *job) {
	j.next = nil
	if q.tail == nil {
		q.head = j
	} else {
		q.tail.next = j
	}
	q.tail = j
	q.queuedRows += j.rows()
}

// take appends to dst queued jobs that can share one run with first (or,
// when first is nil, with the first live queued job), up to maxRows in all.
// It always takes at least one job when any is queued. Cancelled jobs are
// unlinked and dropped.
func (q *batcher) take(dst []*job, first *job, maxRows int) []*job {
	rows := 0
	if first != nil {
		rows = first.rows()
	}
	var prev *job
	for j := q.head; j != nil; {
		next := j.next
		unlink := false
		if j.state.Load() == jobCancelled {
			unlink = true
		} else if (first == nil || rows+j.rows() <= maxRows) && (first == nil || sameShape(first.b, j.b)) {
			if j.state.CompareAndSwap(jobQueued, jobTaken) {
				dst = append(dst, j)
				rows += j.rows()
				if first == nil {
					first = j
				}
			}
			unlink = true
		}
		if unlink {
			q.queuedRows -= j.rows()
			if prev == nil {
				q.head = next
			} else {
				prev.next = next
			}
			if q.tail == j {
				q.tail = prev
			}
			j.next = nil
		} else {
			prev = j
		}
		if rows >= maxRows {
			break
		}
		j = next
	}
	return dst
}

// sameShape reports whether a and b can be concatenated along the batch
// dimension: every feed has the same trailing dimensions.
func sameShape(a, b *signature.Batch) bool {
	for i := range a.Feeds {
		sa, sb := a.Feeds[i].Shape, b.Feeds[i].Shape
		if len(sa) != len(sb) {
			return false
		}
		for d := 1; d < len(sa); d++ {
			if sa[d] != sb[d] {
				return false
			}
		}
	}
	return true
}

// submit runs j, alone or batched with others, and returns when j's outputs
// or error are set. It fails with ErrOverloaded when the queue is full, and
// with ctx's error when ctx ends while j is still queued; once a run has
// taken j, submit waits for it.
func (m *Model) submit(ctx context.Context, j *job) error {
	q := &m.q
	q.mu.Lock()
	if len(q.idle) > 0 && !q.windowOpen {
		w := q.idle[len(q.idle)-1]
		q.idle = q.idle[:len(q.idle)-1]
		j.state.Store(jobTaken)
		if m.mode == BatchWindow && m.batchable {
			q.windowOpen = true
			q.mu.Unlock()
			m.collect(w, j)
			return nil
		}
		q.mu.Unlock()
		w.batch = append(w.batch[:0], j)
		m.lead(w, j, w.batch)
		return nil
	}
	if q.queuedRows+j.rows() > m.cfg.QueueRows && q.head != nil {
		q.mu.Unlock()
		return fmt.Errorf("model queue holds %d rows (limit %d): %w", q.queuedRows, m.cfg.QueueRows, ErrOverloaded)
	}
	j.state.Store(jobQueued)
	q.push(j)
	if q.windowOpen && q.queuedRows >= m.cfg.MaxBatchRows {
		select {
		case q.windowFull <- struct{}{}:
		default:
		}
	}
	q.mu.Unlock()

	select {
	case <-j.done:
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobCancelled) {
			return fmt.Errorf("waiting for a worker: %w", ctx.Err())
		}
		<-j.done
	}
	if j.lead {
		j.lead = false
		m.lead(j.worker, j, j.batch)
	}
	return nil
}

// collect is BatchWindow's leader: it holds worker w for up to MaxDelay (or
// until MaxBatchRows are queued), then runs everything gathered with j.
func (m *Model) collect(w *worker, j *job) {
	q := &m.q
	t := time.NewTimer(m.cfg.MaxDelay)
	select {
	case <-t.C:
	case <-q.windowFull:
		t.Stop()
	}
	q.mu.Lock()
	q.windowOpen = false
	select { // drop a wake-up that raced with the timer
	case <-q.windowFull:
	default:
	}
	w.batch = append(w.batch[:0], j)
	w.batch = q.take(w.batch, j, m.cfg.MaxBatchRows)
	leaders := m.dispatchIdle()
	q.mu.Unlock()
	for _, l := range leaders {
		l.done <- struct{}{}
	}
	m.lead(w, j, w.batch)
}

// dispatchIdle hands idle workers to queued jobs, which can be left behind
// when a BatchWindow run could not take them all. It returns the new leaders
// to wake once q.mu is released. Called with q.mu held.
func (m *Model) dispatchIdle() []*job {
	q := &m.q
	var leaders []*job
	for q.head != nil && len(q.idle) > 0 {
		w := q.idle[len(q.idle)-1]
		next := q.take(w.batch[:0], nil, m.cfg.MaxBatchRows)
		if len(next) == 0 {
			break
		}
		q.idle = q.idle[:len(q.idle)-1]
		l := next[0]
		l.lead, l.worker, l.batch = true, w, next
		leaders = append(leaders, l)
	}
	return leaders
}

// lead runs batch on w for self (a member of batch), wakes the other
// members, then hands w on.
func (m *Model) lead(w *worker, self *job, batch []*job) {
	m.run(w, batch)
	for _, j := range batch {
		if j != self {
			j.done <- struct{}{}
		}
	}
	m.handoff(w)
}

// handoff gives worker w to the next queued job, which leads the next run,
// or returns it to the idle list when nothing is queued.
func (m *Model) handoff(w *worker) {
	q := &m.q
	q.mu.Lock()
	maxRows := m.cfg.MaxBatchRows
	if m.mode == BatchOff || !m.batchable {
		maxRows = 0
	}
	next := q.take(w.batch[:0], nil, maxRows)
	if len(next) == 0 {
		q.idle = append(q.idle, w)
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	leader := next[0]
	leader.lead, leader.worker, leader.batch = true, w, next
	leader.done <- struct{}{}
}
