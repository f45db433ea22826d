package resolver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on what the client reads from a server.
const (
	maxJSONBody  = 32 << 20
	maxErrorBody = 64 << 10
	maxErrorText = 300
)

// httpClient sends MLflow requests with mlgate's User-Agent and the
// per-request timeout. The Authorization header and the client certificate
// go only to the tracking and registry servers (scheme, host and port
// equal); other hosts are reached only when allowed, and never with them,
// redirects included. It is safe for concurrent use.
type httpClient struct {
	client    *http.Client
	trusted   *http.Transport
	foreign   *http.Transport
	policy    *hostPolicy
	userAgent string
	timeout   time.Duration
}

func newHTTPClient(cfg Config, tc *tls.Config, policy *hostPolicy) *httpClient {
	trusted := newTransport(tc.Clone(), cfg.Timeout)
	// Other hosts are verified against the same roots but get neither the
	// client certificate nor InsecureTLS, which are for the tracking server.
	foreign := newTransport(&tls.Config{MinVersion: tls.VersionTLS12, RootCAs: tc.RootCAs}, cfg.Timeout)
	var rt http.RoundTripper = &credentialTransport{policy: policy, auth: authHeader(cfg), trusted: trusted, foreign: foreign}
	if cfg.WrapTransport != nil {
		rt = cfg.WrapTransport(rt)
	}
	return &httpClient{
		client:    &http.Client{Transport: rt, CheckRedirect: policy.checkRedirect},
		trusted:   trusted,
		foreign:   foreign,
		policy:    policy,
		userAgent: cfg.UserAgent,
		timeout:   cfg.Timeout,
	}
}

func (c *httpClient) close() {
	c.trusted.CloseIdleConnections()
	c.foreign.CloseIdleConnections()
}

// maxRedirects bounds a chain of redirects, as net/http's default does.
const maxRedirects = 10

// checkRedirect refuses a redirect to a host mlgate may not talk to.
// (net/http itself would forward the Authorization header to the same host
// on another port, and to its subdomains; credentialTransport decides that
// per request instead.)
func (p *hostPolicy) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= maxRedirects {
		return fmt.Errorf("stopped after %d redirects: %w", maxRedirects, ErrInvalid)
	}
	if err := p.check(req.URL); err != nil {
		return fmt.Errorf("redirect to %s: %w", Redact(req.URL.String()), err)
	}
	return nil
}

// credentialTransport adds the tracking credentials to requests for a
// trusted origin and sends them through the transport holding the client
// certificate; it sends requests for allowed hosts, stripped of any
// Authorization header, through a transport without one, and refuses the
// rest.
type credentialTransport struct {
	policy           *hostPolicy
	auth             string
	trusted, foreign http.RoundTripper
}

func (t *credentialTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.policy.isTrusted(req.URL) {
		if t.auth != "" {
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", t.auth)
		}
		return t.trusted.RoundTrip(req)
	}
	if err := t.policy.check(req.URL); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if req.Header.Get("Authorization") != "" {
		req = req.Clone(req.Context())
		req.Header.Del("Authorization")
	}
	return t.foreign.RoundTrip(req)
}

func (c *httpClient) newRequest(ctx context.Context, method, target string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, Redact(target), withKind(ErrInvalid, err))
	}
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// doJSON sends one API request bounded by the client timeout and decodes a
// 2xx JSON answer into out. Non-2xx answers become *APIError.
func (c *httpClient) doJSON(ctx context.Context, method, target string, body []byte, out any) error {
	reqCtx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := c.newRequest(reqCtx, method, target, body)
	if err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return c.transportError(ctx, method, target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return readAPIError(method, target, resp)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJSONBody+1))
	if err != nil {
		return c.transportError(ctx, method, target, err)
	}
	if len(data) > maxJSONBody {
		return fmt.Errorf("%s %s: response larger than %d bytes: %w", method, target, maxJSONBody, ErrInvalid)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: status %d with a body that is not the expected JSON (%s): %w",
			method, target, resp.StatusCode, snippet(data), withKind(ErrInvalid, err))
	}
	return nil
}

// transportError classifies a failure to get an answer. A cancelled caller
// context is reported as such; everything else (refused, reset, timed out,
// truncated) is ErrUnavailable, and unreachable unless the body was
// truncated.
func (c *httpClient) transportError(parent context.Context, method, u string, err error) error {
	u = Redact(u)
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("%s %s: %w", method, u, perr)
	}
	if errors.Is(err, ErrInvalid) { // refused by the host policy or a size limit
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	var te interface{ Timeout() bool }
	timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &te) && te.Timeout())
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err // the message names the method and URL already
	}
	cause := err
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		cause = withKind(errUnreachable, err)
	}
	if timeout {
		return fmt.Errorf("%s %s: no answer within %v: %w", method, u, c.timeout, withKind(ErrUnavailable, cause))
	}
	return fmt.Errorf("%s %s: unreachable: %w", method, u, withKind(ErrUnavailable, cause))
}

// aliasNotFound matches the message MLflow's SQL store returns, with status
// 400 INVALID_PARAMETER_VALUE, for an alias (or model) that does not exist.
var aliasNotFound = regexp.MustCompile(`^Registered model alias .* not found\.?$`)

// readAPIError turns a non-2xx response into an *APIError with the sentinel
// the status maps to.
func readAPIError(method, target string, resp *http.Response) *APIError {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &APIError{Method: method, URL: target, StatusCode: resp.StatusCode}
	var body struct {
		ErrorCode string `json:"error_code"`
		Message   string `json:"message"`
	}
	if json.Unmarshal(data, &body) == nil && body.ErrorCode != "" {
		e.Code, e.Message = body.ErrorCode, body.Message
	} else {
		e.Message = snippet(data)
	}
	e.kind = classifyStatus(resp.StatusCode, e.Code, e.Message)
	return e
}

func classifyStatus(status int, code, msg string) error {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return ErrUnauthorized
	case status == http.StatusNotFound:
		return ErrNotFound
	case status == http.StatusBadRequest && code == "INVALID_PARAMETER_VALUE" && aliasNotFound.MatchString(msg):
		return ErrNotFound
	case status == http.StatusRequestTimeout || status == http.StatusTooManyRequests || status >= 500:
		return ErrUnavailable
	default:
		return ErrInvalid
	}
}

// snippet returns the start of a body as printable text for error messages.
func snippet(b []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(b), "?"))
	if len(s) > maxErrorText {
		cut := maxErrorText
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return strings.Map(func(r rune) rune {
		if r < ' ' {
			return ' '
		}
		return r
	}, s)
}

// idleReader resets a stall timer each time data arrives.
type idleReader struct {
	r       io.Reader
	timer   *time.Timer
	timeout time.Duration
}

func (ir *idleReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if n > 0 {
		ir.timer.Reset(ir.timeout)
	}
	return n, err
}

// errStalled is the cancellation cause when a download stops sending data.
var errStalled = errors.New("download stalled")

// download streams a GET response body into w. The request is cancelled when
// no data arrives for the client timeout; the caller's context bounds the
// whole transfer. A body shorter than its Content-Length is ErrUnavailable.
func (c *httpClient) download(ctx context.Context, target string, w io.Writer) (int64, error) {
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(c.timeout, func() { cancel(errStalled) })
	defer timer.Stop()

	req, err := c.newRequest(dctx, http.MethodGet, target, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "*/*")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, c.downloadError(ctx, dctx, target, 0, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return 0, readAPIError(http.MethodGet, target, resp)
	}
	n, err := io.Copy(w, &idleReader{r: resp.Body, timer: timer, timeout: c.timeout})
	if err != nil {
		return n, c.downloadError(ctx, dctx, target, n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("GET %s: got %d bytes; Content-Length is %d: %w", target, n, resp.ContentLength, ErrUnavailable)
	}
	return n, nil
}

func (c *httpClient) downloadError(parent, dctx context.Context, target string, n int64, err error) error {
	target = Redact(target)
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("GET %s: %w", target, perr)
	}
	if errors.Is(err, ErrInvalid) { // refused by the host policy or a size limit
		return c.transportError(parent, http.MethodGet, target, err)
	}
	if errors.Is(context.Cause(dctx), errStalled) {
		return fmt.Errorf("GET %s: no data for %v after %d bytes: %w", target, c.timeout, n, withKind(ErrUnavailable, errStalled))
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("GET %s: body truncated after %d bytes: %w", target, n, withKind(ErrUnavailable, err))
	}
	return c.transportError(parent, http.MethodGet, target, err)
}
