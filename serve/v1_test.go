package serve

import (
	"strings"
	"testing"
)

// TestKServeV1: KServe's V1 data plane on the main listener: the model
// list, model readiness, and :predict answering exactly what the route's
// /invocations answers, with its provenance; unknown models and verbs get
// 404 saying so.
func TestKServeV1(t *testing.T) {
	s, ctx := inMemory(t, 1, champion)
	do := func(method, path, body string) (int, string) {
		setRequest(ctx, path, "application/json", body)
		ctx.Request.Header.SetMethod(method)
		ctx.Response.Reset()
		s.Handler(ctx)
		return ctx.Response.StatusCode(), string(ctx.Response.Body())
	}
	if status, body := do("GET", "/v1/models", ""); status != 200 || body != `{"models":["churn"]}` {
		t.Errorf("GET /v1/models: %d %s", status, body)
	}
	if status, body := do("GET", "/v1/models/churn", ""); status != 200 || body != `{"name":"churn","ready":true}` {
		t.Errorf("GET /v1/models/churn: %d %s", status, body)
	}
	instances := `{"instances": [{"tenure": 37, "monthly_charges": 36.0, "total_charges": 1306.52, "contract_months": 1}]}`
	_, want := do("POST", "/routes/churn/invocations", instances)
	status, got := do("POST", "/v1/models/churn:predict", instances)
	if status != 200 || got != want || !strings.HasPrefix(got, `{"predictions": `) {
		t.Errorf(":predict: %d %s; want 200 %s", status, got, want)
	}
	if v := string(ctx.Response.Header.Peek("X-Model-Version")); v != "1" || string(ctx.Response.Header.Peek(HeaderRoute)) != "churn" {
		t.Errorf(":predict headers: version %q route %q", v, ctx.Response.Header.Peek(HeaderRoute))
	}
	for _, c := range []struct {
		method, path string
		status       int
		says         string
	}{
		{"POST", "/v1/models/nope:predict", 404, "does not exist"},
		{"GET", "/v1/models/nope", 404, "does not exist"},
		{"POST", "/v1/models/churn:explain", 404, "no :explain"},
		{"GET", "/v1/models/churn:predict", 405, "use POST"},
		{"POST", "/v1/models/churn", 405, ""},
		{"GET", "/v1/other", 404, "no endpoint"},
	} {
		if status, body := do(c.method, c.path, instances); status != c.status || !strings.Contains(body, c.says) {
			t.Errorf("%s %s: %d %s; want %d saying %q", c.method, c.path, status, body, c.status, c.says)
		}
	}
	// Draining, the model is no longer ready: KServe takes the pod out of
	// rotation, as it does on V2's readiness.
	s.SetDraining()
	if status, body := do("GET", "/v1/models/churn", ""); status != 503 || body != `{"name":"churn","ready":false}` {
		t.Errorf("GET /v1/models/churn while draining: %d %s; want 503 ready false", status, body)
	}
}
