package serve

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/testutil"
)

// TestProvenanceTagHeaders serves a version whose data version and run
// tags are hostile (CR LF, NUL, non-ASCII, too long) and reads the raw
// response: every value is percent-encoded and bounded, nothing splits a
// header line, tags the run lacks are absent, and the same values are in
// /admin/models.
func TestProvenanceTagHeaders(t *testing.T) {
	s, err := New(Config{ProvenanceTags: []string{"team", "dataset_version", "absent"}})
	if err != nil {
		t.Fatal(err)
	}
	m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
	p := v1Provenance
	p.DataVersion = "5d41\r\nSet-Cookie: stolen=1"
	p.Tags = map[string]string{"team": "rétention\x00", "dataset_version": strings.Repeat("v", 300), "other": "not exposed"}
	publish(t, s, []RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}}}},
		map[string]Deployment{champion: {Model: m, Provenance: p}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	accepting(t, ln.Addr().String())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
		s.Close()
	})

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`
	if _, err := c.Write([]byte("POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\nConnection: close\r\n\r\n" + body)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := map[string]string{
		HeaderDataVersion:              "5d41%0D%0ASet-Cookie: stolen=1",
		"X-Mlflow-Tag-Team":            "r%C3%A9tention%00",
		"X-Mlflow-Tag-Dataset-Version": strings.Repeat("v", MaxHeaderValueBytes-len(TruncatedMarker)) + TruncatedMarker,
		"X-Mlflow-Tag-Absent":          "",
		"X-Mlflow-Tag-Other":           "",
		"Set-Cookie":                   "",
		HeaderModelVersion:             "1",
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s = %q; want %q", k, got, v)
		}
	}
	st := s.Status()
	serving := st.Routes[0].Targets[0].Serving
	if serving == nil || serving.DataVersion != p.DataVersion || serving.Tags["team"] != p.Tags["team"] {
		t.Errorf("/admin/models serving %+v; want the data version and tags", serving)
	}
}
