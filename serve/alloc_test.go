package serve

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
	"github.com/mlgate/mlgate/telemetry"
)

// inMemory returns a server for churn-gbm v1 at models:/churn-gbm@champion
// on route "churn", without a listener, and a request context to drive its
// Handler directly.
func inMemory(tb testing.TB, version int, uri string) (*Server, *fasthttp.RequestCtx) {
	tb.Helper()
	return inMemoryWith(tb, Config{}, version, uri)
}

func inMemoryWith(tb testing.TB, cfg Config, version int, uri string) (*Server, *fasthttp.RequestCtx) {
	tb.Helper()
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	m := loadModel(tb, testutil.RecordedModel(tb, "churn-gbm", version))
	publish(tb, s, []RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: uri, Alias: "champion"}}}}, served(map[string]Model{uri: m}))
	tb.Cleanup(s.Close)
	return s, requestCtx()
}

// requestCtx returns a request context for driving Handler in memory, set
// up as fasthttp's server sets up a connection's with mlgate's settings
// (ReduceMemoryUsage off): the request and the response keep their body
// buffers from one request to the next. A context made by
// RequestCtx.Init instead hands both buffers back to fasthttp's byte-buffer
// pools after every request, which mlgate's server does not do; those pools
// recalibrate every 42,000 returns and drop buffers larger than most they
// have seen, so after many small bodies each larger one allocated its
// buffers again: allocations of the benchmark, not of the server.
func requestCtx() *fasthttp.RequestCtx {
	ctx := &fasthttp.RequestCtx{}
	ctx.Init2(addrConn{}, discardLogger{}, false)
	return ctx
}

// addrConn is the connection of an in-memory request: it has addresses
// and nothing else.
type addrConn struct{ net.Conn }

var (
	inMemoryLocal  = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	inMemoryRemote = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}
)

func (addrConn) LocalAddr() net.Addr  { return inMemoryLocal }
func (addrConn) RemoteAddr() net.Addr { return inMemoryRemote }

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func setRequest(ctx *fasthttp.RequestCtx, path, contentType, body string) {
	ctx.Request.Reset()
	ctx.Request.Header.SetMethod("POST")
	ctx.Request.SetRequestURI(path)
	ctx.Request.Header.SetContentType(contentType)
	ctx.Request.SetBodyString(body)
}

// rowsOf repeats the churn row n times.
func rowsOf(n int, row string) string {
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// TestHandlerAllocations holds a whole scoring request through the handler
// (routing, provenance headers, media type, decode, validate, run, encode)
// to zero allocations, for one-row and 16-row requests in every JSON format
// a model's signature accepts.
func TestHandlerAllocations(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	const cols = `"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"]`
	const record = `{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}`
	tests := []struct {
		version int
		format  string
		body    func(rows int) string
	}{
		{1, "dataframe_split", func(n int) string {
			return `{"dataframe_split": {` + cols + `, "data": [` + rowsOf(n, `[37, 36.0, 1306.52, 1]`) + `]}}`
		}},
		{1, "dataframe_records", func(n int) string { return `{"dataframe_records": [` + rowsOf(n, record) + `]}` }},
		{1, "instances", func(n int) string { return `{"instances": [` + rowsOf(n, record) + `]}` }},
		{1, "inputs records", func(n int) string { return `{"inputs": [` + rowsOf(n, record) + `]}` }},
		{2, "inputs list", func(n int) string { return `{"inputs": [` + rowsOf(n, `[37.0, 36.0, 1306.52, 1.0]`) + `]}` }},
		{2, "instances list", func(n int) string { return `{"instances": [` + rowsOf(n, `[37.0, 36.0, 1306.52, 1.0]`) + `]}` }},
		{2, "dataframe_split", func(n int) string {
			return `{"dataframe_split": {` + cols + `, "data": [` + rowsOf(n, `[37, 36.0, 1306.52, 1]`) + `]}}`
		}},
		{3, "inputs dict", func(n int) string {
			return `{"inputs": {"tenure": [` + rowsOf(n, "37") + `], "monthly_charges": [` + rowsOf(n, "36.0") +
				`], "total_charges": [` + rowsOf(n, "1306.52") + `], "contract_months": [` + rowsOf(n, "1") + `]}}`
		}},
		{3, "dataframe_records", func(n int) string { return `{"dataframe_records": [` + rowsOf(n, record) + `]}` }},
	}
	for _, tt := range tests {
		for _, rows := range []int{1, 16} {
			s, ctx := inMemory(t, tt.version, champion)
			body := tt.body(rows)
			step := func() {
				setRequest(ctx, "/invocations", "application/json", body)
				ctx.Response.Reset()
				s.Handler(ctx)
				if ctx.Response.StatusCode() != 200 {
					t.Fatalf("v%d %s: status %d %s", tt.version, tt.format, ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
			step()
			if n := testing.AllocsPerRun(100, step); n != 0 {
				t.Errorf("v%d %s, %d rows: %v allocations per request; want 0", tt.version, tt.format, rows, n)
			}
		}
	}
}

// TestHandlerAllocationsWithMetrics repeats the zero-allocation check with
// metrics recorded through the OTel SDK and its Prometheus exporter (tracing
// off, as by default).
func TestHandlerAllocationsWithMetrics(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	tel, err := telemetry.New(context.Background(), telemetry.Config{Getenv: func(string) string { return "" }})
	if err != nil {
		t.Fatal(err)
	}
	defer tel.Shutdown(context.Background())
	ins, err := telemetry.NewInstruments(tel.MeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	s, ctx := inMemoryWith(t, Config{Instruments: ins, MetricsHandler: tel.MetricsHandler()}, 1, champion)
	body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`
	step := func() {
		setRequest(ctx, "/invocations", "application/json", body)
		ctx.Response.Reset()
		s.Handler(ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	step()
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Errorf("%v allocations per request with metrics; want 0", n)
	}
}

// TestHandlerAllocationsWithScoringTokens repeats the zero-allocation check
// with scoring tokens required: checking the bearer token allocates
// nothing.
func TestHandlerAllocationsWithScoringTokens(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	const token = "scoring-0123456789abcdef"
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("other-0123456789abcdef\n"+token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, ctx := inMemoryWith(t, Config{AuthTokensFile: file, FileCheckInterval: -1}, 1, champion)
	step := func() {
		setRequest(ctx, "/invocations", "application/json", benchRow)
		ctx.Request.Header.Set("Authorization", "Bearer "+token)
		ctx.Response.Reset()
		s.Handler(ctx)
		if ctx.Response.StatusCode() != 200 {
			t.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
		}
	}
	step()
	if n := testing.AllocsPerRun(200, step); n != 0 {
		t.Errorf("%v allocations per request with a scoring token; want 0", n)
	}
}

// TestHandlerAllocationsWithFullProvenance repeats the zero-allocation
// check for a version with a data version, exposed run tags and a serving
// status, on a route with missing_values: nan and json_non_finite: python
// answering NaN: every header is rendered when the Snapshot is compiled.
func TestHandlerAllocationsWithFullProvenance(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	for _, nf := range []signature.NonFinite{signature.NonFiniteNull, signature.NonFinitePython} {
		s, err := New(Config{ProvenanceTags: []string{"team", "dataset_version"}})
		if err != nil {
			t.Fatal(err)
		}
		m := loadModel(t, testutil.RecordedModel(t, "churn-gbm", 1))
		p := v1Provenance
		p.DataVersion = "5d41ab9c7e3f2a1b0c9d8e7f6a5b4c3d"
		p.Tags = map[string]string{"team": "retention", "dataset_version": "2026-11"}
		publish(t, s, []RouteSpec{{Name: "churn", Targets: []TargetSpec{{URI: champion, Alias: "champion"}},
			MissingValues: signature.MissingNaN, NonFinite: nf}},
			map[string]Deployment{champion: {Model: m, Provenance: p, Standing: Standing{Status: "loading", RegistryVersion: "2"}}})
		var req fasthttp.Request
		ctx := &fasthttp.RequestCtx{}
		ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1}, nil)
		body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, NaN, 1]]}}`
		step := func() {
			setRequest(ctx, "/invocations", "application/json", body)
			ctx.Response.Reset()
			s.Handler(ctx)
			if ctx.Response.StatusCode() != 200 || len(ctx.Response.Header.Peek("X-Mlflow-Tag-Dataset-Version")) == 0 ||
				len(ctx.Response.Header.Peek(HeaderServingStatus)) == 0 {
				t.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
		step()
		if n := testing.AllocsPerRun(200, step); n != 0 {
			t.Errorf("json_non_finite %s: %v allocations per request with full provenance; want 0", nf, n)
		}
		s.Close()
	}
}
