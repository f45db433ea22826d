// Package loadtest is mlgate's load generator. It sends MLflow scoring
// requests to an mlgate server, open loop (a constant arrival rate, with
// latency measured from each request's intended send time so that
// coordinated omission is not hidden) or closed loop (N connections sending
// back to back), and reads mlgate's provenance headers to tally which model
// version and alias served each response. A run produces a Report: HDR
// latency percentiles, throughput, errors by status and by transport failure,
// per-target tallies, an expected-split check, the alias flip timeline and a
// per-second time series, written as text, JSON, benchstat lines or a
// self-contained HTML page. Callers fill a Config and call Run; the
// command line, mlgate loadtest, is parsed in cmd/mlgate.
//
// Sending on time: a Go timer due in under a millisecond on an otherwise
// idle process fires only when the runtime's network poller returns, whose
// timeout is whole milliseconds, so an open loop on timers sends in bursts
// up to a millisecond late. At rates up to 10,000 requests per second the
// open loop therefore sleeps with nanosleep on a thread of its own whose
// timer slack is 1 µs; above that the sends keep the process busy enough
// for timers to be on time, and a system call per send would cost more than
// the interval. Report.SendLag and the late count say how well it kept the
// schedule.
//
// The package owns the client side only. It imports the standard library,
// fasthttp (its HTTP client), hdrhistogram-go and the pure signature package
// (to generate bodies from a model's signature); it must not import serve,
// infer, resolver or any other mlgate package that runs a server or loads a
// model.
package loadtest
