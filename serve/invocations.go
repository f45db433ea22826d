package serve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/signature"
)

var (
	contentTypeJSON = []byte("application/json")
	hdrRoute        = []byte(HeaderRoute)
	mediaJSON       = []byte("application/json")
	mediaCSV        = []byte("text/csv")
)

// responseBuf is pooled scratch for one request: the response body, and the
// sticky key when a route takes it from a column.
type responseBuf struct{ b, key []byte }

// maxPooledResponse caps the response scratch kept in the pool.
const maxPooledResponse = 1 << 20

var responsePool = sync.Pool{New: func() any { return &responseBuf{b: make([]byte, 0, 4096)} }}

// invocations serves one scoring request on route r of snap (held by the
// caller), within a deadline that starts now, the request having been
// read: admit it, choose the target, stamp provenance, check the media
// type, measure the body within the route's limits and admit the memory it
// will hold, decode and validate against the model's signature, run,
// encode, and record metrics (and a span when tracing is on). It allocates
// nothing once pools are warm and tracing is off.
func (s *Server) invocations(ctx *fasthttp.RequestCtx, snap *Snapshot, r *route) {
	ctx.Response.Header.SetCanonical(hdrRoute, r.nameHdr)
	if !ctx.IsPost() {
		writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest,
			"%s %s: use POST", ctx.Method(), ctx.Path()), "")
		return
	}
	dc := startDeadline(requestStart(ctx), s.cfg.RequestTimeout)
	defer dc.stop()
	if reason, ok := s.enter(ctx, r); !ok {
		s.rejected(ctx, r, reason)
		return
	}
	defer s.leave()
	rs := s.startRequestSpan(ctx, r)
	if rs.ctx != nil {
		dc.values = rs.ctx
	}
	var (
		tg    *target
		infer time.Duration
	)
	s.serveInvocation(ctx, dc, snap, r, rs, &tg, &infer)
	status := ctx.Response.StatusCode()
	if tg != nil && tg.rec != nil {
		tg.rec.Done(ctx, status, "POST", dc.elapsed(), infer)
	}
	rs.end(status)
}

// serveInvocation does the work of invocations within the request's
// deadline dc; the target it chose, once a model serves it, and the time
// spent in the model are handed back for metrics.
func (s *Server) serveInvocation(ctx *fasthttp.RequestCtx, dc *deadlineCtx, snap *Snapshot, r *route, rs requestSpan, tgp **target, inferTime *time.Duration) {
	format, msg := mediaFormat(ctx.Request.Header.ContentType())
	buf := responsePool.Get().(*responseBuf)
	defer func() {
		if cap(buf.b) <= maxPooledResponse && cap(buf.key) <= maxPooledResponse {
			responsePool.Put(buf)
		}
	}()
	tg, err := r.pick(ctx, format, &buf.key)
	if err != nil {
		writeError(ctx, err, "")
		return
	}
	d := tg.d
	if d == nil {
		writeError(ctx, errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
			"route %s: model %s is not loaded yet", r.name, tg.uri), "")
		return
	}
	*tgp = tg
	rs.model(d)
	h := &ctx.Response.Header
	for i := range d.headers {
		h.SetCanonical(d.headers[i].key, d.headers[i].value)
	}
	if format == 0 {
		ctx.SetStatusCode(fasthttp.StatusUnsupportedMediaType)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBodyString(msg)
		return
	}

	var measured time.Duration
	if r.shadow != nil {
		measured = dc.elapsed() // the primary's latency from here is compared with the shadow's
	}
	plan := d.model.Plan()
	sp := rs.child("validate")
	cost, err := plan.Measure(format, ctx.PostBody(), r.limits)
	if err != nil {
		endChild(sp, err)
		s.decodeError(ctx, err, d.errorTag)
		return
	}
	res, ok := s.admitBytes(ctx, r, cost.Memory())
	if !ok {
		endChild(sp, nil)
		return
	}
	defer s.releaseBytes(res)
	b := plan.GetBatch()
	defer plan.PutBatch(b)
	err = plan.DecodeMeasured(dc, ctx.PostBody(), cost, b)
	endChild(sp, err)
	if err != nil {
		s.decodeError(ctx, err, d.errorTag)
		return
	}

	sp = rs.child("infer")
	inferStart := dc.elapsed()
	out, err := predict(dc, d.model, b, buf.b[:0])
	*inferTime = dc.elapsed() - inferStart
	endChild(sp, err)
	if err != nil {
		status, _, _ := classify(err, d.errorTag)
		s.logRequestError(rs.logContext(ctx), status, r.name, d.errorTag, err)
		writeError(ctx, err, d.errorTag)
		return
	}
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.Response.SetBody(out)
	buf.b = out[:0]
	if sh := r.shadow; sh != nil && rand.Float64() < sh.sample {
		sh.stats.sampled.Add(1)
		s.offerShadow(&shadowJob{
			snap: snap, route: r, format: format, latency: dc.elapsed() - measured,
			body: bytes.Clone(ctx.PostBody()), primary: bytes.Clone(out),
		})
	}
}

// requestStart returns when fasthttp finished reading the request and
// called the handler (a clock reading it takes anyway), or now for a
// context that fasthttp's server did not fill in.
func requestStart(ctx *fasthttp.RequestCtx) time.Time {
	if t := ctx.Time(); !t.IsZero() {
		return t
	}
	return time.Now()
}

// predict runs b through m and appends MLflow's scoring response,
// {"predictions": ...}, to dst.
func predict(ctx context.Context, m Model, b *signature.Batch, dst []byte) ([]byte, error) {
	p, err := m.Predict(ctx, b)
	if err != nil {
		return dst, err
	}
	out, err := signature.AppendPredictions(dst, b.Records, p.Outputs())
	p.Release()
	if err != nil {
		return dst, fmt.Errorf("encode predictions: %w", err)
	}
	return out, nil
}

// decodeError answers a request that could not be measured or decoded,
// counting those refused for a limit.
func (s *Server) decodeError(ctx *fasthttp.RequestCtx, err error, tag string) {
	var se *signature.Error
	if errors.As(err, &se) && se.Limit != "" {
		s.refusedForLimit()
	}
	writeError(ctx, err, tag)
}

// mediaFormat maps a Content-Type to a request format the way MLflow's
// scoring server does: application/json or text/csv, with at most a UTF-8
// charset parameter. For anything else it returns 0 and the scoring
// server's 415 message.
func mediaFormat(ct []byte) (signature.Format, string) {
	if string(ct) == "application/json" {
		return signature.FormatJSON, ""
	}
	media, params, _ := bytes.Cut(ct, []byte{';'})
	media = bytes.TrimSpace(media)
	var f signature.Format
	switch {
	case bytes.EqualFold(media, mediaJSON):
		f = signature.FormatJSON
	case bytes.EqualFold(media, mediaCSV):
		f = signature.FormatCSV
	default:
		return 0, "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got '" +
			string(ct) + "'."
	}
	for len(params) > 0 {
		var p []byte
		p, params, _ = bytes.Cut(params, []byte{';'})
		k, v, _ := bytes.Cut(bytes.TrimSpace(p), []byte{'='})
		if len(k) == 0 {
			continue
		}
		if !bytes.EqualFold(bytes.TrimSpace(k), []byte("charset")) {
			return 0, "Unrecognized content type parameters: " + string(bytes.TrimSpace(k)) +
				". IMPORTANT: The MLflow Model scoring protocol has changed in MLflow version 2.0. " +
				"Send application/json or text/csv without a format parameter; see " +
				"https://mlflow.org/docs/latest/models.html#deploy-mlflow-models."
		}
		v = bytes.Trim(bytes.TrimSpace(v), `"`)
		if !bytes.EqualFold(v, []byte("utf-8")) && !bytes.EqualFold(v, []byte("utf8")) {
			return 0, "The scoring server only supports UTF-8"
		}
	}
	return f, ""
}
