package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestErrKind(t *testing.T) {
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	read := func(err error) error { return &net.OpError{Op: "read", Net: "tcp", Err: err} }
	tests := []struct {
		err  error
		want string
	}{
		{fasthttp.ErrTimeout, ErrKindTimeout},
		{read(os.ErrDeadlineExceeded), ErrKindTimeout},
		{fasthttp.ErrDialTimeout, ErrKindDialTimeout},
		{dial(os.ErrDeadlineExceeded), ErrKindDialTimeout},
		{dial(os.NewSyscallError("connect", syscall.ECONNREFUSED)), ErrKindRefused},
		{read(os.NewSyscallError("read", syscall.ECONNRESET)), ErrKindReset},
		{fmt.Errorf("write: %w", syscall.EPIPE), ErrKindReset},
		{fasthttp.ErrConnectionClosed, ErrKindClosed},
		{io.EOF, ErrKindClosed},
		{read(net.ErrClosed), ErrKindClosed},
		{fasthttp.ErrNoFreeConns, ErrKindNoFreeConnections},
		{&net.DNSError{Err: "no such host", Name: "gw.invalid", IsNotFound: true}, ErrKindDNS},
		{errRunStopped, ErrKindAborted},
		{errors.New("something else"), ErrKindOther},
		{context.Canceled, ErrKindOther},
	}
	for _, tt := range tests {
		if got := errKind(tt.err); got != tt.want {
			t.Errorf("errKind(%v) = %q; want %q", tt.err, got, tt.want)
		}
	}
}
