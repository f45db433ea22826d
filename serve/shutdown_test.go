package serve

import (
	"context"
	"errors"
	"net"
	"testing"
)

// TestShutdownBeforeServe: a Shutdown that runs before Serve has handed
// its listener to fasthttp still stops that Serve; it returns nil and
// the listener is closed.
func TestShutdownBeforeServe(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := s.Serve(ln); err != nil {
		t.Fatalf("serve after shutdown = %v, want nil", err)
	}
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("accept on the served listener = %v, want it closed", err)
	}
}

// TestShutdownStopsServeInFlight: Shutdown stops a Serve that is running
// concurrently, whichever of the two gets to the listener first.
func TestShutdownStopsServeInFlight(t *testing.T) {
	for i := 0; i < 50; i++ {
		s, err := New(Config{})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- s.Serve(ln) }()
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatalf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("serve = %v, want nil", err)
		}
		s.Close()
	}
}
