package serve

import (
	"context"
	"testing"
	"time"
)

func TestDeadlineCtx(t *testing.T) {
	c := startDeadline(time.Now(), time.Hour)
	if c.Err() != nil {
		t.Fatal("ended before its deadline")
	}
	if dl, ok := c.Deadline(); !ok || dl != c.start.Add(time.Hour) {
		t.Errorf("Deadline = %v, %v; want start + 1h", dl, ok)
	}
	c.stop()

	// A deadline reached while someone waits on Done: the timer closes it.
	c = startDeadline(time.Now(), time.Millisecond)
	select {
	case <-c.Done():
	case <-time.After(time.Minute):
		t.Fatal("Done never closed after the deadline")
	}
	if c.Err() != context.DeadlineExceeded {
		t.Errorf("Err = %v; want DeadlineExceeded", c.Err())
	}
	c.stop()

	// Reused from the pool: a fresh deadline, a fresh channel, no late
	// fire from the previous use.
	c = startDeadline(time.Now(), time.Hour)
	if c.Err() != nil {
		t.Fatalf("reused context starts ended: %v", c.Err())
	}
	select {
	case <-c.Done():
		t.Fatal("reused context's Done is closed")
	default:
	}
	c.stop()

	// Err alone notices a passed deadline even when nobody armed the timer,
	// and Done then returns a closed channel.
	c = startDeadline(time.Now().Add(-time.Second), time.Millisecond)
	if c.Err() != context.DeadlineExceeded {
		t.Errorf("unarmed context past its deadline: Err = %v", c.Err())
	}
	select {
	case <-c.Done():
	default:
		t.Error("Done is open after Err reported the deadline")
	}
	c.stop()

	// Done on a context whose deadline passed before anyone waited.
	c = startDeadline(time.Now().Add(-time.Second), time.Millisecond)
	select {
	case <-c.Done():
	default:
		t.Error("Done is open past the deadline")
	}
	c.stop()
}
