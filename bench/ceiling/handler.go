package main

import (
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/bench/fixture"
)

// maxBodyBytes matches mlgate's default request body limit.
const maxBodyBytes = 16 << 20

// header is a response header prepared as bytes once, as mlgate prepares
// its provenance headers when a model is published.
type header struct{ key, value []byte }

var (
	provenance     = prepareHeaders(fixture.Headers())
	predictionBody = []byte(fixture.FirstRowResponse)
	healthBody     = []byte("\n")
)

func prepareHeaders(hs []fixture.Header) []header {
	out := make([]header, len(hs))
	for i, h := range hs {
		out[i] = header{[]byte(h.Name), []byte(h.Value)}
	}
	return out
}

// newServer returns the ceiling's fasthttp server, configured like mlgate's
// (body limit, timeouts, no default Content-Type).
func newServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:              handle,
		Name:                 "mlgate-ceiling",
		MaxRequestBodySize:   maxBodyBytes,
		ReadTimeout:          30 * time.Second,
		WriteTimeout:         30 * time.Second,
		IdleTimeout:          120 * time.Second,
		CloseOnShutdown:      true,
		NoDefaultContentType: true,
	}
}

// handle answers every POST /invocations with the same prediction.
func handle(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case "/invocations":
		if !ctx.IsPost() {
			ctx.Response.Header.Set("Allow", fasthttp.MethodPost)
			ctx.Error("POST /invocations only", fasthttp.StatusMethodNotAllowed)
			return
		}
		for _, h := range provenance {
			ctx.Response.Header.SetBytesKV(h.key, h.value)
		}
		ctx.SetContentType("application/json")
		ctx.SetBody(predictionBody)
	case "/ping", "/health":
		ctx.SetContentType("application/json")
		ctx.SetBody(healthBody)
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}
