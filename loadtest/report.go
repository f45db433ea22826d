package loadtest

import (
	"time"
)

// Report is the outcome of one run. It is plain data: every writer
// (WriteText, WriteJSON, WriteBenchstat, WriteHTML) renders only these
// fields, so a Report decoded from WriteJSON's output renders the same.
// Latencies are in microseconds, run times in seconds.
type Report struct {
	// Config is the run's effective configuration (defaults applied).
	Config RunConfig `json:"config"`
	// Start is the wall-clock time the measured window began (after
	// warmup), in UTC.
	Start time.Time `json:"start"`
	// ElapsedSeconds runs from Start to the end of the last measured
	// request (its response, error, or the run's hard deadline).
	ElapsedSeconds float64 `json:"elapsed_s"`
	// Interrupted is true when the run was cancelled before its end; the
	// report covers what ran until then.
	Interrupted bool `json:"interrupted"`

	Requests   Counts     `json:"requests"`
	Throughput Throughput `json:"throughput"`
	// Latency is measured from each request's intended send time (open
	// loop) or its send time (closed loop) to its response, for every
	// request that got an HTTP response, whatever its status.
	Latency Latency `json:"latency"`
	// ServiceTime is measured from the actual send to the response; in the
	// open loop the difference from Latency is time spent waiting for a
	// free worker.
	ServiceTime Latency `json:"service_time"`
	// SendLag is how far behind schedule open-loop requests were sent; zero
	// in the closed loop.
	SendLag Latency `json:"send_lag"`

	// Statuses counts responses by HTTP status, ascending.
	Statuses []StatusCount `json:"statuses"`
	// TransportErrors counts requests without a response by error kind,
	// most frequent first.
	TransportErrors []ErrorCount `json:"transport_errors"`

	// Targets are the distinct (route, model, alias, version, run)
	// provenance combinations seen in responses, most responses first.
	Targets []TargetReport `json:"targets"`
	// Tally counts responses by each provenance header.
	Tally Tally `json:"tally"`
	// Split is the expected-split check; nil when none was asked for.
	Split *SplitReport `json:"split"`
	// Flips lists every change of the version serving an alias, in order.
	// Only responses carrying X-Model-Alias are followed.
	Flips []Flip `json:"flips"`
	// FlipsDropped counts flips beyond the recorded maximum.
	FlipsDropped int64 `json:"flips_dropped"`
	// Series has one entry per second of the measured run, from 0.
	Series []Second `json:"series"`
}

// RunConfig is the configuration a report was produced with.
type RunConfig struct {
	URL         string   `json:"url"`
	Endpoint    string   `json:"endpoint"`
	Route       string   `json:"route"`
	Mode        string   `json:"mode"` // "open" or "closed"
	Rate        float64  `json:"rate"`
	MaxInFlight int      `json:"max_inflight"`
	Connections int      `json:"connections"`
	Duration    string   `json:"duration"`
	Requests    int64    `json:"requests"`
	Warmup      string   `json:"warmup"`
	Timeout     string   `json:"timeout"`
	Grace       string   `json:"grace"`
	LateAfter   string   `json:"late_after"`
	ContentType string   `json:"content_type"`
	Bodies      int      `json:"bodies"`
	BodyBytes   int      `json:"body_bytes"` // size of the first body
	Headers     []string `json:"headers"`
	Keys        int      `json:"keys"`
	KeyOrder    string   `json:"key_order"`
	ExpectSplit string   `json:"expect_split"`
	Confidence  float64  `json:"confidence"`
}

// Counts are the measured requests by outcome. Scheduled = Sent + Unsent;
// Sent = Responses + TransportErrors.
type Counts struct {
	// Scheduled is the number of measured requests the run meant to send.
	Scheduled int64 `json:"scheduled"`
	Sent      int64 `json:"sent"`
	// Responses got an HTTP response; OK ones had a 2xx status.
	Responses int64 `json:"responses"`
	OK        int64 `json:"ok"`
	// HTTPErrors are responses with a status outside 2xx.
	HTTPErrors int64 `json:"http_errors"`
	// TransportErrors got no response (timeouts included).
	TransportErrors int64 `json:"transport_errors"`
	// Unsent were scheduled but not sent before the run stopped.
	Unsent int64 `json:"unsent"`
	// Late were sent more than LateAfter behind their intended time (open
	// loop only).
	Late int64 `json:"late"`
	// Warmup counts the requests sent during warmup, not measured.
	Warmup int64 `json:"warmup"`
	// BytesIn is the total size of the response bodies.
	BytesIn int64 `json:"bytes_in"`
	// Dials counts the connections opened, warmup included.
	Dials int64 `json:"dials"`
}

// Errors returns every measured request that did not end in a 2xx response.
func (c Counts) Errors() int64 { return c.HTTPErrors + c.TransportErrors + c.Unsent }

// Throughput is in requests per second of ElapsedSeconds.
type Throughput struct {
	// Total counts every response, whatever its status.
	Total float64 `json:"total_rps"`
	// OK counts 2xx responses.
	OK float64 `json:"ok_rps"`
}

// Latency summarises a latency distribution in microseconds. Percentiles
// have HDR precision (3 significant digits); Min, Mean and Max are exact.
type Latency struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min_us"`
	Mean  float64 `json:"mean_us"`
	P50   int64   `json:"p50_us"`
	P90   int64   `json:"p90_us"`
	P99   int64   `json:"p99_us"`
	P999  int64   `json:"p999_us"`
	Max   int64   `json:"max_us"`
}

// Percentiles are one second's chart values, in microseconds.
type Percentiles struct {
	P50 int64 `json:"p50_us"`
	P90 int64 `json:"p90_us"`
	P99 int64 `json:"p99_us"`
	Max int64 `json:"max_us"`
}

// StatusCount is the number of responses with one HTTP status.
type StatusCount struct {
	Status int   `json:"status"`
	Count  int64 `json:"count"`
}

// ErrorCount is the number of requests that failed with one transport error
// kind, with the first error's message as an example.
type ErrorCount struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"example"`
}

// Target is one provenance combination, from the response headers
// X-Route, X-Model-Name, X-Model-Alias, X-Model-Version and
// X-Mlflow-Run-Id. Empty fields mean the header was absent.
type Target struct {
	Route   string `json:"route"`
	Model   string `json:"model"`
	Alias   string `json:"alias"`
	Version string `json:"version"`
	RunID   string `json:"run_id"`
}

// TargetReport is what one target served.
type TargetReport struct {
	Target
	// Label names the target in tables and charts, e.g. "champion v1".
	Label     string `json:"label"`
	Responses int64  `json:"responses"`
	OK        int64  `json:"ok"`
	// Share is Responses over all responses.
	Share    float64       `json:"share"`
	Latency  Latency       `json:"latency"`
	Statuses []StatusCount `json:"statuses"`
}

// Tally counts responses by each provenance header value; "" stands for an
// absent header. Entries are sorted by count, then by name.
type Tally struct {
	ByVersion []NameCount `json:"by_version"`
	ByAlias   []NameCount `json:"by_alias"`
	ByRoute   []NameCount `json:"by_route"`
	ByModel   []NameCount `json:"by_model"`
}

// NameCount is a count for one header value.
type NameCount struct {
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

// Flip is a change of the version serving an alias. Times are seconds from
// the report's Start.
type Flip struct {
	Model string `json:"model"`
	Alias string `json:"alias"`
	From  string `json:"from"`
	To    string `json:"to"`
	// At is when the first response from To arrived.
	At float64 `json:"at_s"`
	// Seq is how many measured responses for the alias came before it.
	Seq int64 `json:"seq"`
	// Interleaved counts responses still served by From after At, for
	// requests that were already in flight at At.
	Interleaved int64 `json:"interleaved"`
	// LastOld is when the last interleaved response arrived; equal to At
	// when there was none.
	LastOld float64 `json:"last_old_s"`
}

// Second is one second of the run, by completion time.
type Second struct {
	// T is the second's start, in whole seconds from Start.
	T         int   `json:"t"`
	Responses int64 `json:"responses"`
	OK        int64 `json:"ok"`
	// Errors counts non-2xx responses and transport errors.
	Errors  int64          `json:"errors"`
	Latency Percentiles    `json:"latency"`
	Targets []TargetSecond `json:"targets"`
}

// TargetSecond is one target's share of a second.
type TargetSecond struct {
	// Target indexes Report.Targets.
	Target    int         `json:"target"`
	Responses int64       `json:"responses"`
	OK        int64       `json:"ok"`
	Latency   Percentiles `json:"latency"`
}
