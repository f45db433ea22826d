package main

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/pprofhandler"

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
	pprofPrefix    = []byte("/debug/pprof/")
)

func prepareHeaders(hs []fixture.Header) []header {
	out := make([]header, len(hs))
	for i, h := range hs {
		out[i] = header{[]byte(h.Name), []byte(h.Value)}
	}
	return out
}

// newServer returns the ceiling's fasthttp server, configured like mlgate's
// (body limit, timeouts, no default Content-Type). With pprof it also
// serves Go's runtime profiles under /debug/pprof/.
func newServer(pprof bool) *fasthttp.Server {
	h := handle
	if pprof {
		h = withPprof(handle)
	}
	return &fasthttp.Server{
		Handler:              h,
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

// withPprof serves paths under /debug/pprof/ with fasthttp's pprof handler
// and everything else with next.
func withPprof(next fasthttp.RequestHandler) fasthttp.RequestHandler {
	return func(ctx *fasthttp.RequestCtx) {
		if bytes.HasPrefix(ctx.Path(), pprofPrefix) {
			pprofhandler.PprofHandler(ctx)
			return
		}
		next(ctx)
	}
}
