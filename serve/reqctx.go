package serve

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineCtx is a pooled context.Context that ends a timeout after a
// start time. The request path takes one per request instead of
// context.WithTimeout, which allocates a context, a timer and a channel
// every time: here the timer and the done channel are reused, and a new
// channel is made only after a deadline actually fired. The start is the
// time fasthttp read before calling the handler, so starting costs no
// clock read; the timer is armed only when someone waits on Done (a
// request queued for a busy model); Err reads the monotonic clock only,
// and takes no lock until the deadline has passed.
//
// A deadlineCtx is used by one request at a time; Done, Err and Deadline are
// safe to call from other goroutines while it is in use.
type deadlineCtx struct {
	// start and timeout are set by startDeadline, before the context is
	// shared, and read without the lock.
	start   time.Time
	timeout time.Duration
	// expired is set, with err, once the deadline has passed.
	expired atomic.Bool

	mu    sync.Mutex
	done  chan struct{}
	err   error
	timer *time.Timer
	armed bool
	// values, when set, answers Value (the request's trace span).
	values context.Context
}

var deadlinePool = sync.Pool{New: func() any {
	c := &deadlineCtx{done: make(chan struct{})}
	c.timer = time.AfterFunc(time.Hour, c.fire)
	c.timer.Stop()
	return c
}}

// startDeadline returns a context that ends timeout after start, which
// must carry a monotonic clock reading (time.Now's). Give it back with
// stop once the request is done with it.
func startDeadline(start time.Time, timeout time.Duration) *deadlineCtx {
	c := deadlinePool.Get().(*deadlineCtx)
	c.mu.Lock()
	if c.err != nil {
		c.done = make(chan struct{})
		c.err = nil
		c.expired.Store(false)
	}
	c.start, c.timeout = start, timeout
	c.armed = false
	c.mu.Unlock()
	return c
}

// elapsed returns the time since the context started.
func (c *deadlineCtx) elapsed() time.Duration { return time.Since(c.start) }

// fire runs on the timer's goroutine. A late fire left over from an earlier
// request finds the current deadline still ahead and does nothing.
func (c *deadlineCtx) fire() {
	c.mu.Lock()
	c.expireLocked()
	c.mu.Unlock()
}

// expireLocked ends the context if its deadline has passed.
func (c *deadlineCtx) expireLocked() {
	if c.err == nil && c.elapsed() >= c.timeout {
		c.err = context.DeadlineExceeded
		c.expired.Store(true)
		close(c.done)
	}
}

func (c *deadlineCtx) stop() {
	c.mu.Lock()
	armed := c.armed
	c.mu.Unlock()
	if armed {
		c.timer.Stop()
	}
	c.values = nil
	deadlinePool.Put(c)
}

func (c *deadlineCtx) Deadline() (time.Time, bool) {
	return c.start.Add(c.timeout), true
}

func (c *deadlineCtx) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed && c.err == nil {
		c.armed = true
		if d := c.timeout - c.elapsed(); d > 0 {
			c.timer.Reset(d)
		} else {
			c.expireLocked()
		}
	}
	return c.done
}

func (c *deadlineCtx) Err() error {
	if !c.expired.Load() && c.elapsed() < c.timeout {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked()
	return c.err
}

func (c *deadlineCtx) Value(key any) any {
	if c.values != nil {
		return c.values.Value(key)
	}
	return nil
}

var _ context.Context = (*deadlineCtx)(nil)
