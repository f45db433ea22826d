package serve

import (
	"bytes"
	"context"
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

// responseBuf is pooled scratch for one request: the response body, the
// binary data after it (Open Inference Protocol), the sticky key when a
// route takes it from a column, and the outputs selected.
type responseBuf struct {
	b, tail, key []byte
	sel          []int
}

// maxPooledResponse caps the response scratch kept in the pool.
const maxPooledResponse = 1 << 20

var responsePool = sync.Pool{New: func() any { return &responseBuf{b: make([]byte, 0, 4096)} }}

// put returns buf to the pool unless it grew past maxPooledResponse.
func (buf *responseBuf) put() {
	if cap(buf.b) <= maxPooledResponse && cap(buf.tail) <= maxPooledResponse && cap(buf.key) <= maxPooledResponse {
		responsePool.Put(buf)
	}
}

// invocations serves one scoring request on route r of snap (held by the
// caller), within a deadline that starts at start (when the request had
// been read, or when the model it waited for was loaded): admit it, choose the target, stamp provenance, check the media
// type, then the shared path (run: measure within the route's limits,
// admit the memory, decode and validate against the model's signature,
// run), encode, and record metrics (and a span when tracing is on). It
// allocates nothing once pools are warm and tracing is off.
func (s *Server) invocations(ctx *fasthttp.RequestCtx, snap *Snapshot, r *route, start time.Time) {
	ctx.Response.Header.SetCanonical(hdrRoute, r.nameHdr)
	if !ctx.IsPost() {
		writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest,
			"%s %s: use POST", ctx.Method(), ctx.Path()), "")
		s.refused(ctx, r.routeRec)
		return
	}
	dc := startDeadline(start, s.cfg.RequestTimeout)
	defer dc.stop()
	if reason, err := s.enter(r); err != nil {
		writeError(ctx, err, "")
		s.rejected(ctx, r, reason)
		s.refused(ctx, r.routeRec)
		return
	}
	defer s.leave()
	rs := s.startRequestSpan(ctx, r, spanInvocations)
	if rs.ctx != nil {
		dc.values = rs.ctx
	}
	var (
		tg    *target
		infer time.Duration
	)
	s.serveInvocation(ctx, dc, snap, r, rs, &tg, &infer)
	status := ctx.Response.StatusCode()
	rec := r.routeRec
	if tg != nil {
		rec = tg.rec
	}
	if rec != nil {
		rec.Done(ctx, status, "POST", dc.elapsed(), infer)
	}
	rs.end(status)
}

// serveInvocation does the work of invocations within the request's
// deadline dc; the target it chose and the time spent in the model are
// handed back for metrics.
func (s *Server) serveInvocation(ctx *fasthttp.RequestCtx, dc *deadlineCtx, snap *Snapshot, r *route, rs requestSpan, tgp **target, inferTime *time.Duration) {
	format, msg := mediaFormat(ctx.Request.Header.ContentType())
	buf := responsePool.Get().(*responseBuf)
	defer buf.put()
	in := input{format: format, body: ctx.PostBody()}
	tg, err := r.pick(ctx, &in, &buf.key)
	if err != nil {
		writeError(ctx, err, "")
		return
	}
	*tgp = tg
	d := tg.d
	if d == nil {
		stampUnserved(&ctx.Response.Header, tg)
		writeError(ctx, errNotLoaded(r, tg), "")
		return
	}
	rs.model(d)
	stampProvenance(&ctx.Response.Header, d)
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
	var sc scored
	defer s.done(&sc)
	err = s.run(ctx, dc, r, d, &in, rs, &sc)
	*inferTime = sc.inferTime
	if err != nil {
		writeError(ctx, err, d.errorTag)
		return
	}
	out, err := r.enc.AppendPredictions(buf.b[:0], sc.batch.Records, sc.pred.Outputs())
	if err != nil {
		writeError(ctx, fmt.Errorf("encode predictions: %w", err), d.errorTag)
		return
	}
	ctx.Response.Header.SetContentTypeBytes(contentTypeJSON)
	ctx.Response.SetBody(out)
	buf.b = out[:0]
	if sh := r.shadow; sh != nil && rand.Float64() < sh.sample {
		sh.stats.sampled.Add(1)
		s.offerShadow(&shadowJob{
			snap: snap, route: r, in: input{format: format, body: bytes.Clone(ctx.PostBody())},
			latency: dc.elapsed() - measured, primary: bytes.Clone(out),
		})
	}
}

// stampProvenance sets d's provenance headers, prepared when its Snapshot
// was compiled.
func stampProvenance(h *fasthttp.ResponseHeader, d *deployment) {
	for i := range d.headers {
		h.SetCanonical(d.headers[i].key, d.headers[i].value)
	}
}

// errNotLoaded is the answer for a target no version serves: its first is
// loading, or it has none, and its Standing says why.
func errNotLoaded(r *route, tg *target) error {
	if tg.unserved == nil { // a route compiled without deployments
		return newUnserved(r.name, tg.uri, Standing{}).err
	}
	return tg.unserved.err
}

// stampUnserved sets the serving status headers of a target no version
// serves.
func stampUnserved(h *fasthttp.ResponseHeader, tg *target) {
	if tg.unserved == nil {
		return
	}
	for _, x := range tg.unserved.headers {
		h.SetCanonical(x.key, x.value)
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
// {"predictions": ...}, written with enc, to dst.
func predict(ctx context.Context, m Model, b *signature.Batch, enc signature.Encoding, dst []byte) ([]byte, error) {
	p, err := m.Predict(ctx, b)
	if err != nil {
		return dst, err
	}
	out, err := enc.AppendPredictions(dst, b.Records, p.Outputs())
	p.Release()
	if err != nil {
		return dst, fmt.Errorf("encode predictions: %w", err)
	}
	return out, nil
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
