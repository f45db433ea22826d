package resolver

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// origin is the scheme, host and port of a URL, compared exactly: the
// unit that tracking credentials are bound to.
type origin struct{ scheme, host, port string }

// originOf returns u's origin with the host in lower case and the
// scheme's default port filled in.
func originOf(u *url.URL) origin {
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.port == "" {
		o.port = defaultPort(o.scheme)
	}
	return o
}

func defaultPort(scheme string) string {
	switch scheme {
	case "http":
		return "80"
	case "https":
		return "443"
	}
	return ""
}

func (o origin) String() string {
	host := o.host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return o.scheme + "://" + host + ":" + o.port
}

// hostRule is one entry of Config.AllowedHosts: a host, optionally with a
// scheme and a port.
type hostRule struct {
	scheme string // "" matches http and https
	host   string
	port   string // "" matches any port
}

// parseHostRule parses host, host:port, [v6]:port or scheme://host[:port]
// (scheme http or https, nothing after the authority).
func parseHostRule(s string) (hostRule, error) {
	raw := strings.TrimSpace(s)
	text := raw
	if !strings.Contains(text, "://") {
		text = "//" + text
	}
	u, err := url.Parse(text)
	switch {
	case err != nil:
		return hostRule{}, fmt.Errorf("allowed host %q: %w", Redact(s), withKind(ErrInvalid, err))
	case u.User != nil:
		return hostRule{}, fmt.Errorf("allowed host %q: user information is not allowed: %w", Redact(s), ErrInvalid)
	case u.Scheme != "" && u.Scheme != "http" && u.Scheme != "https":
		return hostRule{}, fmt.Errorf("allowed host %q: scheme %s: want http or https: %w", raw, u.Scheme, ErrInvalid)
	case u.Hostname() == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "":
		return hostRule{}, fmt.Errorf("allowed host %q: want host, host:port or scheme://host[:port]: %w", raw, ErrInvalid)
	}
	return hostRule{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}, nil
}

func (r hostRule) match(o origin) bool {
	if o.scheme != "http" && o.scheme != "https" {
		return false
	}
	if r.scheme != "" && r.scheme != o.scheme {
		return false
	}
	if r.port != "" && r.port != o.port {
		return false
	}
	return r.host == o.host
}

// hostPolicy decides which hosts mlgate talks to over HTTP and which of
// them receive the tracking credentials. It is immutable once built.
type hostPolicy struct {
	// trusted are the tracking and registry servers' origins: only they
	// get the Authorization header and the client certificate.
	trusted []origin
	// allowed are the other hosts artifacts may be read from, without
	// credentials.
	allowed []hostRule
}

// newHostPolicy trusts the http(s) store URIs among stores and allows the
// hosts in allowed.
func newHostPolicy(stores []string, allowed []string) (*hostPolicy, error) {
	p := &hostPolicy{}
	for _, s := range stores {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			continue // a SQLite store, or an error reported when it is opened
		}
		if o := originOf(u); !slices.Contains(p.trusted, o) {
			p.trusted = append(p.trusted, o)
		}
	}
	for _, a := range allowed {
		if strings.TrimSpace(a) == "" {
			continue
		}
		r, err := parseHostRule(a)
		if err != nil {
			return nil, fmt.Errorf("resolver config: AllowedHosts: %w", err)
		}
		p.allowed = append(p.allowed, r)
	}
	return p, nil
}

// isTrusted reports whether u is on the tracking or registry server.
func (p *hostPolicy) isTrusted(u *url.URL) bool {
	o := originOf(u)
	for _, t := range p.trusted {
		if t == o {
			return true
		}
	}
	return false
}

// check returns nil when mlgate may send a request to u: u is on a trusted
// origin or an allowed host. Otherwise it returns an ErrInvalid error that
// says how to allow the host.
func (p *hostPolicy) check(u *url.URL) error {
	if p.isTrusted(u) {
		return nil
	}
	o := originOf(u)
	for _, r := range p.allowed {
		if r.match(o) {
			return nil
		}
	}
	servers := make([]string, len(p.trusted))
	for i, t := range p.trusted {
		servers[i] = t.String()
	}
	what := "no tracking or registry server is reached over HTTP"
	if len(servers) > 0 {
		what = "it is not the tracking or registry server (" + strings.Join(servers, ", ") + ")"
	}
	return fmt.Errorf("host %s refused: %s and not in artifacts.allowed_hosts (--artifacts-allowed-hosts); allowed hosts never receive the tracking credentials: %w",
		o, what, ErrInvalid)
}
