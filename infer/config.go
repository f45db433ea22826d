package infer

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// BatchMode selects how concurrent requests to one loaded version share
// ONNX Runtime calls.
type BatchMode uint8

const (
	// BatchBusy (the default) runs a request at once when a worker is
	// idle, and gathers requests that arrive while every worker is busy into
	// the next run, up to MaxBatchRows. It adds no latency at low load.
	BatchBusy BatchMode = iota
	// BatchOff runs every request on its own.
	BatchOff
	// BatchWindow waits up to MaxDelay after the first request of a batch
	// for more to arrive (or until MaxBatchRows), then runs them together.
	BatchWindow
)

var batchModeNames = [...]string{BatchBusy: "busy", BatchOff: "off", BatchWindow: "window"}

func (m BatchMode) String() string {
	if int(m) < len(batchModeNames) {
		return batchModeNames[m]
	}
	return fmt.Sprintf("BatchMode(%d)", m)
}

// ParseBatchMode parses "off", "busy" or "window".
func ParseBatchMode(s string) (BatchMode, error) {
	for i, n := range batchModeNames {
		if s == n {
			return BatchMode(i), nil
		}
	}
	return 0, fmt.Errorf("batching mode %q: want off, busy or window", s)
}

// Config holds the settings for loading and running model versions. The zero
// value of each field selects its documented default.
type Config struct {
	// IntraOpThreads is ONNX Runtime's intra-op thread count per session.
	// Zero means 1: on a small machine the workers below give the
	// parallelism, and one thread per Run avoids oversubscription.
	IntraOpThreads int
	// InterOpThreads is ONNX Runtime's inter-op thread count. Zero means 1.
	InterOpThreads int
	// Spinning lets ONNX Runtime's intra-op threads spin while waiting for
	// work. Off by default: spinning burns cores the HTTP server needs.
	Spinning bool
	// Workers is the number of concurrent ONNX Runtime calls per loaded
	// version. Zero means automatic: GOMAXPROCS, halved for a model whose
	// call is expensive and much cheaper per row when batched, when
	// batching is busy (see chooseWorkers).
	Workers int

	// Batching selects the batching mode; the zero value is BatchBusy.
	Batching BatchMode
	// MaxBatchRows caps the rows gathered into one run. Zero means 64.
	MaxBatchRows int
	// MaxDelay is the BatchWindow wait. Zero means 500µs.
	MaxDelay time.Duration
	// QueueRows bounds the rows waiting for a worker; a request beyond it
	// fails with ErrOverloaded. Zero means 4096.
	QueueRows int

	// Logger receives load and warm-up events. Nil discards them.
	Logger *slog.Logger
	// Tracer records load and warm-up spans, children of the context
	// given to Load. Nil means none.
	Tracer trace.Tracer

	// callCost, when set, replaces the measured duration of each timed
	// calibration call (on the example repeated requests times, rows rows
	// in all). Tests set it so that the worker choice does not depend on
	// the speed of the machine.
	callCost func(requests, rows int) time.Duration
}

func (c Config) withDefaults() Config {
	if c.IntraOpThreads == 0 {
		c.IntraOpThreads = 1
	}
	if c.InterOpThreads == 0 {
		c.InterOpThreads = 1
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.MaxBatchRows == 0 {
		c.MaxBatchRows = 64
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = 500 * time.Microsecond
	}
	if c.QueueRows == 0 {
		c.QueueRows = 4096
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Tracer == nil {
		c.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return c
}

// Validate reports the first invalid field by name.
func (c Config) Validate() error {
	switch {
	case c.IntraOpThreads < 0:
		return fmt.Errorf("intra-op threads %d: must be ≥ 0", c.IntraOpThreads)
	case c.InterOpThreads < 0:
		return fmt.Errorf("inter-op threads %d: must be ≥ 0", c.InterOpThreads)
	case c.Workers < 0:
		return fmt.Errorf("workers %d: must be ≥ 0", c.Workers)
	case c.Batching > BatchWindow:
		return fmt.Errorf("batching mode %d: unknown", c.Batching)
	case c.MaxBatchRows < 0:
		return fmt.Errorf("max batch rows %d: must be ≥ 0", c.MaxBatchRows)
	case c.MaxDelay < 0:
		return fmt.Errorf("max batch delay %s: must be ≥ 0", c.MaxDelay)
	case c.QueueRows < 0:
		return fmt.Errorf("queue rows %d: must be ≥ 0", c.QueueRows)
	}
	return nil
}
