package resolver

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

func TestRESTVersion(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	tests := []struct {
		uri     string
		version string
		stage   string
		aliases []string
	}{
		{"models:/churn-gbm@champion", "1", "Production", []string{"champion"}},
		{"models:/churn-gbm@challenger", "2", "Staging", []string{"challenger"}},
		{"models:/churn-gbm/3", "3", "None", nil},
		{"models:/churn-gbm/latest", "4", "None", nil},
		{"models:/churn-gbm@LATEST", "4", "None", nil},
		{"models:/churn-gbm/production", "1", "Production", []string{"champion"}},
		{"models:/churn-gbm/Staging", "2", "Staging", []string{"challenger"}},
		{"models:/churn-gbm/None", "4", "None", nil},
		{"models:/churn-sk@champion", "1", "None", []string{"champion"}},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			mv, err := r.Check(context.Background(), mustURI(t, tt.uri))
			if err != nil {
				t.Fatal(err)
			}
			if mv.Version != tt.version || mv.CurrentStage != tt.stage || mv.Status != StatusReady || strings.Join(mv.Aliases, ",") != strings.Join(tt.aliases, ",") {
				t.Errorf("got version %s stage %s status %s aliases %v; want %s %s READY %v", mv.Version, mv.CurrentStage, mv.Status, mv.Aliases, tt.version, tt.stage, tt.aliases)
			}
		})
	}
}

func TestRESTCheckAliasIsOneRoundTrip(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	if _, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm@champion")); err != nil {
		t.Fatal(err)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/api/2.0/mlflow/registered-models/alias" {
		t.Fatalf("got %d requests (%+v); want one GET registered-models/alias", len(reqs), reqs)
	}
	if got := reqs[0].Header.Get("User-Agent"); got != "mlgate/test" {
		t.Errorf("User-Agent: got %q; want mlgate/test", got)
	}
}

func TestRESTNotFound(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	tests := []struct {
		uri      string
		wantText []string
	}{
		{"models:/churn-gbm@shadow", []string{"models:/churn-gbm@shadow", "registered-models/alias", "status 400 INVALID_PARAMETER_VALUE", "Registered model alias shadow not found."}},
		{"models:/no-such-model@champion", []string{"models:/no-such-model@champion", "status 400", "Registered model alias champion not found."}},
		{"models:/churn-gbm/99", []string{"models:/churn-gbm/99", "model-versions/get", "status 404 RESOURCE_DOES_NOT_EXIST", "Model Version (name=churn-gbm, version=99) not found"}},
		{"models:/no-such-model/1", []string{"status 404", "Model Version (name=no-such-model, version=1) not found"}},
		{"models:/no-such-model/latest", []string{"get-latest-versions", "status 404", "Registered Model with name=no-such-model not found"}},
		{"models:/churn-gbm/Archived", []string{"model churn-gbm has no version in stage Archived"}},
		{"models:/m-00000000000000000000000000000000", []string{"logged-models/m-00000000000000000000000000000000", "status 404", "Logged model with ID 'm-00000000000000000000000000000000' not found."}},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			for name, call := range map[string]func() error{
				"Check":   func() error { _, err := r.Check(context.Background(), mustURI(t, tt.uri)); return err },
				"Resolve": func() error { _, err := r.Resolve(context.Background(), mustURI(t, tt.uri)); return err },
			} {
				err := call()
				if !errors.Is(err, ErrNotFound) {
					t.Fatalf("%s: got %v; want ErrNotFound", name, err)
				}
				for _, w := range tt.wantText {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: error %q does not contain %q", name, err, w)
					}
				}
			}
		})
	}
}

func TestRESTResolveProvenance(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	if err != nil {
		t.Fatal(err)
	}
	want := Resolution{
		URI: mustURI(t, "models:/churn-gbm@champion"), Name: "churn-gbm", Version: "1", ModelID: championModelID,
		Stage: "Production", Status: StatusReady, CreationTimestamp: championCreated,
		Source: "models:/" + championModelID, ArtifactURI: "mlflow-artifacts:/1/models/" + championModelID + "/artifacts",
		RunID: championRunID, RunIDFrom: RunIDFromModelVersion, ExperimentID: "1", GitCommit: championCommit, RunTags: championRunTags,
		Run: LinkFound, LoggedModel: LinkFound,
	}
	checkResolution(t, res, want, []string{"champion"})

	// churn-gbm v2's LoggedModel was never recorded, so the fake answers 404:
	// resolution goes on and records it.
	res, err = r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@challenger"))
	if err != nil {
		t.Fatal(err)
	}
	if res.LoggedModel != LinkMissing || res.RunID != "b8bb2880eff64cf2839703f40a573875" || res.GitCommit != "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678" || res.Run != LinkFound {
		t.Errorf("challenger: got %+v", res)
	}
}

func checkResolution(t *testing.T, got *Resolution, want Resolution, aliases []string) {
	t.Helper()
	if strings.Join(got.Aliases, ",") != strings.Join(aliases, ",") {
		t.Errorf("aliases: got %v; want %v", got.Aliases, aliases)
	}
	if got.ResolvedAt.IsZero() {
		t.Error("ResolvedAt is zero")
	}
	if got.run == nil || got.run.ID != got.RunID {
		t.Errorf("the run read for provenance is not kept: %+v", got.run)
	}
	g := *got
	g.Aliases, g.ResolvedAt, g.run = nil, time.Time{}, nil
	if !reflect.DeepEqual(g, want) {
		t.Errorf("got  %+v\nwant %+v", g, want)
	}
}

func TestRESTResolveLoggedModel(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	u := mustURI(t, "models:/"+championModelID)
	res, err := r.Resolve(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	checkResolution(t, res, Resolution{
		URI: u, ModelID: championModelID, Status: LoggedModelReady, CreationTimestamp: 1795316441069, Source: u.String(),
		ArtifactURI: "mlflow-artifacts:/1/models/" + championModelID + "/artifacts", RunID: championRunID,
		RunIDFrom: RunIDFromLoggedModel, ExperimentID: "1", GitCommit: championCommit, RunTags: championRunTags, Run: LinkFound, LoggedModel: LinkFound,
	}, nil)
	mv, err := r.Check(context.Background(), u)
	if err != nil || mv.Status != StatusReady || mv.Source != u.String() || mv.Version != "" {
		t.Errorf("Check(%s): got %+v, %v; want READY with source %s", u, mv, err, u)
	}
}

func TestRESTRefusals(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	files := map[string][]byte{"MLmodel": []byte("flavors: {}\n")}

	pending := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: files, Status: "PENDING_REGISTRATION", StatusMessage: "copying"})
	s.SetAlias("churn-gbm", "canary", pending)
	u := mustURI(t, "models:/churn-gbm@canary")
	mv, err := r.Check(context.Background(), u)
	if err != nil || mv.Status != "PENDING_REGISTRATION" || mv.Version != pending {
		t.Fatalf("Check: got %+v, %v; want version %s PENDING_REGISTRATION without error", mv, err, pending)
	}
	_, err = r.Resolve(context.Background(), u)
	checkIs(t, err, ErrNotReady)
	if !strings.Contains(err.Error(), `status "PENDING_REGISTRATION" (copying)`) {
		t.Errorf("error %q does not give the status", err)
	}

	s.CreateModel("support-prompt", "", map[string]string{"mlflow.prompt.is_prompt": "true"})
	s.AddVersion(fakemlflow.Version{Name: "support-prompt", Files: map[string][]byte{"prompt.txt": []byte("hi")}})
	_, err = r.Resolve(context.Background(), mustURI(t, "models:/support-prompt/1"))
	checkIs(t, err, ErrPrompt)
}

func TestRESTMissingRunDoesNotFail(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	v := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: s.Files("churn-gbm", "1"), RunID: "00000000000000000000000000000000"})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/"+v))
	if err != nil {
		t.Fatal(err)
	}
	if res.Run != LinkMissing || res.RunID != "00000000000000000000000000000000" || res.GitCommit != "" || res.LoggedModel != LinkFound {
		t.Errorf("got run %s id %s commit %q logged model %s; want missing run, no commit, found logged model", res.Run, res.RunID, res.GitCommit, res.LoggedModel)
	}
}

func TestRESTAuthHeaders(t *testing.T) {
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:s3cret"))
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"none", Config{}, ""},
		{"token", Config{Token: "tok"}, "Bearer tok"},
		{"basic", Config{Username: "alice", Password: "s3cret"}, basic},
		{"basic wins over token", Config{Token: "tok", Username: "alice", Password: "s3cret"}, basic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakemlflow.New(t)
			cfg := tt.cfg
			cfg.TrackingURI = s.URL()
			r := newResolver(t, cfg)
			res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := r.Fetch(context.Background(), res); err != nil {
				t.Fatal(err)
			}
			reqs := s.Requests()
			if len(reqs) < 10 {
				t.Fatalf("got %d requests; want registry calls and artifact downloads", len(reqs))
			}
			for _, req := range reqs {
				if got := req.Header.Get("Authorization"); got != tt.want {
					t.Errorf("%s %s: Authorization %q; want %q", req.Method, req.Path, got, tt.want)
				}
			}
		})
	}
}

func TestRESTOutages(t *testing.T) {
	tests := []struct {
		mode     fakemlflow.DownMode
		wantText string
	}{
		{fakemlflow.Unavailable, "status 503"},
		{fakemlflow.Refuse, "EOF"},
		{fakemlflow.Hang, "no answer within 2s"},
	}
	for _, tt := range tests {
		t.Run(tt.wantText, func(t *testing.T) {
			s := fakemlflow.New(t)
			r := newResolver(t, Config{TrackingURI: s.URL(), Timeout: 2 * time.Second})
			s.SetDown(tt.mode)
			_, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
			checkIs(t, err, ErrUnavailable)
			if !strings.Contains(err.Error(), tt.wantText) || !strings.Contains(err.Error(), "models:/churn-gbm@champion") {
				t.Errorf("error %q does not contain %q and the URI", err, tt.wantText)
			}
			s.SetUp()
			if _, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm@champion")); err != nil {
				t.Errorf("after the outage: %v", err)
			}
		})
	}
}

func TestRESTCallerCancel(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	s.SetDown(fakemlflow.Hang)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(s.Requests()) == 0 && ctx.Err() == nil {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := r.Check(ctx, mustURI(t, "models:/churn-gbm@champion"))
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v; want context.Canceled and not ErrUnavailable", err)
	}
}

func TestRESTUnauthorized(t *testing.T) {
	for _, status := range []int{http.StatusUnauthorized, http.StatusForbidden} {
		s := fakemlflow.New(t)
		r := newResolver(t, Config{TrackingURI: s.URL()})
		s.SetResponse(http.MethodGet, "/api/2.0/mlflow/registered-models/alias?name=churn-gbm&alias=champion", status,
			"text/plain", []byte("You are not authenticated. Please see https://www.mlflow.org/docs/latest/auth/index.html"))
		_, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
		checkIs(t, err, ErrUnauthorized)
		if !strings.Contains(err.Error(), "You are not authenticated") {
			t.Errorf("error %q does not quote the body", err)
		}
	}
}

func TestRESTOtherClientErrorIsInvalid(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	s.SetResponse(http.MethodGet, "/api/2.0/mlflow/registered-models/alias?name=churn-gbm&alias=champion", http.StatusBadRequest,
		"application/json", []byte(`{"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid alias name"}`))
	_, err := r.Check(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	checkIs(t, err, ErrInvalid)
	s.SetResponse(http.MethodGet, "/api/2.0/mlflow/registered-models/alias?name=churn-gbm&alias=champion", http.StatusOK,
		"text/html", []byte(`<html>login</html>`))
	_, err = r.Check(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	checkIs(t, err, ErrInvalid)
}

// TestRESTPathPrefix serves the fake under /mlflow behind a reverse proxy:
// the prefix of the tracking URI must be kept for API and artifact calls.
func TestRESTPathPrefix(t *testing.T) {
	s := fakemlflow.New(t)
	target, _ := url.Parse(s.URL())
	proxy := httputil.NewSingleHostReverseProxy(target)
	tr := &http.Transport{}
	proxy.Transport = tr
	front := httptest.NewServer(http.StripPrefix("/mlflow", proxy))
	t.Cleanup(tr.CloseIdleConnections)
	t.Cleanup(front.Close)
	r := newResolver(t, Config{TrackingURI: front.URL + "/mlflow/"})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Fetch(context.Background(), res); err != nil {
		t.Fatal(err)
	}
}
