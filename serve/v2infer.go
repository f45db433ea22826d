package serve

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/signature"
	"github.com/mlgate/mlgate/telemetry"
)

// scoreInfer serves POST /v2/models/<model>[/versions/<version>]/infer on
// the live Snapshot, which it holds until the response is ready.
func (s *Server) scoreInfer(ctx *fasthttp.RequestCtx, model, version []byte) {
	snap := s.acquire()
	r, err := snap.routeNamed(model)
	if err != nil && len(s.rules) > 0 { // no configured route has that name
		if snap != nil {
			snap.release()
		}
		mp := modelPath{name: model}
		if versionNumber.Match(version) {
			mp.version = version
		} else if version != nil {
			mp.alias = version
		}
		s.scoreRegistry(ctx, mp, true)
		return
	}
	if err != nil {
		writeInferError(ctx, err, "")
		s.refusedVia(ctx, s.unknownRec, telemetry.ProtocolV2REST)
		if snap != nil {
			snap.release()
		}
		return
	}
	s.infer(ctx, snap, r, version, requestStart(ctx))
	snap.release()
}

// infer serves one Open Inference Protocol inference request on route r
// of snap as invocations serves MLflow's: admission, the target (the one
// serving version, or the route's policy without one), provenance, the
// shared path, and the protocol's response, JSON or binary. It allocates
// nothing once pools are warm and tracing is off.
func (s *Server) infer(ctx *fasthttp.RequestCtx, snap *Snapshot, r *route, version []byte, start time.Time) {
	ctx.Response.Header.SetCanonical(hdrRoute, r.nameHdr)
	if !ctx.IsPost() {
		writeInferError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest,
			"%s %s: use POST", ctx.Method(), ctx.Path()), "")
		s.refusedVia(ctx, r.routeRec, telemetry.ProtocolV2REST)
		return
	}
	dc := startDeadline(start, s.cfg.RequestTimeout)
	defer dc.stop()
	if reason, err := s.enter(r); err != nil {
		writeInferError(ctx, err, "")
		s.rejected(ctx, r, reason)
		s.refusedVia(ctx, r.routeRec, telemetry.ProtocolV2REST)
		return
	}
	defer s.leave()
	rs := s.startRequestSpan(ctx, r, spanInfer)
	if rs.ctx != nil {
		dc.values = rs.ctx
	}
	var (
		tg    *target
		infer time.Duration
	)
	s.serveInfer(ctx, dc, snap, r, version, rs, &tg, &infer)
	status := ctx.Response.StatusCode()
	rec := r.routeRec
	if tg != nil {
		rec = tg.rec
	}
	if rec != nil {
		rec.DoneVia(ctx, telemetry.ProtocolV2REST, status, "POST", dc.elapsed(), infer)
	}
	rs.end(status)
}

// serveInfer does the work of infer within the request's deadline dc.
func (s *Server) serveInfer(ctx *fasthttp.RequestCtx, dc *deadlineCtx, snap *Snapshot, r *route, version []byte, rs requestSpan, tgp **target, inferTime *time.Duration) {
	buf := responsePool.Get().(*responseBuf)
	defer buf.put()
	in := input{format: signature.FormatInfer, body: ctx.PostBody(), header: -1}
	if h := ctx.Request.Header.PeekBytes(hdrInferHeaderLength); len(h) > 0 {
		n, ok := parseLength(h)
		if !ok {
			writeInferError(ctx, errorf(fasthttp.StatusBadRequest, codeBadRequest,
				"%s %q is not a length in bytes", HeaderInferHeaderLength, h), "")
			return
		}
		in.header = n
	}
	var (
		tg  *target
		err error
	)
	if version != nil {
		tg, err = r.serving(version)
	} else {
		tg, err = r.pick(ctx, &in, &buf.key)
	}
	if err != nil {
		writeInferError(ctx, err, "")
		return
	}
	*tgp = tg
	d := tg.d
	if d == nil {
		stampUnserved(&ctx.Response.Header, tg)
		writeInferError(ctx, errNotLoaded(r, tg), "")
		return
	}
	rs.model(d)
	stampProvenance(&ctx.Response.Header, d)

	sampled := version == nil && r.shadow != nil && rand.Float64() < r.shadow.sample
	var measured time.Duration
	if sampled {
		measured = dc.elapsed() // the primary's latency from here is compared with the shadow's
	}
	var sc scored
	defer s.done(&sc)
	err = s.run(ctx, dc, r, d, &in, rs, &sc)
	*inferTime = sc.inferTime
	if err != nil {
		writeInferError(ctx, err, d.errorTag)
		return
	}
	req := sc.batch.InferRequest()
	outs := sc.pred.Outputs()
	sel, err := req.SelectOutputs(buf.sel[:0], outs)
	buf.sel = sel[:0]
	if err != nil {
		writeInferError(ctx, err, d.errorTag)
		return
	}
	resp := signature.InferResponse{ModelName: r.name, ModelVersion: d.prov.Version, Request: req}
	js, tail, err := signature.AppendInferResponse(buf.b[:0], buf.tail[:0], &resp, outs, sel)
	if err != nil {
		writeInferError(ctx, fmt.Errorf("encode outputs: %w", err), d.errorTag)
		return
	}
	buf.b, buf.tail = js[:0], tail[:0]
	if len(tail) > 0 {
		ctx.Response.Header.SetContentTypeBytes(contentTypeOctetStream)
		buf.key = strconv.AppendInt(buf.key[:0], int64(len(js)), 10)
		ctx.Response.Header.SetCanonical(hdrInferHeaderLength, buf.key)
		ctx.Response.SetBody(js)
		ctx.Response.AppendBody(tail)
	} else {
		ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
		ctx.Response.SetBody(js)
	}
	if sampled {
		r.shadow.stats.sampled.Add(1)
		primary, err := r.enc.AppendPredictions(nil, sc.batch.Records, outs)
		if err != nil {
			r.shadow.stats.fail(d.errorTag + ": " + err.Error())
			return
		}
		s.offerShadow(&shadowJob{
			snap: snap, route: r, latency: dc.elapsed() - measured, primary: primary,
			in: input{format: signature.FormatInfer, body: bytes.Clone(ctx.PostBody()), header: in.header},
		})
	}
}

// parseLength parses a decimal length of at most 2^31-1 without
// allocating.
func parseLength(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, n < 1<<31
}
