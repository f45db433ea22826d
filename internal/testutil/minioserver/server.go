// Package minioserver runs a real MinIO server for tests: its own process
// on 127.0.0.1, its data in a temporary directory, stopped and started
// again on the same address when a test asks. The binary comes from
// MLGATE_MINIO_BIN, which `make test` sets after installing the pinned
// MinIO with scripts/install-tool.sh; a test that needs MinIO fails, never
// skips, when it is missing. The package is imported only from _test.go
// files and imports no other mlgate package.
package minioserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// EnvBinary names the environment variable holding the MinIO binary.
const EnvBinary = "MLGATE_MINIO_BIN"

// Root credentials of every server this package starts.
const (
	RootUser     = "mlgate-root"
	RootPassword = "mlgate-root-secret"
)

// startWithin bounds one start of MinIO, until it answers its readiness
// probe; it only guards against a server that never comes up.
const startWithin = 2 * time.Minute

// Server is one MinIO server. Its methods must be called from the test's
// goroutine.
type Server struct {
	t    testing.TB
	bin  string
	data string
	port int
	env  []string

	mu   sync.Mutex
	logs bytes.Buffer
	cmd  *exec.Cmd
	done chan struct{} // closed when the running process has exited
}

// Binary returns the MinIO binary from MLGATE_MINIO_BIN, failing the test
// with what to do when it is not set or not there.
func Binary(tb testing.TB) string {
	tb.Helper()
	bin := os.Getenv(EnvBinary)
	if bin == "" {
		tb.Fatalf("%s is not set: this test runs a real MinIO server; `make test` installs it (scripts/install-tool.sh) and sets %s; to run the test by hand, see docs/testing.md", EnvBinary, EnvBinary)
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		tb.Fatalf("%s=%s is not an executable MinIO binary (%v): `make test` installs it with scripts/install-tool.sh", EnvBinary, bin, err)
	}
	return bin
}

// Start starts a MinIO server with a fresh data directory and the root
// credentials above, with env (KEY=value) added to its environment, and
// waits until it is ready. It is stopped when the test ends.
func Start(tb testing.TB, env ...string) *Server {
	tb.Helper()
	s := &Server{t: tb, bin: Binary(tb), data: filepath.Join(tb.TempDir(), "data"), env: env}
	tb.Cleanup(func() {
		s.kill()
		if tb.Failed() {
			tb.Logf("MinIO logs:\n%s", s.Logs())
		}
	})
	// A port below the ephemeral range, so that no outgoing connection of
	// another test takes it while the server is stopped; another port is
	// tried when this one turns out to be taken.
	var err error
	for range 20 {
		s.port = 10000 + rand.IntN(22000)
		if err = s.start(); err == nil {
			return s
		}
		if !errors.Is(err, errAddressInUse) {
			break
		}
	}
	tb.Fatalf("starting MinIO: %v\n%s", err, s.Logs())
	return nil
}

// URL is the S3 endpoint, http://127.0.0.1:<port>; it stays the same
// across Stop and Restart.
func (s *Server) URL() string { return "http://" + s.Addr() }

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Logs returns what the server printed so far.
func (s *Server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

var errAddressInUse = errors.New("address in use")

func (s *Server) start() error {
	// Refuse a port something listens on already, before MinIO does.
	l, err := net.Listen("tcp", s.Addr())
	if err != nil {
		return fmt.Errorf("%s: %w", s.Addr(), errAddressInUse)
	}
	l.Close()
	cmd := exec.Command(s.bin, "server", "--address", s.Addr(), "--certs-dir", filepath.Join(filepath.Dir(s.data), "certs"), "--json", s.data)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + filepath.Dir(s.data),
		"MINIO_ROOT_USER=" + RootUser,
		"MINIO_ROOT_PASSWORD=" + RootPassword,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CALLHOME_ENABLE=off",
	}, s.env...)
	cmd.Stdout = &lockedWriter{s: s}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("run %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	s.cmd, s.done = cmd, done
	if err := s.waitReady(); err != nil {
		s.kill()
		if strings.Contains(s.Logs(), "address already in use") {
			return fmt.Errorf("%s: %w", s.Addr(), errAddressInUse)
		}
		return err
	}
	return nil
}

// waitReady polls the readiness probe until it answers 200 or the process
// exits.
func (s *Server) waitReady() error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(startWithin)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("MinIO exited while starting: %v", s.cmd.ProcessState)
		default:
		}
		resp, err := client.Get(s.URL() + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("MinIO at %s not ready after %v (last: %v)", s.URL(), startWithin, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL if it has not exited after
// a minute) and returns once the process has exited and its port is
// closed.
func (s *Server) Stop() {
	s.t.Helper()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		s.kill()
	}
	s.cmd = nil
}

// Restart starts the server again on the same address and data directory
// and waits until it is ready.
func (s *Server) Restart() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("minioserver: Restart while running")
	}
	if err := s.start(); err != nil {
		s.t.Fatalf("restarting MinIO on %s: %v\n%s", s.Addr(), err, s.Logs())
	}
}

func (s *Server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

type lockedWriter struct{ s *Server }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.s.logs.Write(p)
}

// Client returns a minio-go client with the root credentials, for setting
// up buckets and objects. Its connections are closed when the test ends.
func (s *Server) Client() *minio.Client {
	s.t.Helper()
	return s.ClientWith(credentials.NewStaticV4(RootUser, RootPassword, ""))
}

// ClientWith returns a minio-go client for the server with other
// credentials.
func (s *Server) ClientWith(creds *credentials.Credentials) *minio.Client {
	s.t.Helper()
	tr := &http.Transport{}
	s.t.Cleanup(tr.CloseIdleConnections)
	c, err := minio.New(s.Addr(), &minio.Options{Creds: creds, Transport: tr, Region: "us-east-1"})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}

// MakeBucket creates a bucket.
func (s *Server) MakeBucket(bucket string) {
	s.t.Helper()
	if err := s.Client().MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{}); err != nil {
		s.t.Fatalf("make bucket %s: %v", bucket, err)
	}
}

// PutFiles uploads files (by slash-separated relative path) under
// bucket/prefix.
func (s *Server) PutFiles(bucket, prefix string, files map[string][]byte) {
	s.t.Helper()
	for rel, data := range files {
		s.Put(bucket, path.Join(prefix, rel), data)
	}
}

// Put uploads one object.
func (s *Server) Put(bucket, key string, data []byte) {
	s.t.Helper()
	_, err := s.Client().PutObject(context.Background(), bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if err != nil {
		s.t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}
