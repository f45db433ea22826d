package fakemlflow

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// params reads request fields the way MLflow's handlers do: from the query
// string for GET, from the JSON body otherwise.
type params struct {
	q    url.Values
	body map[string]any
}

func readParams(r *http.Request) (*params, *apiError) {
	if r.Method == http.MethodGet {
		return &params{q: r.URL.Query()}, nil
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		return nil, invalid("Bad Request. Content-Type must be one of ['application/json'].")
	}
	p := &params{body: map[string]any{}}
	b, _ := io.ReadAll(r.Body) // ServeHTTP already buffered it
	if len(strings.TrimSpace(string(b))) > 0 {
		if err := json.Unmarshal(b, &p.body); err != nil {
			return nil, &apiError{status: http.StatusBadRequest, code: "MALFORMED_REQUEST", msg: "Malformed request body: " + err.Error()}
		}
	}
	return p, nil
}

// str returns a string field ("" when absent).
func (p *params) str(key string) string {
	if p.body == nil {
		return p.q.Get(key)
	}
	switch v := p.body[key].(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	default:
		return ""
	}
}

// list returns a repeated field.
func (p *params) list(key string) []string {
	if p.body == nil {
		return p.q[key]
	}
	arr, _ := p.body[key].([]any)
	var out []string
	for _, e := range arr {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// required returns a field or MLflow's missing-parameter error.
func (p *params) required(key string) (string, *apiError) {
	v := p.str(key)
	if v == "" {
		return "", invalid("Missing value for required parameter '" + key + "'. See the API docs for more information about request parameters.")
	}
	return v, nil
}

// versionNumber parses a version parameter as MLflow's stores do.
func versionNumber(v string) (int, *apiError) {
	n, err := strconv.Atoi(v)
	if err != nil || strings.TrimSpace(v) != v {
		return 0, invalid("Parameter 'version' must be an integer, got '" + v + "'.")
	}
	return n, nil
}

func canonicalStage(s string) (string, bool) {
	for _, st := range stages {
		if strings.EqualFold(s, st) {
			return st, true
		}
	}
	return "", false
}
