package fakemlflow

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// DownMode is how the server misbehaves while it is down.
type DownMode int

// Outage modes for SetDown.
const (
	// Up answers normally.
	Up DownMode = iota
	// Unavailable answers every request with 503 and MLflow's plain-text
	// "disabled" body.
	Unavailable
	// Hang accepts requests and never answers until the client gives up
	// (its request context ends) or the server closes.
	Hang
	// Refuse closes each connection as soon as a request arrives, without
	// answering.
	Refuse
)

// Request is one request the server received, as logged by Requests.
type Request struct {
	Method   string
	Path     string
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte
}

// Option configures New.
type Option func(*Server)

// WithoutReplay makes modeled routes always render their answer from the
// server's state, even when a recording matches the request. Responses are
// the same bytes either way as long as the state is unchanged; this option
// exists to prove that.
func WithoutReplay() Option { return func(s *Server) { s.noReplay = true } }

// WithStore makes the server stand in for st instead of ChurnStore.
func WithStore(st Store) Option { return func(s *Server) { s.store = st } }

// Server is an in-process fake MLflow 3.5 tracking server on 127.0.0.1 for
// tests. It answers recorded requests with the recorded bytes and renders
// everything it models (registry reads, alias set/delete, runs, LoggedModels
// and the mlflow-artifacts proxy) from its state in MLflow's exact format.
// Routes it does not model answer 501 once no recording applies. It is safe
// for concurrent use; it closes itself when the test ends.
type Server struct {
	t          testing.TB
	srv        *httptest.Server
	mux        *http.ServeMux
	recs       map[string]*Recording
	store      Store
	noReplay   bool
	closing    chan struct{}
	hookClient *http.Client

	mu           sync.Mutex
	models       map[string]*model
	runs         map[string][]byte // run ID → runs/get body
	experiments  map[string][]byte // experiment ID → experiments/get body
	loggedModels map[string][]byte // model ID → logged-models/get body
	files        map[string][]byte // artifact path under the destination → bytes
	listedSize   map[string]int64  // artifact path → size reported by listings
	truncated    map[string]bool   // artifact path → send half the bytes
	bodies       map[string]Body   // artifact path → hostile body
	holds        map[string]*hold  // artifact path → downloads wait for a release
	sent         map[string]int64  // artifact path → hostile body bytes sent
	redirect     string            // artifacts requests answer 307 to here
	dirty        map[string]bool   // dependencies whose recordings are stale
	overrides    map[string]override
	down         DownMode
	held         chan struct{} // closed once a request is held by Hang
	heldClosed   bool
	requests     []Request
	webhooks     []webhook
	deliveries   []Delivery
	versionText  []byte
	lastTS       int64
}

type override struct {
	status      int
	contentType string
	body        []byte
}

// New starts a fake MLflow server loaded with the recordings and the
// artifact store of ChurnStore (or the store given WithStore) in the
// repository holding the working directory. The server is closed with
// t.Cleanup.
func New(t testing.TB, opts ...Option) *Server {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{
		t:            t,
		store:        ChurnStore,
		closing:      make(chan struct{}),
		models:       map[string]*model{},
		runs:         map[string][]byte{},
		experiments:  map[string][]byte{},
		loggedModels: map[string][]byte{},
		files:        map[string][]byte{},
		listedSize:   map[string]int64{},
		truncated:    map[string]bool{},
		bodies:       map[string]Body{},
		holds:        map[string]*hold{},
		sent:         map[string]int64{},
		dirty:        map[string]bool{},
		overrides:    map[string]override{},
		held:         make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	recs, err := LoadStore(root, s.store)
	if err != nil {
		t.Fatal(err)
	}
	s.recs = recordingsByKey(recs)
	if err := s.loadState(recs); err != nil {
		t.Fatal(err)
	}
	if err := s.loadArtifacts(filepath.Join(root, s.store.Artifacts)); err != nil {
		t.Fatal(err)
	}
	hookTransport := &http.Transport{}
	s.hookClient = &http.Client{Transport: hookTransport, Timeout: 10 * time.Second}
	s.mux = s.routes()
	s.srv = httptest.NewServer(s)
	t.Cleanup(func() {
		close(s.closing)
		s.srv.CloseClientConnections()
		s.srv.Close()
		hookTransport.CloseIdleConnections()
	})
	return s
}

// URL returns the base URL, e.g. http://127.0.0.1:40123 (no trailing slash).
func (s *Server) URL() string { return s.srv.URL }

// Requests returns a copy of every request received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

// SetDown makes the server misbehave in the given way until SetUp.
func (s *Server) SetDown(mode DownMode) {
	s.mu.Lock()
	s.down = mode
	if s.heldClosed {
		s.held, s.heldClosed = make(chan struct{}), false
	}
	s.mu.Unlock()
}

// Held returns a channel that is closed once a request has arrived and is
// being held by the Hang outage set by the last SetDown. A test waits on it
// to know that the client's call is in progress, instead of guessing with a
// sleep.
func (s *Server) Held() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held
}

// SetUp ends an outage started by SetDown.
func (s *Server) SetUp() { s.SetDown(Up) }

// SetResponse makes requests for method and target (a path with an
// optional query, matched order-insensitively) answer with the given status,
// content type and body, before anything else is considered. It lets tests
// serve malformed or hostile answers.
func (s *Server) SetResponse(method, target string, status int, contentType string, body []byte) {
	s.t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		s.t.Fatalf("fakemlflow: SetResponse target %q: %v", target, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.overrides[method+" "+u.Path+"?"+u.Query().Encode()] = override{status: status, contentType: contentType, body: bytes.Clone(body)}
}

// ServeHTTP logs the request, applies any outage or override, replays a
// matching recording whose state is unchanged, and otherwise dispatches to
// the modeled routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 8<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
	down := s.down
	if down == Hang && !s.heldClosed {
		close(s.held)
		s.heldClosed = true
	}
	ov, hasOverride := s.overrides[r.Method+" "+r.URL.Path+"?"+r.URL.Query().Encode()]
	s.mu.Unlock()

	setCommonHeaders(w.Header())
	switch down {
	case Unavailable:
		writeText(w, http.StatusServiceUnavailable, "text/html; charset=utf-8",
			"Endpoint: "+r.URL.Path+" disabled due to the mlflow server running in `--artifacts-only` mode. "+
				"To enable tracking server functionality, run `mlflow server` without `--artifacts-only`")
		return
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
		return
	case Refuse:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	if hasOverride {
		writeText(w, ov.status, ov.contentType, string(ov.body))
		return
	}
	if strings.HasPrefix(r.URL.Path, artifactsAPI) && s.redirected(w, r) {
		return
	}
	_, pattern := s.mux.Handler(r)
	if rec := s.recs[requestKey(r.Method, r.URL.Path, r.URL.Query(), body)]; rec != nil && (pattern == "" || !s.noReplay) && !s.isDirty(rec.dep) {
		replay(w, rec)
		return
	}
	if pattern == "" {
		notModeled(w, r)
		return
	}
	s.mux.ServeHTTP(w, r) // (not the Handler result: path values are set by ServeHTTP)
}

func (s *Server) isDirty(dep string) bool {
	if dep == "" {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dirty[dep]
}

// markDirty records that responses depending on deps changed; the caller
// holds s.mu.
func (s *Server) markDirty(deps ...string) {
	for _, d := range deps {
		s.dirty[d] = true
	}
}

// dependency names the state a recorded response depends on: "model:<name>"
// for a registered model's endpoints, "registry" for searches across models,
// "artifacts:<path>" for the artifact proxy, "" for state the fake never
// changes (runs, LoggedModels, experiments).
func dependency(rec *Recording) string {
	p := strings.TrimPrefix(rec.Path, "/ajax-api/2.0/mlflow")
	p = strings.TrimPrefix(p, "/api/2.0/mlflow")
	switch {
	case strings.HasPrefix(rec.Path, artifactsAPI+"/"):
		return "artifacts:" + strings.TrimPrefix(rec.Path, artifactsAPI+"/")
	case rec.Path == artifactsAPI:
		return "artifacts:" + strings.Trim(rec.Query.Get("path"), "/")
	case strings.HasSuffix(p, "/search"):
		return "registry"
	case strings.HasPrefix(p, "/registered-models/"), strings.HasPrefix(p, "/model-versions/"):
		name := rec.Query.Get("name")
		if len(rec.Body) > 0 {
			var b struct {
				Name string `json:"name"`
			}
			_ = jsonUnmarshal(rec.Body, &b)
			name = b.Name
		}
		return "model:" + name
	default:
		return ""
	}
}

func setCommonHeaders(h http.Header) {
	h.Set("Server", "uvicorn")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "SAMEORIGIN")
}

// replay writes a recorded response: its headers (except date), its body,
// and chunked or Content-Length framing as recorded.
func replay(w http.ResponseWriter, rec *Recording) {
	h := w.Header()
	for k, vs := range rec.Header {
		h[k] = slices.Clone(vs)
	}
	if rec.Chunked {
		h.Set("Transfer-Encoding", "chunked")
	} else {
		h.Set("Content-Length", itoa(len(rec.RespBody)))
	}
	w.WriteHeader(rec.Status)
	_, _ = w.Write(rec.RespBody)
}

// writeText writes a body with a Content-Length.
func writeText(w http.ResponseWriter, status int, contentType, body string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

// writeJSON writes an indented MLflow REST body.
func writeJSON(w http.ResponseWriter, v any) {
	writeText(w, http.StatusOK, "application/json", string(dumpIndent(v)))
}

// apiError is an MLflow error answer.
type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) write(w http.ResponseWriter) {
	writeText(w, e.status, "application/json", string(dumpCompact(Object{{"error_code", e.code}, {"message", e.msg}})))
}

func notFound(msg string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "RESOURCE_DOES_NOT_EXIST", msg: msg}
}

func invalid(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "INVALID_PARAMETER_VALUE", msg: msg}
}

// notModeled answers routes the fake does not render: MLflow routes get a
// loud 501 so a test notices; anything else gets Flask's 404 page.
func notModeled(w http.ResponseWriter, r *http.Request) {
	for _, p := range []string{"/api/", "/ajax-api/", "/get-artifact", "/model-versions/"} {
		if strings.HasPrefix(r.URL.Path, p) {
			writeText(w, http.StatusNotImplemented, "text/plain; charset=utf-8",
				"fakemlflow: "+r.Method+" "+r.URL.RequestURI()+" is not modeled and no recording applies to the current state\n")
			return
		}
	}
	writeText(w, http.StatusNotFound, "text/html; charset=utf-8",
		"<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>\n<h1>Not Found</h1>\n"+
			"<p>The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.</p>\n")
}
