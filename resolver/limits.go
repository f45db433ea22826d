package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sync/atomic"
	"time"
)

// Size limits on the files mlgate parses. They apply when a version is
// downloaded into the cache and when ReadFile reads one file.
const (
	// MaxMLmodelBytes is the largest MLmodel file mlgate reads.
	MaxMLmodelBytes = 1 << 20
	// MaxInputExampleBytes is the largest serving_input_example.json or
	// input_example.json mlgate reads (the largest request body, by
	// default).
	MaxInputExampleBytes = 16 << 20
)

// fileLimit returns the size limit for an artifact file mlgate parses, by
// its path relative to the version's directory, and what to call that
// limit in messages; 0 means the file is not parsed and has no limit of
// its own.
func fileLimit(p string) (int64, string) {
	switch p {
	case "MLmodel":
		return MaxMLmodelBytes, "the MLmodel limit"
	case "serving_input_example.json", "input_example.json":
		return MaxInputExampleBytes, "the input example limit"
	}
	return 0, ""
}

// errTooSlow and errDownloadTimeout are the causes of a download cancelled
// by its minimum rate or its deadline.
var (
	errTooSlow         = errors.New("download too slow")
	errDownloadTimeout = errors.New("download took too long")
)

// boundedWriter writes one artifact file and refuses bytes beyond limit: it
// writes up to the limit, then fails. It adds what it writes to progress,
// the byte count of the whole version.
type boundedWriter struct {
	w        io.Writer
	file     string
	limit    int64
	why      string // what the limit is, for the message
	n        int64
	progress *atomic.Int64
}

func (b *boundedWriter) Write(p []byte) (int, error) {
	room := b.limit - b.n
	over := int64(len(p)) > room
	if over {
		p = p[:room]
	}
	n, err := b.w.Write(p)
	b.n += int64(n)
	b.progress.Add(int64(n))
	if err != nil {
		return n, err
	}
	if over {
		return n, fmt.Errorf("artifact %s: more than the %d bytes of %s; stopped after writing %d: %w", b.file, b.limit, b.why, b.n, ErrInvalid)
	}
	return n, nil
}

// rateCheck decides, once per window, whether a download kept up its
// minimum rate during that window.
type rateCheck struct {
	perWindow int64 // bytes the window must bring
	last      int64 // progress at the previous check
}

func newRateCheck(bytesPerSecond int64, window time.Duration) *rateCheck {
	return &rateCheck{perWindow: int64(float64(bytesPerSecond) * window.Seconds())}
}

// ok records the progress total at the end of a window and reports whether
// the window brought enough bytes.
func (r *rateCheck) ok(total int64) bool {
	got := total - r.last
	r.last = total
	return got >= r.perWindow
}

// ticker starts a ticker with period d and returns its channel and stop
// function; tests replace it to drive the rate check.
type ticker func(d time.Duration) (<-chan time.Time, func())

func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// watchRate cancels ctx with a too-slow cause when a window of the ticker
// brings fewer bytes of progress than the minimum rate asks. It returns a
// function that stops watching; rate <= 0 watches nothing.
func watchRate(cancel context.CancelCauseFunc, progress *atomic.Int64, rate int64, window time.Duration, tick ticker) (stop func()) {
	if rate <= 0 {
		return func() {}
	}
	c, stopTicker := tick(window)
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		check := newRateCheck(rate, window)
		for {
			select {
			case <-done:
				return
			case <-c:
				total := progress.Load()
				if !check.ok(total) {
					cancel(withKind(ErrUnavailable, fmt.Errorf("slower than the minimum rate of %d bytes/s over %v (min-download-rate) after %d bytes: %w",
						rate, window, total, errTooSlow)))
					return
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
		stopTicker()
	}
}

// readLimited reads one file through w-bounded copying: at most limit
// bytes, or an error naming the file.
func readLimited(r io.Reader, name string, limit int64, why string) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("artifact %s: larger than %d bytes (%s): %w", path.Clean(name), limit, why, ErrInvalid)
	}
	return data, nil
}
