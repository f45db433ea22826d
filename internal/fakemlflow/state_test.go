package fakemlflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// recording returns a recorded case by name.
func recording(t *testing.T, name string) *Recording {
	t.Helper()
	for _, r := range loadRecordings(t) {
		if r.Name == name {
			return r
		}
	}
	t.Fatalf("no recording %s", name)
	return nil
}

// withField returns a recorded JSON body with one field of the object at
// path (a list of keys from the top) set, or removed when value is nil.
func withField(t *testing.T, body []byte, path []string, key string, value any) []byte {
	t.Helper()
	v, err := parseOrdered(body)
	if err != nil {
		t.Fatal(err)
	}
	obj := v.(Object)
	target := obj
	for _, k := range path {
		target = target.get(k).(Object)
	}
	out := Object{}
	found := false
	for _, f := range target {
		if f.Key == key {
			found = true
			if value == nil {
				continue
			}
			f.Value = value
		}
		out = append(out, f)
	}
	if !found && value != nil {
		t.Fatalf("field %s not in the recording", key)
	}
	// Replace target in place: walk again and swap the innermost object.
	if len(path) == 0 {
		return dumpIndent(out)
	}
	var set func(o Object, rest []string) Object
	set = func(o Object, rest []string) Object {
		res := Object{}
		for _, f := range o {
			if f.Key == rest[0] {
				if len(rest) == 1 {
					f.Value = out
				} else {
					f.Value = set(f.Value.(Object), rest[1:])
				}
			}
			res = append(res, f)
		}
		return res
	}
	return dumpIndent(set(obj, path))
}

func TestSetAliasRendersLikeMLflow(t *testing.T) {
	for _, opts := range [][]Option{nil, {WithoutReplay()}} {
		s := New(t, opts...)
		c := newClient(t)
		s.SetAlias("churn-gbm", "champion", "2")

		v2 := recording(t, "model-versions-get--churn-gbm--v2")
		want := withField(t, v2.RespBody, []string{"model_version"}, "aliases", []any{"challenger", "champion"})
		u, _ := requestOf(s, recording(t, "alias--churn-gbm--champion"))
		checkResponse(t, do(t, c, http.MethodGet, u, nil, nil), v2, want)

		u, _ = requestOf(s, v2)
		checkResponse(t, do(t, c, http.MethodGet, u, nil, nil), v2, want)

		v1 := recording(t, "model-versions-get--churn-gbm--v1")
		u, _ = requestOf(s, v1)
		checkResponse(t, do(t, c, http.MethodGet, u, nil, nil), v1, withField(t, v1.RespBody, []string{"model_version"}, "aliases", nil))

		rm := recording(t, "registered-models-get--churn-gbm")
		u, _ = requestOf(s, rm)
		checkResponse(t, do(t, c, http.MethodGet, u, nil, nil), rm, withField(t, rm.RespBody, []string{"registered_model"}, "aliases", []any{
			Object{{"alias", "challenger"}, {"version", "2"}}, Object{{"alias", "champion"}, {"version", "2"}},
		}))
	}
}

// receiver records webhook deliveries.
type receiver struct {
	got chan *http.Request
	bod chan []byte
}

func newReceiver(t *testing.T, status int) (*receiver, string) {
	t.Helper()
	r := &receiver{got: make(chan *http.Request, 10), bod: make(chan []byte, 10)}
	srv := newTestServer(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.got <- req
		r.bod <- b
		w.WriteHeader(status)
	}))
	return r, srv
}

func newTestServer(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (r *receiver) next(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	select {
	case req := <-r.got:
		return req, <-r.bod
	default:
		t.Fatal("no webhook delivery was received before the triggering call returned")
		return nil, nil
	}
}

func TestAliasEndpointsAndWebhooks(t *testing.T) {
	s := New(t)
	c := newClient(t)
	rcv, hookURL := newReceiver(t, http.StatusOK)
	s.AddWebhook(hookURL, "s3cret", EventAliasCreated, EventAliasDeleted)
	api := s.URL() + "/api/2.0/mlflow/registered-models/alias"
	jsonCT := map[string]string{"Content-Type": "application/json"}

	got := do(t, c, http.MethodPost, api, []byte(`{"name": "churn-gbm", "alias": "shadow", "version": "3"}`), jsonCT)
	if got.status != http.StatusOK || string(got.body) != "{}" || got.header.Get("Content-Type") != "application/json" {
		t.Fatalf("set alias: got %d %q %q; want 200 {} application/json", got.status, got.body, got.header.Get("Content-Type"))
	}
	req, body := rcv.next(t)
	checkDelivery(t, req, body, "s3cret", "model_version_alias", "created", `{"name": "churn-gbm", "alias": "shadow", "version": "3"}`)

	got = do(t, c, http.MethodGet, api+"?name=churn-gbm&alias=shadow", nil, nil)
	var mv struct {
		MV struct {
			Version string   `json:"version"`
			Aliases []string `json:"aliases"`
		} `json:"model_version"`
	}
	if err := json.Unmarshal(got.body, &mv); err != nil || mv.MV.Version != "3" || len(mv.MV.Aliases) != 1 || mv.MV.Aliases[0] != "shadow" {
		t.Fatalf("alias shadow: got %s (%v); want version 3 with aliases [shadow]", got.body, err)
	}

	got = do(t, c, http.MethodDelete, api, []byte(`{"name": "churn-gbm", "alias": "shadow"}`), jsonCT)
	if got.status != http.StatusOK || string(got.body) != "{}" {
		t.Fatalf("delete alias: got %d %q; want 200 {}", got.status, got.body)
	}
	req, body = rcv.next(t)
	checkDelivery(t, req, body, "s3cret", "model_version_alias", "deleted", `{"name": "churn-gbm", "alias": "shadow"}`)

	// After the delete the alias answers exactly like the recorded missing alias.
	missing := recording(t, "alias--churn-gbm--missing-alias")
	u, _ := requestOf(s, missing)
	checkResponse(t, do(t, c, http.MethodGet, u, nil, nil), missing, missing.RespBody)

	if n := len(s.Deliveries()); n != 2 {
		t.Errorf("got %d deliveries; want 2", n)
	}
	for _, d := range s.Deliveries() {
		if d.StatusCode != http.StatusOK || d.Err != nil {
			t.Errorf("delivery %s: got status %d err %v; want 200", d.ID, d.StatusCode, d.Err)
		}
	}
}

func checkDelivery(t *testing.T, req *http.Request, body []byte, secret, entity, action, data string) {
	t.Helper()
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type: got %q; want application/json", ct)
	}
	id, ts := req.Header.Get(HeaderDeliveryID), req.Header.Get(HeaderTimestamp)
	if len(id) != 36 || id[14] != '4' {
		t.Errorf("delivery id: got %q; want a UUID4", id)
	}
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Hour {
		t.Errorf("timestamp: got %q; want current Unix seconds", ts)
	}
	if want := Sign(secret, id, ts, body); req.Header.Get(HeaderSignature) != want {
		t.Errorf("signature: got %q; want %q", req.Header.Get(HeaderSignature), want)
	}
	var payload struct {
		Entity    string          `json:"entity"`
		Action    string          `json:"action"`
		Timestamp string          `json:"timestamp"`
		Data      json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		t.Fatalf("payload %s: %v", body, err)
	}
	if payload.Entity != entity || payload.Action != action || string(payload.Data) != data {
		t.Errorf("payload: got %s; want entity %s action %s data %s", body, entity, action, data)
	}
	prefix := `{"entity": "` + entity + `", "action": "` + action + `", "timestamp": "`
	if !bytes.HasPrefix(body, []byte(prefix)) || !bytes.HasSuffix(body, []byte(`+00:00", "data": `+data+`}`)) {
		t.Errorf("payload format: got %s; want Python json.dumps layout", body)
	}
}

func TestAliasEndpointErrors(t *testing.T) {
	s := New(t)
	c := newClient(t)
	api := s.URL() + "/api/2.0/mlflow/registered-models/alias"
	jsonCT := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name   string
		body   string
		header map[string]string
		status int
		want   string
	}{
		{"missing model", `{"name": "nope", "alias": "a", "version": "1"}`, jsonCT, 404,
			`{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model with name=nope not found"}`},
		{"missing version", `{"name": "churn-gbm", "alias": "a", "version": "9"}`, jsonCT, 404,
			`{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Model Version (name=churn-gbm, version=9) not found"}`},
		{"reserved latest", `{"name": "churn-gbm", "alias": "Latest", "version": "1"}`, jsonCT, 400,
			`{"error_code": "INVALID_PARAMETER_VALUE", "message": "'latest' alias name (case insensitive) is reserved."}`},
		{"reserved version alias", `{"name": "churn-gbm", "alias": "v3", "version": "1"}`, jsonCT, 400,
			`{"error_code": "INVALID_PARAMETER_VALUE", "message": "Version alias name 'v3' is reserved."}`},
		{"bad characters", `{"name": "churn-gbm", "alias": "a b", "version": "1"}`, jsonCT, 400,
			`{"error_code": "INVALID_PARAMETER_VALUE", "message": "Invalid alias name: 'a b'. Names may only contain alphanumerics, underscores (_), and dashes (-)."}`},
		{"missing alias", `{"name": "churn-gbm", "version": "1"}`, jsonCT, 400,
			`{"error_code": "INVALID_PARAMETER_VALUE", "message": "Missing value for required parameter 'alias'. See the API docs for more information about request parameters."}`},
		{"no content type", `{"name": "churn-gbm", "alias": "a", "version": "1"}`, nil, 400,
			`{"error_code": "INVALID_PARAMETER_VALUE", "message": "Bad Request. Content-Type must be one of ['application/json']."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := do(t, c, http.MethodPost, api, []byte(tt.body), tt.header)
			if got.status != tt.status || string(got.body) != tt.want {
				t.Errorf("got %d %s; want %d %s", got.status, got.body, tt.status, tt.want)
			}
		})
	}
}

func TestAddVersion(t *testing.T) {
	s := New(t)
	c := newClient(t)
	rcv, hookURL := newReceiver(t, http.StatusAccepted)
	s.AddWebhook(hookURL, "", EventVersionCreated)
	files := s.Files("churn-gbm", "2")
	if len(files) != 7 || files["model.onnx"] == nil {
		t.Fatalf("Files(churn-gbm, 2): got %d files; want the 7 recorded ones", len(files))
	}
	files["data/extra.bin"] = []byte("weights")
	v := s.AddVersion(Version{Name: "churn-gbm", Files: files, RunID: "b8bb2880eff64cf2839703f40a573875", Description: "copy of v2"})
	if v != "5" {
		t.Fatalf("AddVersion: got version %q; want 5", v)
	}
	req, body := rcv.next(t)
	if req.Header.Get(HeaderSignature) != "" {
		t.Errorf("signature without a secret: got %q; want none", req.Header.Get(HeaderSignature))
	}
	var payload struct {
		Data struct {
			Version string `json:"version"`
			Source  string `json:"source"`
			RunID   string `json:"run_id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &payload); err != nil || payload.Data.Version != "5" || payload.Data.RunID != "b8bb2880eff64cf2839703f40a573875" {
		t.Errorf("model_version.created payload: got %s", body)
	}

	got := do(t, c, http.MethodGet, s.URL()+"/api/2.0/mlflow/model-versions/get-download-uri?name=churn-gbm&version=5", nil, nil)
	var dl struct {
		URI string `json:"artifact_uri"`
	}
	if err := json.Unmarshal(got.body, &dl); err != nil || dl.URI != "mlflow-artifacts:/"+s.ArtifactDir("churn-gbm", "5") {
		t.Fatalf("download uri: got %s", got.body)
	}
	dir := s.ArtifactDir("churn-gbm", "5")
	got = do(t, c, http.MethodGet, s.URL()+artifactsAPI+"?path="+dir, nil, nil)
	if !bytes.Contains(got.body, []byte(`"path": "data",`+"\n"+`      "is_dir": true`)) || !bytes.Contains(got.body, []byte(`"path": "model.onnx"`)) {
		t.Errorf("listing: got %s", got.body)
	}
	got = do(t, c, http.MethodGet, s.URL()+artifactsAPI+"/"+dir+"/data/extra.bin", nil, nil)
	if string(got.body) != "weights" || !got.chunked || got.header.Get("Content-Disposition") != "attachment; filename=extra.bin" {
		t.Errorf("download: got %q chunked=%v %q", got.body, got.chunked, got.header.Get("Content-Disposition"))
	}
	got = do(t, c, http.MethodGet, s.URL()+"/api/2.0/mlflow/registered-models/get?name=churn-gbm", nil, nil)
	var rm struct {
		RM struct {
			Latest []struct {
				Version string `json:"version"`
				Stage   string `json:"current_stage"`
			} `json:"latest_versions"`
		} `json:"registered_model"`
	}
	if err := json.Unmarshal(got.body, &rm); err != nil || len(rm.RM.Latest) != 3 || rm.RM.Latest[2].Version != "5" || rm.RM.Latest[2].Stage != "None" {
		t.Errorf("latest_versions after v5: got %s", got.body)
	}
	id := dl.URI[len("mlflow-artifacts:/1/models/") : len(dl.URI)-len("/artifacts")]
	got = do(t, c, http.MethodGet, s.URL()+"/api/2.0/mlflow/logged-models/"+id, nil, nil)
	if got.status != http.StatusOK || !bytes.Contains(got.body, []byte(`"source_run_id": "b8bb2880eff64cf2839703f40a573875"`)) {
		t.Errorf("logged model: got %d %s", got.status, got.body)
	}
}

func TestOutages(t *testing.T) {
	s := New(t)
	u := s.URL() + "/api/2.0/mlflow/registered-models/alias?name=churn-gbm&alias=champion"

	s.SetDown(Unavailable)
	got := do(t, newClient(t), http.MethodGet, u, nil, nil)
	if got.status != http.StatusServiceUnavailable || !bytes.Contains(got.body, []byte("--artifacts-only")) {
		t.Errorf("Unavailable: got %d %s; want 503 with MLflow's text", got.status, got.body)
	}

	s.SetDown(Refuse)
	if _, err := newClient(t).Get(u); err == nil {
		t.Error("Refuse: got a response; want a connection error")
	}

	s.SetDown(Hang)
	c := newClient(t)
	c.Timeout = 200 * time.Millisecond
	if _, err := c.Get(u); err == nil {
		t.Error("Hang: got a response; want a timeout")
	}

	s.SetUp()
	if got := do(t, newClient(t), http.MethodGet, u, nil, nil); got.status != http.StatusOK {
		t.Errorf("after SetUp: got %d; want 200", got.status)
	}
}

func TestTruncateFile(t *testing.T) {
	s := New(t)
	s.TruncateFile("churn-gbm", "1", "model.onnx")
	resp, err := newClient(t).Get(s.URL() + artifactsAPI + "/" + s.ArtifactDir("churn-gbm", "1") + "/model.onnx")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("read truncated body: got %d bytes, err %v; want io.ErrUnexpectedEOF", len(data), err)
	}
	if resp.ContentLength != 356 || len(data) != 178 {
		t.Errorf("got Content-Length %d and %d bytes; want 356 and 178", resp.ContentLength, len(data))
	}
}

func TestSetResponse(t *testing.T) {
	s := New(t)
	s.SetResponse(http.MethodGet, artifactsAPI+"?path=x", http.StatusOK, "application/json", []byte(`{"files": [{"path": "../evil", "is_dir": false}]}`))
	got := do(t, newClient(t), http.MethodGet, s.URL()+artifactsAPI+"?path=x", nil, nil)
	if got.status != http.StatusOK || string(got.body) != `{"files": [{"path": "../evil", "is_dir": false}]}` {
		t.Errorf("got %d %s", got.status, got.body)
	}
}

func TestNewDeliveryByHand(t *testing.T) {
	at := time.Date(2025, 11, 10, 9, 20, 1, 123456789, time.UTC)
	d := NewDelivery("s3cret", "model_version_alias", "created", Object{{"name", "churn-gbm"}, {"alias", "champion"}, {"version", "3"}}, at)
	wantBody := `{"entity": "model_version_alias", "action": "created", "timestamp": "2025-11-10T09:20:01.123456+00:00", "data": {"name": "churn-gbm", "alias": "champion", "version": "3"}}`
	if string(d.Body) != wantBody {
		t.Errorf("body: got %s; want %s", d.Body, wantBody)
	}
	if d.Timestamp != "1762766401" {
		t.Errorf("timestamp: got %s; want 1762766401", d.Timestamp)
	}
	if d.Signature != Sign("s3cret", d.ID, d.Timestamp, d.Body) || Sign("other", d.ID, d.Timestamp, d.Body) == d.Signature {
		t.Errorf("signature %s does not depend on the secret as MLflow's does", d.Signature)
	}
	// A known vector: HMAC-SHA256("s3cret", "id.1.{}") in base64.
	if got := Sign("s3cret", "id", "1", []byte("{}")); got != "v1,"+hmacVector {
		t.Errorf("Sign: got %s; want v1,%s", got, hmacVector)
	}
	if got := pythonISOTime(time.Date(2025, 11, 10, 9, 20, 1, 0, time.UTC)); got != "2025-11-10T09:20:01+00:00" {
		t.Errorf("isoformat without microseconds: got %s", got)
	}
	req, err := d.Request(t.Context(), "http://127.0.0.1:1/hook")
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get(HeaderDeliveryID) != d.ID || req.Header.Get(HeaderTimestamp) != d.Timestamp ||
		req.Header.Get(HeaderSignature) != d.Signature || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request headers: got %v", req.Header)
	}
	unsigned := NewDelivery("", "model_version_alias", "deleted", Object{{"name", "churn-gbm"}, {"alias", "champion"}}, at)
	if unsigned.Signature != "" {
		t.Errorf("delivery without a secret: got signature %q", unsigned.Signature)
	}
}

// hmacVector is base64(HMAC-SHA256("s3cret", "id.1.{}")), computed with
// Python's hmac module as MLflow's _generate_hmac_signature does.
const hmacVector = "hhqeZJytZLyCQRwNASHta9HklCLZpf2zKItYKeAzJ7k="
