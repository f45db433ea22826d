package serve

import (
	"sync"
	"time"
)

// Event is one entry of the timeline of what mlgate serves: an alias
// move, a load and its warm-up, a swap, a retirement, a failed load, a
// version given up on, a withdrawal, a reload.
type Event struct {
	// Seq numbers events from 1, in the order they were recorded.
	Seq int64     `json:"seq"`
	At  time.Time `json:"at"`
	// Kind is one of the Event* constants.
	Kind string `json:"kind"`
	// URI is the model URI the event is about; Route the route, for
	// events about one.
	URI   string `json:"uri,omitempty"`
	Route string `json:"route,omitempty"`
	// Version is the version the event is about (moved to, loaded,
	// swapped in, retired, failed); FromVersion the one it replaced.
	Version     string `json:"version,omitempty"`
	FromVersion string `json:"from_version,omitempty"`
	// Reason says why, in words: the error of a failure, what a swap
	// was for.
	Reason string `json:"reason,omitempty"`
	// Seconds is how long a load or warm-up took.
	Seconds float64 `json:"seconds,omitempty"`
}

// Event kinds.
const (
	EventAliasMoved = "alias_moved" // the registry says the URI now points at Version
	EventLoad       = "load"        // Version was loaded (or taken from the loaded-model cache)
	EventWarmup     = "warmup"      // Version was warmed up after its load
	EventSwap       = "swap"        // Version serves the URI from now on, FromVersion no more
	EventRetire     = "retire"      // Version no longer serves: its last serving state finished its last request
	EventLoadFailed = "load_failed" // Version failed to resolve, download or load; the current one keeps serving
	EventGaveUp     = "gave_up"     // Version failed too often; retried only when the URI moves again
	EventMissing    = "missing"     // the alias or version vanished from the registry
	EventWithdraw   = "withdraw"    // the URI is no longer served (it vanished and --on-missing withdraw)
	EventReload     = "reload"      // the configuration's routes were reloaded
)

// events is a bounded ring of the most recent events.
type events struct {
	mu   sync.Mutex
	ring []Event // oldest first once full: ring[next%cap]
	next int64   // Seq of the next event, minus one
}

func newEvents(capacity int) *events {
	return &events{ring: make([]Event, 0, capacity)}
}

func (ev *events) add(e Event) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	if cap(ev.ring) == 0 {
		return
	}
	ev.next++
	e.Seq = ev.next
	if e.At.IsZero() {
		e.At = time.Now()
	}
	if len(ev.ring) < cap(ev.ring) {
		ev.ring = append(ev.ring, e)
		return
	}
	ev.ring[(ev.next-1)%int64(cap(ev.ring))] = e
}

// since returns the events after seq, oldest first, at most max of them
// (the newest), and the Seq of the newest event recorded.
func (ev *events) since(seq int64, max int) ([]Event, int64) {
	ev.mu.Lock()
	defer ev.mu.Unlock()
	n := len(ev.ring)
	first := ev.next - int64(n) + 1 // Seq of the oldest kept
	from := max64(seq+1, first, ev.next-int64(max)+1)
	if from > ev.next {
		return nil, ev.next
	}
	out := make([]Event, 0, ev.next-from+1)
	for s := from; s <= ev.next; s++ {
		out = append(out, ev.ring[(s-1)%int64(cap(ev.ring))])
	}
	return out, ev.next
}

func max64(a int64, more ...int64) int64 {
	for _, b := range more {
		a = max(a, b)
	}
	return a
}

// RecordEvent adds e to the timeline the status page shows (its Seq is
// set, and At when zero). The timeline keeps the Config.StatusEvents most
// recent events. It is safe for concurrent use; it is meant for the
// paths that change what is served, not for requests.
func (s *Server) RecordEvent(e Event) { s.events.add(e) }
