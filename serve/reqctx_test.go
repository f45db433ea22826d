package serve

import (
	"context"
	"testing"
	"time"
)

func TestDeadlineCtx(t *testing.T) {
	c := startDeadline(20 * time.Millisecond)
	if c.Err() != nil {
		t.Fatal("ended before its deadline")
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done never closed after the deadline")
	}
	if c.Err() != context.DeadlineExceeded {
		t.Errorf("Err = %v; want DeadlineExceeded", c.Err())
	}
	c.stop()

	// Reused from the pool: a fresh deadline, a fresh channel, no late
	// fire from the previous use.
	c = startDeadline(time.Hour)
	if c.Err() != nil {
		t.Fatalf("reused context starts ended: %v", c.Err())
	}
	select {
	case <-c.Done():
		t.Fatal("reused context's Done is closed")
	case <-time.After(30 * time.Millisecond):
	}
	c.stop()

	// Err alone notices a passed deadline even when nobody armed the timer.
	c = startDeadline(time.Millisecond)
	time.Sleep(5 * time.Millisecond)
	if c.Err() != context.DeadlineExceeded {
		t.Errorf("unarmed context past its deadline: Err = %v", c.Err())
	}
	c.stop()
}
