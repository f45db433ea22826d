package serve

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Accept backoff bounds: a failed Accept is retried after minAcceptBackoff,
// doubling up to maxAcceptBackoff while it keeps failing.
const (
	minAcceptBackoff = 5 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// drainGrace is how long Close keeps accepting after the last queued
// connection: long enough for handshakes under way when it stopped new
// ones to complete (one round trip).
const drainGrace = 100 * time.Millisecond

// acceptLogEvery spaces the log records of repeated accept failures and of
// connections refused by a limit.
const acceptLogEvery = 10 * time.Second

// overloadedResponse answers a connection closed because the listener is at
// its connection limit, on plain-HTTP listeners (on TLS ones the
// connection is only closed: nothing can be said before the handshake).
var overloadedResponse = []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\n" +
	"Content-Type: application/json\r\nContent-Length: 95\r\n\r\n" +
	`{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "too many open connections; retry later"}` + "\n")

// listenerConfig bounds one listener's connections.
type listenerConfig struct {
	// maxConns bounds the connections open at once; 0 means no limit.
	maxConns int
	// maxConnsPerIP bounds the open connections of one client address; 0
	// means no limit.
	maxConnsPerIP int
	// plain is false when TLS runs above the listener.
	plain bool
	// name is the listener's role in log records ("main", "admin").
	name string
	log  *slog.Logger
}

// listener wraps a TCP listener so that mlgate keeps running through
// resource exhaustion and closes without dropping queued connections:
//
//   - Accept never returns a transient error (out of file descriptors,
//     buffers or memory, a connection aborted before it was accepted): it
//     logs, backs off from 5ms doubling to 1s, and retries, so the server's
//     accept loop does not end.
//   - Connections beyond maxConns, or beyond maxConnsPerIP from one address,
//     are closed at once (after a 503 on plain listeners) instead of being
//     served.
//   - Close first stops the kernel from completing new handshakes (on
//     Linux), then hands the connections already queued in the kernel to
//     Accept before closing the socket, so that no client that got a
//     connection has it reset unserved.
//
// It is safe for concurrent use.
type listener struct {
	net.Listener
	cfg listenerConfig

	open     atomic.Int64 // connections accepted and not yet closed
	backoffs atomic.Int64 // Accept failures retried
	refused  atomic.Int64 // connections closed by a limit

	mu       sync.Mutex
	perIP    map[netip.Addr]int
	lastLog  map[string]time.Time
	queued   []net.Conn // accepted by Close, for Accept to return
	closing  bool
	closeErr error

	closed  chan struct{} // closed when Close starts
	drained chan struct{} // closed when Close has closed the socket
	once    sync.Once
}

func newListener(ln net.Listener, cfg listenerConfig) *listener {
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	return &listener{Listener: ln, cfg: cfg, perIP: map[netip.Addr]int{}, lastLog: map[string]time.Time{},
		closed: make(chan struct{}), drained: make(chan struct{})}
}

// Accept returns the next connection within the limits. It returns an
// error only once the listener is closed or on a failure retrying cannot
// mend.
func (l *listener) Accept() (net.Conn, error) {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.closed:
				return l.afterClose()
			default:
			}
			if !retryable(err) {
				return nil, err
			}
			delay = min(max(2*delay, minAcceptBackoff), maxAcceptBackoff)
			l.backoffs.Add(1)
			l.logEvery("accept", slog.LevelWarn, "accepting a connection failed; retrying",
				"listener", l.cfg.name, "err", err, "backoff", delay, "failures", l.backoffs.Load(),
				"open_connections", l.open.Load())
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-l.closed:
				t.Stop()
			}
			continue
		}
		delay = 0
		if wc, ok := l.admit(c); ok {
			return wc, nil
		}
	}
}

// afterClose returns the connections Close took from the kernel's queue,
// then net.ErrClosed.
func (l *listener) afterClose() (net.Conn, error) {
	<-l.drained
	l.mu.Lock()
	defer l.mu.Unlock()
	for len(l.queued) > 0 {
		c := l.queued[0]
		l.queued = l.queued[1:]
		if wc, ok := l.admitLocked(c); ok {
			return wc, nil
		}
	}
	return nil, net.ErrClosed
}

// admit counts c against the limits, or closes it when it is over one.
func (l *listener) admit(c net.Conn) (net.Conn, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitLocked(c)
}

func (l *listener) admitLocked(c net.Conn) (net.Conn, bool) {
	var ip netip.Addr
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		ip = ta.AddrPort().Addr().Unmap()
	}
	over := ""
	switch {
	case l.cfg.maxConns > 0 && l.open.Load() >= int64(l.cfg.maxConns):
		over = "max connections"
	case l.cfg.maxConnsPerIP > 0 && ip.IsValid() && l.perIP[ip] >= l.cfg.maxConnsPerIP:
		over = "max connections per client address"
	}
	if over != "" {
		l.refused.Add(1)
		l.logEveryLocked("limit", slog.LevelWarn, "connection limit reached; closing new connections",
			"listener", l.cfg.name, "limit", over, "max_connections", l.cfg.maxConns,
			"max_connections_per_ip", l.cfg.maxConnsPerIP, "open_connections", l.open.Load(),
			"refused", l.refused.Load())
		if l.cfg.plain {
			// A fresh socket's send buffer is empty: the write does not
			// block, and the deadline makes sure of it.
			c.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
			c.Write(overloadedResponse)
		}
		c.Close()
		return nil, false
	}
	l.open.Add(1)
	if ip.IsValid() && l.cfg.maxConnsPerIP > 0 {
		l.perIP[ip]++
	}
	return &conn{Conn: c, l: l, ip: ip}, true
}

func (l *listener) release(ip netip.Addr) {
	l.open.Add(-1)
	if !ip.IsValid() || l.cfg.maxConnsPerIP <= 0 {
		return
	}
	l.mu.Lock()
	if n := l.perIP[ip] - 1; n > 0 {
		l.perIP[ip] = n
	} else {
		delete(l.perIP, ip)
	}
	l.mu.Unlock()
}

// Close stops new handshakes, takes the connections the kernel has already
// completed off its queue for Accept to return, and closes the socket.
// Accept calls blocked in the kernel return at once.
func (l *listener) Close() error {
	l.once.Do(func() {
		close(l.closed)
		l.closeErr = l.drainAndClose()
		close(l.drained)
	})
	return l.closeErr
}

func (l *listener) drainAndClose() error {
	dl, ok := l.Listener.(interface{ SetDeadline(time.Time) error })
	if !ok {
		return l.Listener.Close()
	}
	if err := stopHandshakes(l.Listener); err != nil {
		l.cfg.log.Debug("closing the listener without draining its queue", "listener", l.cfg.name, "err", err)
		return l.Listener.Close()
	}
	// No new handshake starts now; accept what completes until the queue
	// has stayed empty for drainGrace. The deadline also wakes the Accept
	// blocked in the serving goroutine.
	for {
		dl.SetDeadline(time.Now().Add(drainGrace))
		c, err := l.Listener.Accept()
		if err != nil {
			break
		}
		l.mu.Lock()
		l.queued = append(l.queued, c)
		l.mu.Unlock()
	}
	return l.Listener.Close()
}

// retryable reports whether an Accept error is one the listener recovers
// from by itself: resource exhaustion (descriptors, buffers, memory) or a
// connection that failed between the handshake and accept.
func retryable(err error) bool {
	if errors.Is(err, net.ErrClosed) {
		return false
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
			syscall.ECONNABORTED, syscall.ECONNRESET, syscall.EPROTO, syscall.EPERM,
			syscall.EINTR, syscall.EAGAIN, syscall.ETIMEDOUT, syscall.EHOSTUNREACH,
			syscall.ENETUNREACH, syscall.ENETDOWN, syscall.ENOPROTOOPT, syscall.EHOSTDOWN,
			syscall.EOPNOTSUPP:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// logEvery writes a record for key at most once per acceptLogEvery.
func (l *listener) logEvery(key string, level slog.Level, msg string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logEveryLocked(key, level, msg, args...)
}

func (l *listener) logEveryLocked(key string, level slog.Level, msg string, args ...any) {
	now := time.Now()
	if last, ok := l.lastLog[key]; ok && now.Sub(last) < acceptLogEvery {
		return
	}
	l.lastLog[key] = now
	l.cfg.log.Log(context.Background(), level, msg, args...)
}

// conn is a connection counted by its listener until it is closed.
type conn struct {
	net.Conn
	l      *listener
	ip     netip.Addr
	closed atomic.Bool
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.l.release(c.ip)
	}
	return err
}

// Listen opens a TCP listener on addr for Serve and ServeAdmin. It uses
// plain TCP rather than Go's default Multipath TCP, whose sockets take no
// filter: closing then resets connections the kernel completed but mlgate
// had not accepted yet.
func Listen(addr string) (net.Listener, error) {
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	return lc.Listen(context.Background(), "tcp", addr)
}
