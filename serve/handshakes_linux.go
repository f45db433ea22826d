package serve

import (
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// dropSYN is a classic BPF socket filter that drops TCP segments with SYN
// set and ACK clear (the first segment of a handshake) and keeps the rest.
// A socket filter sees the segment from its TCP header on: byte 13 holds
// the flags.
var dropSYN = []unix.SockFilter{
	{Code: unix.BPF_LD | unix.BPF_B | unix.BPF_ABS, K: 13},
	{Code: unix.BPF_ALU | unix.BPF_AND | unix.BPF_K, K: 0x12},
	{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, K: 0x02, Jt: 0, Jf: 1},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0},
	{Code: unix.BPF_RET | unix.BPF_K, K: 0xffffffff},
}

// stopHandshakes makes a listening TCP socket ignore new SYNs: a client
// that connects from then on is retried by its kernel and refused once the
// socket is closed, while handshakes already under way complete and their
// connections stay queued for accept. (Closing a listening socket resets
// the connections still queued; stopping new handshakes first lets the
// caller accept every one of them.) It fails on sockets that take no
// filter, such as Multipath TCP ones.
func stopHandshakes(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return errors.New("not a socket")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = raw.Control(func(fd uintptr) {
		prog := unix.SockFprog{Len: uint16(len(dropSYN)), Filter: &dropSYN[0]}
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog)
	})
	if err != nil {
		return err
	}
	return serr
}
