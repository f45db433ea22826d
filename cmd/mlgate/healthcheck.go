package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// healthcheckTimeout bounds one check: connecting, sending the request and
// receiving the response headers.
const healthcheckTimeout = 2 * time.Second

// healthcheckQuoteLimit caps how much of an unhealthy answer's body is
// quoted in the report (Docker keeps the last few reports for
// `docker inspect`).
const healthcheckQuoteLimit = 512

const healthcheckUsage = `Usage: mlgate healthcheck [--config FILE] [--url URL]

Sends GET URL and exits 0 when it answers 200 OK, 1 otherwise: a refused
connection, no answer within 2s, a redirect, or any other status. It is the
container image's HEALTHCHECK, which has no shell or curl to run.

Without --url it probes /ready of the mlgate serve that the same
configuration describes (--config or MLGATE_CONFIG, and the MLGATE_*
variables): the port of listen, on 127.0.0.1 when listen is all
interfaces; https when tls_cert_file is set (the certificate is not
verified: the probe sends nothing secret and judges only the status); and
admin_listen instead when tls_client_ca_file makes the main listener
require client certificates.

`

// cmdHealthcheck implements `mlgate healthcheck [--config FILE] [--url
// URL]`: one GET of URL (default: /ready of the configured listener, see
// healthcheckURL) without proxies, redirects or keep-alive, within 2
// seconds. It reports the outcome on stdout (healthy)
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
	target := fs.String("url", "", "`URL` to GET; healthy only when it answers 200 (default: /ready of the configured listener)")
	config := fs.String("config", "", "mlgate serve's YAML config `file`, to find its listener (env MLGATE_CONFIG)")
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
	insecure := false
	if *target == "" {
		var cfgArgs []string
		if *config != "" {
			cfgArgs = []string{"--config", *config}
		}
		cfg, err := loadConfig("healthcheck", healthcheckSettings(), cfgArgs, os.Getenv, io.Discard)
		if err == nil {
			*target, err = healthcheckURL(cfg)
		}
		if err != nil {
			fmt.Fprintf(stderr, "mlgate healthcheck: %v\n", err)
			return 1
		}
		insecure = cfg.TLSCertFile != ""
	}
	status, err := runHealthcheck(*target, healthcheckTimeout, insecure)
	if err != nil {
		fmt.Fprintf(stderr, "mlgate healthcheck: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "mlgate healthcheck: %s\n", status)
	return 0
}

// healthcheckSettings are the serve settings that say where /ready is.
func healthcheckSettings() []setting {
	var out []setting
	for _, s := range serveSettings {
		switch s.flag {
		case "config", "listen", "admin-listen", "tls-cert-file", "tls-key-file", "tls-client-ca-file":
			out = append(out, s)
		}
	}
	return out
}

// healthcheckURL is /ready of the listener cfg describes: the main one, or
// the admin one when the main one requires client certificates (the admin
// listener serves /ready too, without them).
func healthcheckURL(cfg Config) (string, error) {
	addr, setting := cfg.Listen, "listen"
	if cfg.TLSClientCAFile != "" && !cfg.sharedAdmin() {
		addr, setting = cfg.AdminListen, "admin-listen"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("%s %q: %w", setting, addr, err)
	}
	if port == "0" {
		return "", fmt.Errorf("%s %s: a port chosen at start cannot be probed; give --url", setting, addr)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/ready", nil
}

// runHealthcheck sends one GET to rawURL and returns a one-line report of a
// 200 answer, or an error that names the URL and says why it is unhealthy.
// timeout bounds the whole exchange. insecure skips verifying the server's
// certificate, for mlgate probing itself over https on a loopback address
// the certificate does not name.
func runHealthcheck(rawURL string, timeout time.Duration, insecure bool) (string, error) {
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
	if insecure {
		transport.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	}
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
