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

// recordedStores are the stores the replay tests check, with the number of
// cases in each INDEX.tsv and how many of them the fake must model.
var recordedStores = []struct {
	name       string
	store      Store
	cases      int
	minModeled int
}{
	{"churn", ChurnStore, 73, 50},
	{"lineage", LineageStore, 18, 13},
}

// loadRecordings returns the recordings of ChurnStore.
func loadRecordings(t *testing.T) []*Recording {
	t.Helper()
	return loadStore(t, ChurnStore, recordedStores[0].cases)
}

func loadStore(t *testing.T, st Store, cases int) []*Recording {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	recs, err := LoadStore(root, st)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != cases {
		t.Fatalf("got %d recordings in %s; want the %d cases of its INDEX.tsv", len(recs), st.Recordings, cases)
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
		"/model-versions/get", "/model-versions/get-download-uri", "/runs/get", "/experiments/get", "/health", "/version":
		return true
	}
	if id, ok := strings.CutPrefix(p, "/logged-models/"); ok {
		return !strings.Contains(id, "/")
	}
	return false
}

// TestReplayRecordings sends every recorded request of each store to a fake
// standing in for it and compares status, body bytes, headers and framing
// with the recording, once answered from the recordings and once rendered
// from the fake's state.
func TestReplayRecordings(t *testing.T) {
	for _, st := range recordedStores {
		t.Run(st.name, func(t *testing.T) {
			recs := loadStore(t, st.store, st.cases)
			for _, mode := range []struct {
				name string
				opts []Option
			}{{"replay", nil}, {"render", []Option{WithoutReplay()}}} {
				t.Run(mode.name, func(t *testing.T) {
					s := New(t, append(mode.opts, WithStore(st.store))...)
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
					if modeled < st.minModeled {
						t.Errorf("got %d modeled cases; want at least %d", modeled, st.minModeled)
					}
				})
			}
		})
	}
}

// TestExperimentsGet checks experiments/get, which no recording covers: it
// answers with the body get-by-name recorded for the same experiment (MLflow
// serialises the same Experiment message for both) and with MLflow's errors.
func TestExperimentsGet(t *testing.T) {
	for _, st := range recordedStores {
		t.Run(st.name, func(t *testing.T) {
			recs := loadStore(t, st.store, st.cases)
			var byName *Recording
			for _, rec := range recs {
				if rec.Path == "/api/2.0/mlflow/experiments/get-by-name" && rec.Status == http.StatusOK {
					byName = rec
				}
			}
			if byName == nil {
				t.Fatal("no experiments/get-by-name recording")
			}
			s := New(t, WithStore(st.store))
			c := newClient(t)
			got := do(t, c, http.MethodGet, s.URL()+"/api/2.0/mlflow/experiments/get?experiment_id=1", nil, nil)
			checkResponse(t, got, byName, byName.RespBody)

			tests := []struct {
				query  string
				status int
				body   string
			}{
				{"experiment_id=99", 404, `{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "No Experiment with id=99 exists"}`},
				{"", 400, `{"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for required parameter 'experiment_id'. See the API docs for more information about request parameters."}`},
			}
			for _, tt := range tests {
				r := do(t, c, http.MethodGet, s.URL()+"/api/2.0/mlflow/experiments/get?"+tt.query, nil, nil)
				if r.status != tt.status || string(r.body) != tt.body {
					t.Errorf("experiments/get?%s: got %d %s; want %d %s", tt.query, r.status, r.body, tt.status, tt.body)
				}
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
