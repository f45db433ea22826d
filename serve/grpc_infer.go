package serve

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/mlgate/mlgate/serve/oip"
	"github.com/mlgate/mlgate/signature"
	"github.com/mlgate/mlgate/telemetry"
)

// grpcScratch is pooled per-request memory of ModelInfer: the request's
// tensors as the decoder reads them, the sticky key, the outputs chosen
// and what the request asks of the response.
type grpcScratch struct {
	tensors []signature.Tensor
	key     []byte
	sel     []int
	req     signature.InferRequest
}

var grpcPool = sync.Pool{New: func() any { return new(grpcScratch) }}

func (sc *grpcScratch) put() {
	clear(sc.tensors)
	sc.tensors = sc.tensors[:0]
	clear(sc.req.Outputs)
	sc.req = signature.InferRequest{Outputs: sc.req.Outputs[:0]}
	if cap(sc.key) <= maxPooledResponse {
		grpcPool.Put(sc)
	}
}

// ModelInfer serves one inference request as infer serves it over REST:
// the route named by model_name, the target serving model_version (or the
// route's policy without one: x-model-alias and sticky metadata, sticky
// columns, weights, shadow), admission, the shared scoring path, and the
// outputs as typed contents, or as raw_output_contents when the request
// sent raw_input_contents or asks for binary data. The response metadata
// carries x-route and the provenance headers.
func (g *grpcService) ModelInfer(ctx context.Context, req *oip.ModelInferRequest) (*oip.ModelInferResponse, error) {
	s := g.s
	snap := s.acquire()
	if snap != nil {
		defer snap.release()
	}
	start := time.Now()
	r, err := snap.routeNamed([]byte(req.ModelName))
	if err != nil {
		s.refusedRPC(ctx, s.unknownRec, err, start)
		return nil, grpcError(err, "")
	}
	dc := startDeadline(start, s.cfg.RequestTimeout)
	defer dc.stop()
	if reason, err := s.enter(r); err != nil {
		_ = grpc.SetHeader(ctx, r.grpcHeader)
		s.rejected(ctx, r, reason)
		s.refusedRPC(ctx, r.routeRec, err, start)
		return nil, grpcError(err, "")
	}
	defer s.leave()
	rs := s.startRPCSpan(ctx, r)
	if rs.ctx != nil {
		dc.values = rs.ctx
	}
	var (
		tg    *target
		infer time.Duration
	)
	resp, err := s.modelInfer(ctx, dc, snap, r, req, rs, &tg, &infer)
	if tg != nil && tg.grpcHeader != nil {
		_ = grpc.SetHeader(ctx, tg.grpcHeader)
	} else {
		_ = grpc.SetHeader(ctx, r.grpcHeader)
	}
	httpStatus := fasthttp.StatusOK
	if err != nil {
		httpStatus, _, _ = classify(err, "")
		var tag string
		if tg != nil && tg.d != nil {
			tag = tg.d.errorTag
		}
		err = grpcError(err, tag)
	}
	rec := r.routeRec
	if tg != nil {
		rec = tg.rec
	}
	if rec != nil {
		rec.DoneVia(ctx, telemetry.ProtocolV2GRPC, httpStatus, "POST", dc.elapsed(), infer)
	}
	rs.endRPC(httpStatus)
	return resp, err
}

// modelInfer does the work of ModelInfer within the request's deadline
// dc; errors are returned unclassified.
func (s *Server) modelInfer(ctx context.Context, dc *deadlineCtx, snap *Snapshot, r *route, req *oip.ModelInferRequest, rs requestSpan, tgp **target, inferTime *time.Duration) (*oip.ModelInferResponse, error) {
	sc := grpcPool.Get().(*grpcScratch)
	defer sc.put()
	raw, err := sc.readRequest(req)
	if err != nil {
		return nil, err
	}
	in := input{format: signature.FormatInfer, tensors: sc.tensors}
	var tg *target
	if req.ModelVersion != "" {
		tg, err = r.serving([]byte(req.ModelVersion))
	} else {
		tg, err = r.choose(r.grpcOverride(ctx), r.grpcStickyKey(ctx, &in, &sc.key))
	}
	if err != nil {
		return nil, err
	}
	*tgp = tg
	d := tg.d
	if d == nil {
		return nil, errNotLoaded(r, tg)
	}
	rs.model(d)

	sampled := req.ModelVersion == "" && r.shadow != nil && rand.Float64() < r.shadow.sample
	var measured time.Duration
	if sampled {
		measured = dc.elapsed() // the primary's latency from here is compared with the shadow's
	}
	plan := d.model.Plan()
	for k, p := range req.Parameters {
		if k == paramBinaryDataOutput {
			continue
		}
		if v := parameterValue(p); v != nil {
			if err := plan.CheckInferParameter(k, v); err != nil {
				return nil, err
			}
		}
	}
	var held scored
	defer s.done(&held)
	err = s.run(ctx, dc, r, d, &in, rs, &held)
	*inferTime = held.inferTime
	if err != nil {
		return nil, err
	}
	outs := held.pred.Outputs()
	if sc.sel, err = sc.req.SelectOutputs(sc.sel[:0], outs); err != nil {
		return nil, err
	}
	resp := &oip.ModelInferResponse{ModelName: r.name, ModelVersion: d.prov.Version, Id: req.Id,
		Outputs: make([]*oip.ModelInferResponse_InferOutputTensor, len(sc.sel))}
	if raw {
		resp.RawOutputContents = make([][]byte, len(sc.sel))
	}
	for k, i := range sc.sel {
		o := &outs[i]
		ot := &oip.ModelInferResponse_InferOutputTensor{Name: o.Name, Datatype: o.Datatype().String(), Shape: outputShape(o)}
		if raw {
			resp.RawOutputContents[k] = signature.AppendBinary(nil, o)
		} else {
			ot.Contents = contentsOf(o)
		}
		resp.Outputs[k] = ot
	}
	if sampled {
		r.shadow.stats.sampled.Add(1)
		primary, err := r.enc.AppendPredictions(nil, held.batch.Records, outs)
		if err != nil {
			r.shadow.stats.fail(d.errorTag + ": " + err.Error())
			return resp, nil
		}
		s.offerShadow(&shadowJob{
			snap: snap, route: r, latency: dc.elapsed() - measured, primary: primary,
			in: input{format: signature.FormatInfer, tensors: append([]signature.Tensor(nil), sc.tensors...)},
		})
	}
	return resp, nil
}

// The protocol's parameters mlgate reads.
const (
	paramBinaryDataOutput = "binary_data_output"
	paramBinaryData       = "binary_data"
)

// readRequest reads req's inputs into sc.tensors (slices of req's memory,
// which the decoder copies) and what it asks of the response into sc.req;
// it reports whether the outputs go as raw_output_contents: when the
// inputs came as raw_input_contents, or binary data is asked for.
func (sc *grpcScratch) readRequest(req *oip.ModelInferRequest) (bool, error) {
	raw := req.RawInputContents
	if len(raw) > 0 && len(raw) != len(req.Inputs) {
		return false, errorf(fasthttp.StatusBadRequest, codeBadRequest,
			"raw_input_contents has %d entries, but the request has %d inputs; send one per input, in the order of inputs", len(raw), len(req.Inputs))
	}
	for i, in := range req.Inputs {
		if in == nil {
			return false, errorf(fasthttp.StatusBadRequest, codeBadRequest, "inputs[%d] is empty", i)
		}
		t := signature.Tensor{Name: in.Name, DatatypeName: in.Datatype, Shape: in.Shape}
		t.Datatype, _ = signature.ParseDatatype(in.Datatype)
		if len(raw) > 0 {
			if in.Contents != nil && hasContents(in.Contents) {
				return false, errorf(fasthttp.StatusBadRequest, codeBadRequest,
					"input %q has contents, but the request sends raw_input_contents; send every input one way", in.Name)
			}
			t.HasRaw, t.Raw = true, raw[i]
		} else if c := in.Contents; c != nil {
			t.Bool, t.Int, t.Int64, t.Uint, t.Uint64 = c.BoolContents, c.IntContents, c.Int64Contents, c.UintContents, c.Uint64Contents
			t.FP32, t.FP64, t.Bytes = c.Fp32Contents, c.Fp64Contents, c.BytesContents
		}
		sc.tensors = append(sc.tensors, t)
	}
	binary := len(raw) > 0
	if p := req.Parameters[paramBinaryDataOutput]; p != nil && p.GetBoolParam() {
		binary = true
	}
	for _, o := range req.Outputs {
		if o == nil {
			continue
		}
		ro := signature.RequestedOutput{Name: o.Name}
		if p := o.Parameters[paramBinaryData]; p != nil {
			ro.Binary, ro.BinarySet = p.GetBoolParam(), true
			binary = binary || ro.Binary
		}
		sc.req.Outputs = append(sc.req.Outputs, ro)
	}
	sc.req.ID = req.Id
	return binary, nil
}

func hasContents(c *oip.InferTensorContents) bool {
	return len(c.BoolContents)+len(c.IntContents)+len(c.Int64Contents)+len(c.UintContents)+len(c.Uint64Contents)+
		len(c.Fp32Contents)+len(c.Fp64Contents)+len(c.BytesContents) > 0
}

// parameterValue returns the value an InferParameter carries, nil when
// none.
func parameterValue(p *oip.InferParameter) any {
	switch v := p.GetParameterChoice().(type) {
	case *oip.InferParameter_BoolParam:
		return v.BoolParam
	case *oip.InferParameter_Int64Param:
		return v.Int64Param
	case *oip.InferParameter_StringParam:
		return v.StringParam
	case *oip.InferParameter_DoubleParam:
		return v.DoubleParam
	case *oip.InferParameter_Uint64Param:
		return v.Uint64Param
	}
	return nil
}

// grpcOverride returns the x-model-alias metadata, unless the route
// ignores it.
func (r *route) grpcOverride(ctx context.Context) []byte {
	if r.noOverride {
		return nil
	}
	if v := metadata.ValueFromIncomingContext(ctx, overrideMetadata); len(v) > 0 {
		return []byte(v[0])
	}
	return nil
}

var overrideMetadata = strings.ToLower(OverrideHeader)

// grpcStickyKey returns the route's sticky key: its header as metadata
// (lower-cased), or its column's first value among the tensors.
func (r *route) grpcStickyKey(ctx context.Context, in *input, key *[]byte) []byte {
	switch {
	case len(r.stickyHeader) > 0:
		if v := metadata.ValueFromIncomingContext(ctx, strings.ToLower(string(r.stickyHeader))); len(v) > 0 {
			return []byte(v[0])
		}
	case r.stickyColumn != "":
		if k, ok := in.stickyKey((*key)[:0], r.stickyColumn); ok {
			*key = k
			return k
		}
	}
	return nil
}

// outputShape returns a copy of o's shape as the protocol reports it (one
// element per row for a sequence of maps): the response is marshalled
// after the prediction has been released.
func outputShape(o *signature.Output) []int64 {
	if o.Seq != nil {
		return []int64{int64(len(o.Seq))}
	}
	return append([]int64(nil), o.Shape...)
}

// contentsOf copies o's values into typed contents, which outlive the
// prediction.
func contentsOf(o *signature.Output) *oip.InferTensorContents {
	c := &oip.InferTensorContents{}
	if o.Seq != nil {
		c.BytesContents = make([][]byte, len(o.Seq))
		for i := range o.Seq {
			c.BytesContents[i] = signature.AppendMapJSON(nil, &o.Seq[i])
		}
		return c
	}
	switch o.DType {
	case signature.Float32:
		c.Fp32Contents = append([]float32(nil), o.F32...)
	case signature.Float64:
		c.Fp64Contents = append([]float64(nil), o.F64...)
	case signature.Int32:
		c.IntContents = append([]int32(nil), o.I32...)
	case signature.Int64:
		c.Int64Contents = append([]int64(nil), o.I64...)
	case signature.Bool:
		c.BoolContents = append([]bool(nil), o.B...)
	case signature.String:
		c.BytesContents = make([][]byte, len(o.S))
		for i, s := range o.S {
			c.BytesContents[i] = []byte(s)
		}
	}
	return c
}

// metadataCarrier adapts incoming and outgoing gRPC metadata to OTel's
// propagation.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(k string) string {
	if v := metadata.MD(c).Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c metadataCarrier) Set(k, v string) { metadata.MD(c).Set(k, v) }
func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// startRPCSpan starts ModelInfer's server span, a child of the caller's
// trace context (W3C traceparent metadata), and sends traceparent back as
// response metadata. Its children are validate and infer, as REST's.
func (s *Server) startRPCSpan(ctx context.Context, r *route) requestSpan {
	if s.cfg.Tracer == nil {
		return requestSpan{}
	}
	prop := s.propagator()
	md, _ := metadata.FromIncomingContext(ctx)
	parent := prop.Extract(context.Background(), metadataCarrier(md))
	c, span := s.cfg.Tracer.Start(parent, inferenceService+"/ModelInfer",
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("rpc.system", "grpc"),
			attribute.String("rpc.service", inferenceService),
			attribute.String("rpc.method", "ModelInfer"),
			attribute.String("route", r.name)))
	out := metadata.MD{}
	prop.Inject(c, metadataCarrier(out))
	_ = grpc.SetHeader(ctx, out)
	return requestSpan{ctx: c, span: span}
}

// endRPC ends a ModelInfer span with the gRPC code standing for
// httpStatus.
func (rs requestSpan) endRPC(httpStatus int) {
	if rs.span == nil {
		return
	}
	code := grpcCode(httpStatus)
	rs.span.SetAttributes(attribute.Int("rpc.grpc.status_code", int(code)))
	if httpStatus >= 500 {
		rs.span.SetStatus(codes.Error, code.String())
	}
	rs.span.End()
}

// refusedRPC records a gRPC inference call answered with err before a
// target was chosen on rec, the route's recorder or the unknown route's.
func (s *Server) refusedRPC(ctx context.Context, rec *telemetry.RequestRecorder, err error, start time.Time) {
	if rec == nil {
		return
	}
	status, _, _ := classify(err, "")
	rec.DoneVia(ctx, telemetry.ProtocolV2GRPC, status, "POST", time.Since(start), 0)
}
