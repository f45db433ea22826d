package resolver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

// authHeader returns the Authorization value MLflow's client would send:
// Basic when both username and password are set, else Bearer when a token is
// set, else "".
func authHeader(cfg Config) string {
	if cfg.Username != "" && cfg.Password != "" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password))
	}
	if cfg.Token != "" {
		return "Bearer " + cfg.Token
	}
	return ""
}

// tlsConfig builds the TLS settings for the tracking server from the
// MLFLOW_TRACKING_* certificate options.
func tlsConfig(cfg Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureTLS} //nolint:gosec // opt-in, as in MLflow
	if cfg.ServerCertPath != "" {
		pem, err := os.ReadFile(cfg.ServerCertPath)
		if err != nil {
			return nil, fmt.Errorf("resolver config: ServerCertPath (MLFLOW_TRACKING_SERVER_CERT_PATH): %w", withKind(ErrInvalid, err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("resolver config: ServerCertPath (MLFLOW_TRACKING_SERVER_CERT_PATH) %s holds no PEM certificate: %w", cfg.ServerCertPath, ErrInvalid)
		}
		tc.RootCAs = pool
	}
	if cfg.ClientCertPath != "" {
		// MLflow passes one path to requests' cert=, so the file holds both
		// the certificate and its key.
		cert, err := tls.LoadX509KeyPair(cfg.ClientCertPath, cfg.ClientCertPath)
		if err != nil {
			return nil, fmt.Errorf("resolver config: ClientCertPath (MLFLOW_TRACKING_CLIENT_CERT_PATH) %s must be one PEM file with the certificate and its key: %w", cfg.ClientCertPath, withKind(ErrInvalid, err))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// maxHeaderBytes bounds the response headers of one registry or artifact
// request.
const maxHeaderBytes = 1 << 20

// newTransport returns an HTTP transport for the REST registry and the
// HTTP artifact stores. Response headers must arrive within timeout and
// hold at most maxHeaderBytes; bodies are bounded by the callers.
func newTransport(tc *tls.Config, timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:        tc,
		TLSHandshakeTimeout:    timeout,
		ResponseHeaderTimeout:  timeout,
		MaxResponseHeaderBytes: maxHeaderBytes,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    8,
		IdleConnTimeout:        90 * time.Second,
	}
}
