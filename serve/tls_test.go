package serve

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
)

// tlsClient trusts ca and presents the client certificate, if any. It
// opens a new connection per request so that each one is a handshake.
func tlsClient(ca *testutil.CA, certPEM, keyPEM []byte) *http.Client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.PEM)
	cfg := &tls.Config{RootCAs: roots}
	if certPEM != nil {
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			panic(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// get returns the status and the serial number of the server certificate.
func get(c *http.Client, url string) (int, int64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
}

type tlsFixture struct {
	dir                    string
	ca                     *testutil.CA
	certFile, keyFile, cas string
}

func newTLSFixture(t *testing.T) *tlsFixture {
	f := &tlsFixture{dir: t.TempDir(), ca: testutil.NewCA(t, "mlgate test CA")}
	f.certFile, f.keyFile, f.cas = filepath.Join(f.dir, "tls.crt"), filepath.Join(f.dir, "tls.key"), filepath.Join(f.dir, "clients.crt")
	f.serve(t, 100)
	return f
}

// serve writes a new server certificate with the given serial number.
func (f *tlsFixture) serve(t *testing.T, serial int64) {
	c, k := f.ca.Issue(t, serial, false)
	writeFile(t, f.keyFile, string(k))
	writeFile(t, f.certFile, string(c))
}

// TestTLSCertificateRotation serves HTTPS on both listeners, refuses plain
// HTTP, and after the certificate files are replaced hands the new
// certificate to new handshakes; a key that does not match its
// certificate leaves the last good pair serving.
func TestTLSCertificateRotation(t *testing.T) {
	f := newTLSFixture(t)
	ns := startNet(t, Config{TLSCertFile: f.certFile, TLSKeyFile: f.keyFile, FileCheckInterval: -1})
	client := tlsClient(f.ca, nil, nil)
	for _, base := range []string{"https://" + ns.addr, "https://" + ns.adminAddr} {
		status, serial, err := get(client, base+"/ready")
		if err != nil || status != 200 || serial != 100 {
			t.Fatalf("GET %s/ready: %d, certificate %d, %v; want 200 with certificate 100", base, status, serial, err)
		}
	}
	if resp, err := http.Get("http://" + ns.addr + "/ready"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Errorf("plain HTTP to the TLS listener got 200")
		}
	}

	f.serve(t, 101)
	if err := ns.ReloadFiles(); err != nil {
		t.Fatal(err)
	}
	if _, serial, err := get(client, "https://"+ns.addr+"/ready"); err != nil || serial != 101 {
		t.Errorf("after rotation: certificate %d, %v; want 101", serial, err)
	}

	_, otherKey := f.ca.Issue(t, 102, false)
	writeFile(t, f.keyFile, string(otherKey))
	if err := ns.ReloadFiles(); err == nil {
		t.Errorf("reloading a key that does not match the certificate: no error")
	}
	if _, serial, err := get(client, "https://"+ns.addr+"/ready"); err != nil || serial != 101 {
		t.Errorf("after a rejected reload: certificate %d, %v; want 101 still", serial, err)
	}
	f.serve(t, 103)
	if err := ns.ReloadFiles(); err != nil {
		t.Fatal(err)
	}
	if _, serial, err := get(client, "https://"+ns.addr+"/ready"); err != nil || serial != 103 {
		t.Errorf("after a good pair again: certificate %d, %v; want 103", serial, err)
	}
}

// TestMutualTLS requires client certificates signed by the configured CA
// on the main listener: a client with one is served, a client without one
// or with one from another CA is refused during the handshake. The admin
// listener asks for none.
func TestMutualTLS(t *testing.T) {
	f := newTLSFixture(t)
	clients := testutil.NewCA(t, "client CA")
	writeFile(t, f.cas, string(clients.PEM))
	ns := startNet(t, Config{TLSCertFile: f.certFile, TLSKeyFile: f.keyFile, TLSClientCAFile: f.cas, FileCheckInterval: -1})
	main := "https://" + ns.addr + "/ready"

	cert, key := clients.Issue(t, 7, true)
	if status, _, err := get(tlsClient(f.ca, cert, key), main); err != nil || status != 200 {
		t.Errorf("client with a certificate from the client CA: %d, %v; want 200", status, err)
	}
	if _, _, err := get(tlsClient(f.ca, nil, nil), main); !handshakeRefused(err) {
		t.Errorf("client without a certificate: %v; want the handshake refused", err)
	}
	strangers := testutil.NewCA(t, "another CA")
	scert, skey := strangers.Issue(t, 8, true)
	if _, _, err := get(tlsClient(f.ca, scert, skey), main); !handshakeRefused(err) {
		t.Errorf("client with a certificate from another CA: %v; want the handshake refused", err)
	}
	if status, _, err := get(tlsClient(f.ca, nil, nil), "https://"+ns.adminAddr+"/ready"); err != nil || status != 200 {
		t.Errorf("admin listener without a client certificate: %d, %v; want 200", status, err)
	}

	// Trusting the other CA instead takes effect on the next handshake.
	writeFile(t, f.cas, string(strangers.PEM))
	if err := ns.ReloadFiles(); err != nil {
		t.Fatal(err)
	}
	if status, _, err := get(tlsClient(f.ca, scert, skey), main); err != nil || status != 200 {
		t.Errorf("after the client CA changed, its client: %d, %v; want 200", status, err)
	}
	if _, _, err := get(tlsClient(f.ca, cert, key), main); !handshakeRefused(err) {
		t.Errorf("after the client CA changed, the old CA's client: %v; want refused", err)
	}
}

// handshakeRefused reports a TLS alert from the server refusing the
// handshake (with TLS 1.3 the client learns it on its first read).
func handshakeRefused(err error) bool {
	if err == nil {
		return false
	}
	var alert tls.AlertError
	if errors.As(err, &alert) {
		return true
	}
	return strings.Contains(err.Error(), "remote error: tls: ")
}
