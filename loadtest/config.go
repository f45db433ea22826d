package loadtest

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Defaults applied to zero Config fields.
const (
	DefaultURL             = "http://127.0.0.1:8080"
	DefaultConnections     = 16
	DefaultMaxInFlight     = 256
	DefaultDuration        = 10 * time.Second
	DefaultCountCap        = 10 * time.Minute
	DefaultTimeout         = 10 * time.Second
	DefaultLateAfter       = time.Millisecond
	DefaultIdleConnTimeout = 10 * time.Second
	DefaultKeys            = 1000
	DefaultConfidence      = 0.999
	// KeyPlaceholder is replaced in header values by the request's cohort
	// key.
	KeyPlaceholder = "{{key}}"
)

// KeyOrder is how requests pick their cohort key.
type KeyOrder uint8

// Key orders.
const (
	// KeysCycle gives request i the key i mod Keys.
	KeysCycle KeyOrder = iota
	// KeysRandom gives each request a uniformly random key.
	KeysRandom
)

// String returns "cycle" or "random".
func (o KeyOrder) String() string {
	if o == KeysRandom {
		return "random"
	}
	return "cycle"
}

// Header is one request header. A Value containing KeyPlaceholder is a
// sticky-key template: each request gets the value with the placeholder
// replaced by its cohort key.
type Header struct {
	Name  string
	Value string
}

// Result is one measured request, as passed to Config.OnResult. Times are
// offsets from the run's start (the open loop's t0, the start of warmup).
type Result struct {
	// Index is the request's sequence number from 0, warmup requests
	// included.
	Index int64
	// Intended is when the request was meant to be sent: t0 + Index/Rate in
	// the open loop, Sent in the closed loop.
	Intended time.Duration
	// Sent is when the request was handed to the client.
	Sent time.Duration
	// Done is when the response (or the error) arrived.
	Done time.Duration
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Err is the transport error kind ("timeout", "connection_refused",
	// ...), empty when a response arrived.
	Err string
}

// Latency returns Done - Intended, the latency the report records.
func (r Result) Latency() time.Duration { return r.Done - r.Intended }

// Config describes one load test run. The zero value of a field means its
// default, stated in the field's comment. A Config is read by Run and not
// retained after Run returns.
type Config struct {
	// URL is the mlgate server's base URL, http or https. A path in it
	// prefixes the invocation path. Default DefaultURL.
	URL string
	// Route selects POST <URL>/routes/<Route>/invocations; empty means
	// POST <URL>/invocations (the default route).
	Route string
	// Path, when set, is the request path below URL instead of the
	// scoring path Route selects, e.g. /v2/models/churn/infer for the
	// Open Inference Protocol. It must start with "/"; exclusive with
	// Route.
	Path string

	// Rate, when positive, selects the open loop: request i is intended at
	// t0 + i/Rate seconds and its latency is measured from that time, even
	// when no worker was free to send it then. Rate and Connections are
	// exclusive.
	Rate float64
	// MaxInFlight bounds the open loop's concurrent requests (workers and
	// connections). Default DefaultMaxInFlight. Ignored in the closed loop.
	MaxInFlight int
	// Connections is the closed loop's number of connections, each sending
	// its next request as soon as the previous one finished. Default
	// DefaultConnections when Rate is zero.
	Connections int

	// Duration is the measured window after Warmup. The run stops at the end
	// of the window or after Requests measured requests, whichever comes
	// first. Zero means DefaultDuration when Requests is zero; with
	// Requests set it means no time bound in the open loop (the schedule
	// ends after Requests) and DefaultCountCap in the closed loop.
	Duration time.Duration
	// Requests, when positive, bounds the number of measured requests.
	Requests int64
	// Warmup is sent before the measured window and not counted. Default 0.
	Warmup time.Duration
	// Timeout bounds each request from its send. Default DefaultTimeout.
	Timeout time.Duration
	// Grace is how long requests may still complete after the measured
	// window; at Warmup + window + Grace the run stops for good: requests
	// still in flight are counted as timeouts and requests not yet sent as
	// unsent. Default Timeout.
	Grace time.Duration
	// LateAfter is how far behind its intended time an open-loop request
	// may be sent before it counts as late. Default DefaultLateAfter.
	LateAfter time.Duration
	// IdleConnTimeout closes keep-alive connections idle for longer. It
	// also bounds how long fasthttp's connection cleaner goroutine outlives
	// Run. Default DefaultIdleConnTimeout.
	IdleConnTimeout time.Duration

	// Payload holds the request bodies, sent in rotation. Required.
	Payload Payload
	// Headers are added to every request; see Header for key templates.
	Headers []Header
	// Keys is the number of distinct cohort keys for headers that use
	// KeyPlaceholder. Default DefaultKeys when such a header exists.
	Keys int
	// KeyOrder picks a request's key. Default KeysCycle.
	KeyOrder KeyOrder
	// Seed seeds random key choice. Zero is a valid, fixed seed.
	Seed uint64

	// ExpectSplit, when set, adds an observed-versus-expected check of the
	// traffic split to the report.
	ExpectSplit *Split
	// Confidence is the two-sided confidence level of the split check, in
	// (0, 1). Default DefaultConfidence.
	Confidence float64

	// OnResult, when set, is called for every measured request that was
	// sent, from the worker goroutine that sent it, after the report has
	// recorded it. It must be safe for concurrent use and fast: it runs on
	// the load generator's hot path.
	OnResult func(Result)
}

// ConfigError reports an invalid Config field.
type ConfigError struct {
	// Field is the Config field's name, e.g. "Rate".
	Field string
	// Msg says what is wrong with it.
	Msg string
}

func (e *ConfigError) Error() string { return "loadtest: config " + e.Field + ": " + e.Msg }

func configErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Describe says in one line what c runs and where, e.g. "closed loop with
// 16 connections for 10s -> POST http://127.0.0.1:8080/invocations". c
// should have its defaults applied (WithDefaults).
func (c *Config) Describe() string {
	var b strings.Builder
	if c.openLoop() {
		fmt.Fprintf(&b, "open loop at %s req/s (at most %d in flight)", fmtFloat(c.Rate), c.MaxInFlight)
	} else {
		fmt.Fprintf(&b, "closed loop with %d connections", c.Connections)
	}
	if c.Duration > 0 {
		fmt.Fprintf(&b, " for %v", c.Duration)
	}
	if c.Requests > 0 {
		fmt.Fprintf(&b, ", at most %d requests", c.Requests)
	}
	if c.Warmup > 0 {
		fmt.Fprintf(&b, " after %v warmup", c.Warmup)
	}
	target := c.URL
	if ep, err := parseEndpoint(c.URL, c.Route, c.Path); err == nil {
		target = ep.uri
	}
	b.WriteString(" -> POST ")
	b.WriteString(target)
	return b.String()
}

// openLoop reports whether c runs the open loop.
func (c *Config) openLoop() bool { return c.Rate > 0 }

// WithDefaults validates c and returns a copy with every default applied.
// An invalid field is reported as a *ConfigError.
func (c Config) WithDefaults() (Config, error) {
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate < 0 {
		return c, configErr("Rate", "must be a finite number >= 0, got %v", c.Rate)
	}
	if c.Connections < 0 {
		return c, configErr("Connections", "must be >= 0, got %d", c.Connections)
	}
	if c.MaxInFlight < 0 {
		return c, configErr("MaxInFlight", "must be >= 0, got %d", c.MaxInFlight)
	}
	if c.Rate > 0 && c.Connections > 0 {
		return c, configErr("Connections", "is the closed loop's setting; Rate selects the open loop (use MaxInFlight to bound it)")
	}
	if c.Rate > 0 && c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Rate == 0 && c.Connections == 0 {
		c.Connections = DefaultConnections
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Duration", c.Duration}, {"Warmup", c.Warmup}, {"Timeout", c.Timeout}, {"Grace", c.Grace}, {"LateAfter", c.LateAfter}, {"IdleConnTimeout", c.IdleConnTimeout}} {
		if d.v < 0 {
			return c, configErr(d.name, "must be >= 0, got %v", d.v)
		}
	}
	if c.Requests < 0 {
		return c, configErr("Requests", "must be >= 0, got %d", c.Requests)
	}
	if c.Duration == 0 && c.Requests == 0 {
		c.Duration = DefaultDuration
	}
	if c.Duration == 0 && c.Rate == 0 {
		c.Duration = DefaultCountCap
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Grace == 0 {
		c.Grace = c.Timeout
	}
	if c.LateAfter == 0 {
		c.LateAfter = DefaultLateAfter
	}
	if c.IdleConnTimeout == 0 {
		c.IdleConnTimeout = DefaultIdleConnTimeout
	}
	if err := c.Payload.validate(); err != nil {
		return c, err
	}
	templated := false
	for i, h := range c.Headers {
		if err := validHeaderName(h.Name); err != nil {
			return c, configErr("Headers", "header %d: %v", i, err)
		}
		if strings.ContainsAny(h.Value, "\r\n") {
			return c, configErr("Headers", "header %q: value contains a line break", h.Name)
		}
		if strings.Contains(h.Value, KeyPlaceholder) {
			templated = true
		}
	}
	if c.Keys < 0 {
		return c, configErr("Keys", "must be >= 0, got %d", c.Keys)
	}
	if templated && c.Keys == 0 {
		c.Keys = DefaultKeys
	}
	if c.KeyOrder > KeysRandom {
		return c, configErr("KeyOrder", "unknown order %d", c.KeyOrder)
	}
	if c.Confidence == 0 {
		c.Confidence = DefaultConfidence
	}
	if !(c.Confidence > 0 && c.Confidence < 1) {
		return c, configErr("Confidence", "must be in (0, 1), got %v", c.Confidence)
	}
	if c.ExpectSplit != nil {
		if err := c.ExpectSplit.validate(); err != nil {
			return c, configErr("ExpectSplit", "%v", err)
		}
	}
	if _, err := parseEndpoint(c.URL, c.Route, c.Path); err != nil {
		return c, err
	}
	return c, nil
}

// endpoint is where requests go.
type endpoint struct {
	addr  string // host:port for the HostClient
	isTLS bool
	uri   string // full request URI
}

func parseEndpoint(raw, route, reqPath string) (endpoint, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return endpoint{}, configErr("URL", "%v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return endpoint{}, configErr("URL", "scheme must be http or https, got %q", raw)
	}
	if u.Host == "" {
		return endpoint{}, configErr("URL", "no host in %q", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return endpoint{}, configErr("URL", "must not carry a query or fragment: %q", raw)
	}
	if strings.ContainsAny(route, "/?#") || strings.TrimSpace(route) != route {
		return endpoint{}, configErr("Route", "invalid route name %q", route)
	}
	if reqPath != "" && (route != "" || !strings.HasPrefix(reqPath, "/") || strings.ContainsAny(reqPath, "?# \r\n")) {
		return endpoint{}, configErr("Path", "%q must be an absolute path without query, and not given with Route", reqPath)
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	if strings.HasSuffix(path, "/invocations") {
		// A scoring path given as the base URL would be sent to
		// .../invocations/invocations and answered 404 every time.
		return endpoint{}, configErr("URL", "%q ends in a scoring path; give mlgate's base URL, to which the scoring path is added (/invocations, or /routes/NAME/invocations for a route)", raw)
	}
	switch {
	case reqPath != "":
		path += reqPath
	case route != "":
		path += "/routes/" + url.PathEscape(route) + "/invocations"
	default:
		path += "/invocations"
	}
	isTLS := u.Scheme == "https"
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if isTLS {
			port = "443"
		}
		host = strings.TrimSuffix(host, ":") + ":" + port
	}
	return endpoint{addr: host, isTLS: isTLS, uri: u.Scheme + "://" + u.Host + path}, nil
}

func validHeaderName(name string) error {
	if name == "" {
		return errors.New("empty header name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?={}`, c) >= 0 {
			return fmt.Errorf("invalid header name %q", name)
		}
	}
	return nil
}

// ParseHeader parses "Name: value" as given to the --header flag.
func ParseHeader(s string) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return Header{}, fmt.Errorf("header %q: want \"Name: value\"", s)
	}
	h := Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}
	if err := validHeaderName(h.Name); err != nil {
		return Header{}, err
	}
	if strings.ContainsAny(h.Value, "\r\n") {
		return Header{}, fmt.Errorf("header %q: value contains a line break", h.Name)
	}
	return h, nil
}
