package loadtest

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"github.com/valyala/fasthttp"
)

// Transport error kinds, as reported in Report.TransportErrors.
const (
	ErrKindTimeout           = "timeout"
	ErrKindAborted           = "aborted"
	ErrKindRefused           = "connection_refused"
	ErrKindReset             = "connection_reset"
	ErrKindClosed            = "connection_closed"
	ErrKindDialTimeout       = "dial_timeout"
	ErrKindDNS               = "dns"
	ErrKindTLS               = "tls"
	ErrKindNoFreeConnections = "no_free_connections"
	ErrKindOther             = "other"
)

// errKind classifies a client error.
func errKind(err error) string {
	var (
		dnsErr  *net.DNSError
		netErr  net.Error
		recErr  tls.RecordHeaderError
		certErr *tls.CertificateVerificationError
		opErr   *net.OpError
	)
	switch {
	case errors.Is(err, errRunStopped):
		return ErrKindAborted
	case errors.Is(err, fasthttp.ErrDialTimeout),
		errors.As(err, &opErr) && opErr.Op == "dial" && opErr.Timeout():
		return ErrKindDialTimeout
	case errors.Is(err, fasthttp.ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded):
		return ErrKindTimeout
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return ErrKindNoFreeConnections
	case errors.Is(err, syscall.ECONNREFUSED):
		return ErrKindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ErrKindReset
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return ErrKindClosed
	case errors.As(err, &dnsErr):
		return ErrKindDNS
	case errors.As(err, &recErr), errors.As(err, &certErr):
		return ErrKindTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		return ErrKindTimeout
	}
	return ErrKindOther
}
