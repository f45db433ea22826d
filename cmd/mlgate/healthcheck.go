package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// healthcheckTimeout bounds one check: connecting, sending the request and
// receiving the response headers.
const healthcheckTimeout = 2 * time.Second

// healthcheckDefaultURL is the readiness endpoint of an mlgate listening on
// the container image's port.
const healthcheckDefaultURL = "http://127.0.0.1:8080/ready"

// healthcheckQuoteLimit caps how much of an unhealthy answer's body is
// quoted in the report (Docker keeps the last few reports for
// `docker inspect`).
const healthcheckQuoteLimit = 512

const healthcheckUsage = `Usage: mlgate healthcheck [--url URL]

Sends GET URL and exits 0 when it answers 200 OK, 1 otherwise: a refused
connection, no answer within 2s, a redirect, or any other status. It is the
container image's HEALTHCHECK, which has no shell or curl to run.

`

// cmdHealthcheck implements `mlgate healthcheck [--url URL]`: one GET of URL
// (default http://127.0.0.1:8080/ready) without proxies, redirects or
// keep-alive, within 2 seconds. It reports the outcome on stdout (healthy)
// or stderr (unhealthy, quoting the start of the body) and returns the exit
// code: 0 for a 200 answer, 1 for everything else, usage errors included,
// because Docker's HEALTHCHECK reserves exit code 2. -h prints the usage
// and returns 0.
func cmdHealthcheck(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, healthcheckUsage)
		fs.PrintDefaults()
	}
	target := fs.String("url", healthcheckDefaultURL, "`URL` to GET; healthy only when it answers 200")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 1
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mlgate healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 1
	}
	status, err := runHealthcheck(*target, healthcheckTimeout)
	if err != nil {
		fmt.Fprintf(stderr, "mlgate healthcheck: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "mlgate healthcheck: %s\n", status)
	return 0
}

// runHealthcheck sends one GET to rawURL and returns a one-line report of a
// 200 answer, or an error that names the URL and says why it is unhealthy.
// timeout bounds the whole exchange.
func runHealthcheck(rawURL string, timeout time.Duration) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("url %q: %w", rawURL, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("url %q: want http://host:port/path", rawURL)
	}
	// A probe of the local process must not go through HTTP_PROXY, and a
	// redirect is an answer other than 200, not something to follow.
	transport := &http.Transport{Proxy: nil, DisableKeepAlives: true}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	target := u.Redacted()
	resp, err := client.Get(u.String())
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return "", fmt.Errorf("GET %s: %w", target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		// The body only decorates the report: a failure to read it changes
		// nothing about the verdict.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, healthcheckQuoteLimit))
		if quote := strings.Join(strings.Fields(string(body)), " "); quote != "" {
			return "", fmt.Errorf("GET %s: %s: %s", target, resp.Status, quote)
		}
		return "", fmt.Errorf("GET %s: %s", target, resp.Status)
	}
	return fmt.Sprintf("GET %s: %s", target, resp.Status), nil
}
