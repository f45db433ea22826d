package serve

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
)

// BenchmarkLoopback is one scoring request at a time over a kept-alive
// loopback connection: the listener, fasthttp's connection loop and the
// handler, as a client sees them. tokens=on requires a scoring token.
func BenchmarkLoopback(b *testing.B) {
	for _, tokens := range []bool{false, true} {
		b.Run("tokens="+map[bool]string{false: "off", true: "on"}[tokens], func(b *testing.B) {
			cfg := Config{FileCheckInterval: -1}
			auth := ""
			if tokens {
				const token = "bench-token-0123456789"
				file := filepath.Join(b.TempDir(), "tokens")
				if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
					b.Fatal(err)
				}
				cfg.AuthTokensFile, auth = file, "Authorization: Bearer "+token+"\r\n"
			}
			s, err := New(cfg)
			if err != nil {
				b.Fatal(err)
			}
			publish(b, s, []RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}},
				served(map[string]Model{champion: loadModel(b, testutil.RecordedModel(b, "churn-gbm", 1))}))
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- s.Serve(ln) }()
			defer func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				s.Shutdown(ctx)
				<-done
				s.Close()
			}()
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("POST /invocations HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\n" + auth +
				"Content-Length: " + strconv.Itoa(len(benchRow)) + "\r\n\r\n" + benchRow)
			br := bufio.NewReader(c)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(req); err != nil {
					b.Fatal(err)
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
