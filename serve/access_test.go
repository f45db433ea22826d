package serve

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingOperator counts the actions the admin endpoints trigger.
type countingOperator struct {
	refreshes, reloads atomic.Int64
}

func (o *countingOperator) Follow(string) (FollowStatus, bool) { return FollowStatus{}, false }
func (o *countingOperator) Refresh(context.Context) error      { o.refreshes.Add(1); return nil }
func (o *countingOperator) Reload(context.Context) error       { o.reloads.Add(1); return nil }
func (o *countingOperator) Webhook(_, _, _ string, _ []byte) error {
	return ErrDisabled
}
func (o *countingOperator) Process() map[string]any { return nil }
func (o *countingOperator) Loaded() []LoadedModel   { return nil }

// do sends method url with an optional bearer token and returns the status,
// headers and body.
func do(t *testing.T, method, url, token string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(benchRow))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, body}
}

// mlflowError decodes MLflow's error body.
func mlflowError(t *testing.T, body []byte) (code, msg string) {
	t.Helper()
	var e struct {
		Code    string `json:"error_code"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(body, &e); err != nil {
		t.Fatalf("error body %s: %v", body, err)
	}
	return e.Code, e.Message
}

const adminToken = "admin-0123456789abcdef"

// TestAdminListener: the admin endpoints answer on the admin listener
// only, behind the admin token when one is set; health and metrics answer
// on both.
func TestAdminListener(t *testing.T) {
	op := &countingOperator{}
	ns := startNet(t, Config{Operator: op, AdminToken: adminToken, Pprof: true,
		MetricsHandler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "# metrics\n") })})
	main, admin := "http://"+ns.addr, "http://"+ns.adminAddr
	for _, path := range []string{"/admin/models", "/debug/pprof/cmdline"} {
		if r := do(t, "GET", main+path, adminToken); r.status != 404 {
			t.Errorf("GET %s on the main listener: %d; want 404", path, r.status)
		}
		if r := do(t, "GET", admin+path, adminToken); r.status != 200 {
			t.Errorf("GET %s on the admin listener: %d %s; want 200", path, r.status, r.body)
		}
		r := do(t, "GET", admin+path, "")
		if code, _ := mlflowError(t, r.body); r.status != 401 || code != "UNAUTHENTICATED" || r.header.Get("WWW-Authenticate") == "" {
			t.Errorf("GET %s without the token: %d %s %q; want 401 UNAUTHENTICATED with WWW-Authenticate", path, r.status, code, r.header.Get("WWW-Authenticate"))
		}
		if r := do(t, "GET", admin+path, "wrong-token-0123456789"); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("GET %s with a wrong token: %d %q; want 401 invalid_token", path, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
	if r := do(t, "POST", main+"/admin/reload", adminToken); r.status != 404 || op.reloads.Load() != 0 {
		t.Errorf("POST /admin/reload on the main listener: %d, %d reloads; want 404 and none", r.status, op.reloads.Load())
	}
	for _, base := range []string{main, admin} {
		for _, path := range []string{"/ready", "/live", "/ping", "/version", "/metrics"} {
			if r := do(t, "GET", base+path, ""); r.status != 200 {
				t.Errorf("GET %s%s: %d; want 200 without a token", base, path, r.status)
			}
		}
	}
	if r := do(t, "POST", admin+"/invocations", ""); r.status != 404 {
		t.Errorf("POST /invocations on the admin listener: %d; want 404", r.status)
	}
}

// staticAddrListener is a listener that claims an address; it is never
// accepted from.
type staticAddrListener struct {
	net.Listener
	addr net.Addr
}

func (l staticAddrListener) Addr() net.Addr { return l.addr }

// TestAdminNeedsTokenOffLoopback: ServeAdmin, and Serve when it carries the
// admin endpoints, refuse an address other hosts can reach unless an admin
// token is configured.
func TestAdminNeedsTokenOffLoopback(t *testing.T) {
	public := staticAddrListener{addr: &net.TCPAddr{IP: net.IPv4(10, 0, 0, 7), Port: 8081}}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.ServeAdmin(public); !errors.Is(err, ErrAdminNeedsToken) {
		t.Errorf("ServeAdmin on %s without a token: %v; want ErrAdminNeedsToken", public.addr, err)
	}
	shared, err := New(Config{AdminOnMain: true})
	if err != nil {
		t.Fatal(err)
	}
	defer shared.Close()
	if err := shared.Serve(public); !errors.Is(err, ErrAdminNeedsToken) {
		t.Errorf("Serve with AdminOnMain on %s without a token: %v; want ErrAdminNeedsToken", public.addr, err)
	}
	if _, err := New(Config{AdminToken: "short"}); err == nil || strings.Contains(err.Error(), "short") {
		t.Errorf("New with a 5-character admin token: %v; want an error that does not quote it", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8081": true, "127.0.0.2:1": true, "[::1]:8081": true, "localhost:8081": true,
		"[::ffff:127.0.0.1]:1": true, "0.0.0.0:8081": false, ":8081": false, "[::]:8081": false,
		"10.0.0.1:8081": false, "mlgate.example.com:8081": false, "": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v; want %v", addr, got, want)
		}
	}
}

// TestAdminOnMain serves the admin endpoints on the main listener when the
// admin address is the main one.
func TestAdminOnMain(t *testing.T) {
	ns := startNet(t, Config{AdminOnMain: true, Operator: &countingOperator{}})
	if r := do(t, "GET", "http://"+ns.addr+"/admin/models", ""); r.status != 200 {
		t.Errorf("GET /admin/models on a shared loopback listener: %d %s; want 200", r.status, r.body)
	}
}

// TestRefreshRateLimit sends 200 refreshes at one instant: three (the
// burst) reach the operator, the rest get 429 with Retry-After; a second
// later one more is allowed. Reloads and status reads are not limited.
func TestRefreshRateLimit(t *testing.T) {
	op := &countingOperator{}
	ns := startNet(t, Config{Operator: op})
	var mu sync.Mutex
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ns.refreshLimit = newTokenBucket(refreshRate, refreshBurst, clock)
	admin := "http://" + ns.adminAddr
	codes := map[int]int{}
	for range 200 {
		r := do(t, "POST", admin+"/admin/refresh", "")
		codes[r.status]++
		if r.status == 429 {
			if code, _ := mlflowError(t, r.body); code != codeRequestLimitExceeded || r.header.Get("Retry-After") != "1" {
				t.Fatalf("429 with %s, Retry-After %q; want REQUEST_LIMIT_EXCEEDED and 1", code, r.header.Get("Retry-After"))
			}
		}
	}
	if codes[200] != 3 || codes[429] != 197 || op.refreshes.Load() != 3 {
		t.Errorf("200 refreshes at once: statuses %v, %d reached the operator; want 3 x 200, 197 x 429, 3", codes, op.refreshes.Load())
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	if r := do(t, "POST", admin+"/admin/refresh", ""); r.status != 200 {
		t.Errorf("a refresh a second later: %d; want 200", r.status)
	}
	if r := do(t, "POST", admin+"/admin/refresh", ""); r.status != 429 {
		t.Errorf("a second refresh in that second: %d; want 429", r.status)
	}
	for range 5 {
		if r := do(t, "POST", admin+"/admin/reload", ""); r.status != 200 {
			t.Errorf("reload: %d; want 200", r.status)
		}
	}
	if r := do(t, "GET", admin+"/admin/refresh", ""); r.status != 405 {
		t.Errorf("GET /admin/refresh: %d; want 405 (and no token spent)", r.status)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	// Write then rename, as a secret mount updates files: a reader never
	// sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestScoringTokens: with a tokens file, scoring needs one of its tokens
// (401 with WWW-Authenticate and MLflow's error body otherwise) while
// health stays open; an edited file takes effect on the next check, and
// a broken one keeps the last good tokens.
func TestScoringTokens(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tokens")
	const alice, bob, carol = "alice-0123456789abcdef", "bob-0123456789abcdef", "carol-0123456789abcdef"
	writeFile(t, file, "# scoring clients\n"+alice+"\n\n  "+bob+"  \n")
	ns := startNet(t, Config{AuthTokensFile: file, FileCheckInterval: -1})
	main := "http://" + ns.addr
	for _, path := range []string{"/invocations", "/routes/churn/invocations"} {
		r := do(t, "POST", main+path, "")
		code, msg := mlflowError(t, r.body)
		if r.status != 401 || code != "UNAUTHENTICATED" || !strings.Contains(msg, "Bearer") ||
			r.header.Get("WWW-Authenticate") != `Bearer realm="mlgate"` {
			t.Errorf("%s without a token: %d %s %q, WWW-Authenticate %q; want 401 UNAUTHENTICATED naming Bearer",
				path, r.status, code, msg, r.header.Get("WWW-Authenticate"))
		}
		for _, tok := range []string{alice, bob} {
			if r := do(t, "POST", main+path, tok); r.status != 200 {
				t.Errorf("%s with a listed token: %d %s", path, r.status, r.body)
			}
		}
		if r := do(t, "POST", main+path, carol); r.status != 401 || !strings.Contains(r.header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("%s with an unlisted token: %d %q; want 401 invalid_token", path, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
	for _, path := range []string{"/ping", "/health", "/ready", "/live", "/version"} {
		if r := do(t, "GET", main+path, ""); r.status != 200 {
			t.Errorf("GET %s without a token: %d; want 200", path, r.status)
		}
	}

	writeFile(t, file, carol+"\n")
	if err := ns.ReloadFiles(); err != nil {
		t.Fatal(err)
	}
	if r := do(t, "POST", main+"/invocations", alice); r.status != 401 {
		t.Errorf("a removed token after the reload: %d; want 401", r.status)
	}
	if r := do(t, "POST", main+"/invocations", carol); r.status != 200 {
		t.Errorf("an added token after the reload: %d; want 200", r.status)
	}

	writeFile(t, file, "too-short\n")
	err := ns.ReloadFiles()
	if err == nil || !strings.Contains(err.Error(), "line 1") || strings.Contains(err.Error(), "too-short") {
		t.Errorf("reloading a file with a short token: %v; want an error naming line 1 and not quoting the token", err)
	}
	if r := do(t, "POST", main+"/invocations", carol); r.status != 200 {
		t.Errorf("the last good token after a rejected reload: %d; want 200", r.status)
	}
	if strings.Contains(ns.logs.String(), carol) || strings.Contains(ns.logs.String(), alice) {
		t.Errorf("a token reached the logs:\n%s", ns.logs.String())
	}
}

func TestParseTokens(t *testing.T) {
	tests := []struct {
		name, file string
		valid      []string
		err        string
	}{
		{"comments and blanks", "# a\n\n tok-aaaaaaaaaaaaaaaa \n#tok-bbbbbbbbbbbbbbbb\ntok-cccccccccccccccc", []string{"tok-aaaaaaaaaaaaaaaa", "tok-cccccccccccccccc"}, ""},
		{"crlf", "tok-aaaaaaaaaaaaaaaa\r\n", []string{"tok-aaaaaaaaaaaaaaaa"}, ""},
		{"empty", "# nothing\n\n", nil, "no tokens"},
		{"short", "tok-aaaaaaaaaaaaaaaa\nshort\n", nil, "line 2"},
		{"inner space", "tok-aaaa aaaaaaaaaaaa\n", nil, "spaces"},
	}
	for _, tt := range tests {
		ts, err := parseTokens([]byte(tt.file))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: %v; want an error with %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, tok := range tt.valid {
			if !ts.valid([]byte("Bearer " + tok)) {
				t.Errorf("%s: %s not accepted", tt.name, tok)
			}
			if !ts.valid([]byte("bearer " + tok)) {
				t.Errorf("%s: %s with a lower-case scheme not accepted", tt.name, tok)
			}
			if ts.valid([]byte(tok)) || ts.valid([]byte("Basic "+tok)) || ts.valid([]byte("Bearer "+tok+"x")) {
				t.Errorf("%s: %s accepted without the Bearer scheme or with a suffix", tt.name, tok)
			}
		}
	}
}
