package fakemlflow

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient returns an HTTP client whose idle connections are closed when
// the test ends.
func newClient(t *testing.T) *http.Client {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func loadRecordings(t *testing.T) []*Recording {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := LoadRecordings(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 73 {
		t.Fatalf("got %d recordings; want the 73 cases of INDEX.tsv", len(recs))
	}
	return recs
}

type response struct {
	status int
	header http.Header
	body   []byte
	// chunked and contentLength describe the framing the client saw.
	chunked       bool
	contentLength int64
}

func do(t *testing.T, c *http.Client, method, u string, body []byte, header map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body == nil {
		req.Body = nil
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, u, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data,
		chunked: slices.Equal(resp.TransferEncoding, []string{"chunked"}), contentLength: resp.ContentLength}
}

// requestOf rebuilds a recorded request against the fake.
func requestOf(s *Server, rec *Recording) (string, map[string]string) {
	u := s.URL() + (&url.URL{Path: rec.Path, RawQuery: rec.Query.Encode()}).String()
	var h map[string]string
	if rec.Body != nil {
		h = map[string]string{"Content-Type": "application/json"}
	}
	return u, h
}

// comparedHeaders are the response headers a recording pins down besides
// the framing.
var comparedHeaders = []string{"Content-Type", "Content-Disposition", "X-Content-Type-Options", "X-Frame-Options", "Server"}

// checkResponse compares a response with what a recording (or an expected
// body in the recording's format) says.
func checkResponse(t *testing.T, got response, rec *Recording, wantBody []byte) {
	t.Helper()
	if got.status != rec.Status {
		t.Errorf("status: got %d; want %d", got.status, rec.Status)
	}
	if !bytes.Equal(got.body, wantBody) {
		t.Errorf("body: got\n%s\nwant\n%s", got.body, wantBody)
	}
	for _, k := range comparedHeaders {
		if g, w := got.header.Values(k), rec.Header.Values(k); !slices.Equal(g, w) {
			t.Errorf("header %s: got %q; want %q", k, g, w)
		}
	}
	for k, w := range rec.Header {
		if g := got.header.Values(k); !slices.Equal(g, w) {
			t.Errorf("header %s: got %q; want %q", k, g, w)
		}
	}
	for k := range got.header {
		if k != "Date" && k != "Content-Length" && rec.Header[k] == nil {
			t.Errorf("header %s: got %q; the recording has none", k, got.header.Values(k))
		}
	}
	if rec.Chunked {
		if !got.chunked || got.contentLength != -1 {
			t.Errorf("framing: got chunked=%v Content-Length=%d; want chunked", got.chunked, got.contentLength)
		}
	} else if got.chunked || got.contentLength != int64(len(wantBody)) {
		t.Errorf("framing: got chunked=%v Content-Length=%d; want Content-Length %d", got.chunked, got.contentLength, len(wantBody))
	}
}

// modeledPath reports whether the fake renders a path from its state.
func modeledPath(p string) bool {
	if strings.HasPrefix(p, artifactsAPI) {
		return true
	}
	p = strings.TrimPrefix(p, "/api/2.0/mlflow")
	switch p {
	case "/registered-models/alias", "/registered-models/get", "/registered-models/get-latest-versions",
		"/model-versions/get", "/model-versions/get-download-uri", "/runs/get", "/health", "/version":
		return true
	}
	if id, ok := strings.CutPrefix(p, "/logged-models/"); ok {
		return !strings.Contains(id, "/")
	}
	return false
}

// TestReplayRecordings sends every recorded request to the fake and compares
// status, body bytes, headers and framing with the recording, once answered
// from the recordings and once rendered from the fake's state.
func TestReplayRecordings(t *testing.T) {
	recs := loadRecordings(t)
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"replay", nil}, {"render", []Option{WithoutReplay()}}} {
		t.Run(mode.name, func(t *testing.T) {
			s := New(t, mode.opts...)
			c := newClient(t)
			modeled := 0
			for _, rec := range recs {
				t.Run(rec.Name, func(t *testing.T) {
					u, h := requestOf(s, rec)
					req, _ := http.NewRequest(rec.Method, u, nil)
					_, pattern := s.mux.Handler(req)
					if (pattern != "") != modeledPath(rec.Path) {
						t.Fatalf("route %s: modeled=%v; want %v", rec.Path, pattern != "", modeledPath(rec.Path))
					}
					if pattern != "" {
						modeled++
					}
					want := rec.RespBody
					if mode.name == "render" && rec.Name == "mlflow-artifacts-list--sk-model-dir" {
						// The artifact store copy leaves out churn-sk's
						// model.pkl, so a rendered listing lacks it.
						want = withoutListedFile(t, rec.RespBody, "model.pkl")
					}
					checkResponse(t, do(t, c, rec.Method, u, rec.Body, h), rec, want)
				})
			}
			if modeled < 50 {
				t.Errorf("got %d modeled cases; want at least 50", modeled)
			}
		})
	}
}

func withoutListedFile(t *testing.T, body []byte, name string) []byte {
	t.Helper()
	v, err := parseOrdered(body)
	if err != nil {
		t.Fatal(err)
	}
	files := v.(Object).get("files").([]any)
	var kept []any
	for _, f := range files {
		if f.(Object).get("path") != name {
			kept = append(kept, f)
		}
	}
	if len(kept) != len(files)-1 {
		t.Fatalf("listing has no %s to leave out", name)
	}
	return dumpIndent(Object{{"files", kept}})
}

func TestRecordedRequestLog(t *testing.T) {
	s := New(t)
	c := newClient(t)
	do(t, c, http.MethodGet, s.URL()+"/api/2.0/mlflow/registered-models/alias?name=churn-gbm&alias=champion", nil,
		map[string]string{"Authorization": "Bearer tok"})
	do(t, c, http.MethodPost, s.URL()+"/api/2.0/mlflow/registered-models/get-latest-versions", []byte(`{"name":"churn-gbm"}`),
		map[string]string{"Content-Type": "application/json"})
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("got %d logged requests; want 2", len(reqs))
	}
	if g := reqs[0].Query.Get("alias"); g != "champion" {
		t.Errorf("logged alias: got %q; want champion", g)
	}
	if g := reqs[0].Header.Get("Authorization"); g != "Bearer tok" {
		t.Errorf("logged Authorization: got %q; want Bearer tok", g)
	}
	if g := string(reqs[1].Body); g != `{"name":"churn-gbm"}` {
		t.Errorf("logged body: got %q", g)
	}
}
