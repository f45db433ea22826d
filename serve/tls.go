package serve

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// tlsFiles holds the TLS material of both listeners, loaded from PEM files
// and re-read when they change. A failed reload keeps the last good
// material. Its methods are safe for concurrent use.
type tlsFiles struct {
	mu       sync.Mutex // serialises reloads
	cert     watchedFile
	key      watchedFile
	clientCA *watchedFile // nil: no client certificates asked for
	// unread is set when a file could not be read after another one
	// changed: the next reload parses them all even if none changed since.
	unread bool

	cur atomic.Pointer[tlsState]
}

// tlsState is one immutable generation of TLS material, as the
// configurations each listener hands to a new handshake.
type tlsState struct {
	main, admin *tls.Config
	// grpc is main's material for the gRPC listener, which negotiates h2.
	grpc *tls.Config
}

func newTLSFiles(certFile, keyFile, clientCAFile string) *tlsFiles {
	t := &tlsFiles{cert: watchedFile{path: certFile}, key: watchedFile{path: keyFile}}
	if clientCAFile != "" {
		t.clientCA = &watchedFile{path: clientCAFile}
	}
	return t
}

// reload re-reads the files and, when one changed, swaps in the new
// material. It reports whether it swapped.
func (t *tlsFiles) reload() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	certPEM, certChanged, err := t.cert.read()
	if err != nil {
		t.unread = true
		return false, fmt.Errorf("tls certificate: %w", err)
	}
	keyPEM, keyChanged, err := t.key.read()
	if err != nil {
		t.unread = true
		return false, fmt.Errorf("tls key: %w", err)
	}
	var caPEM []byte
	caChanged := false
	if t.clientCA != nil {
		if caPEM, caChanged, err = t.clientCA.read(); err != nil {
			t.unread = true
			return false, fmt.Errorf("tls client CA: %w", err)
		}
	}
	if !certChanged && !keyChanged && !caChanged && !t.unread && t.cur.Load() != nil {
		return false, nil
	}
	t.unread = false
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return false, fmt.Errorf("tls certificate %s and key %s: %w", t.cert.path, t.key.path, err)
	}
	base := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"http/1.1"},
		Certificates: []tls.Certificate{cert},
	}
	st := &tlsState{main: base, admin: base}
	if t.clientCA != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return false, fmt.Errorf("tls client CA %s: no PEM certificate", t.clientCA.path)
		}
		st.main = base.Clone()
		st.main.ClientAuth = tls.RequireAndVerifyClientCert
		st.main.ClientCAs = pool
	}
	st.grpc = st.main.Clone()
	st.grpc.NextProtos = []string{"h2"}
	t.cur.Store(st)
	return true, nil
}

// grpcConfig returns the gRPC listener's configuration: the main
// listener's material (client certificates included) negotiating h2, taken
// current at each handshake's start.
func (t *tlsFiles) grpcConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"h2"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := t.cur.Load()
			if st == nil {
				return nil, errors.New("no TLS certificate loaded")
			}
			return st.grpc, nil
		},
	}
}

// config returns the listener configuration for the main or the admin
// listener: each handshake takes the material current at its start.
func (t *tlsFiles) config(admin bool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := t.cur.Load()
			if st == nil {
				return nil, errors.New("no TLS certificate loaded")
			}
			if admin {
				return st.admin, nil
			}
			return st.main, nil
		},
	}
}
