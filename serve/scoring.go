package serve

import (
	"context"
	"errors"
	"time"

	"github.com/mlgate/mlgate/signature"
)

// The scoring path every protocol shares: MLflow's /invocations, the Open
// Inference Protocol over REST and over gRPC. A protocol's handler admits
// the request (enter), chooses the target, then hands its data to run,
// which measures it within the route's limits, admits the memory it will
// hold, decodes it with the model's plan and runs it; the handler encodes
// the outputs in its own wire format and gives everything back with done.
// Errors come back to the handler unwritten: classify decides their status
// whatever the protocol.

// input is a scoring request's data as its protocol carries it: a body in
// one of the signature formats, or (gRPC) the request's tensors.
type input struct {
	format signature.Format
	body   []byte
	// header is, for FormatInfer, the length of the body's JSON object
	// (Inference-Header-Content-Length); -1 means the whole body.
	header int
	// tensors are a gRPC request's inputs; body is then unused.
	tensors []signature.Tensor
}

// measure measures the input for plan p within lim.
func (in *input) measure(p *signature.Plan, lim signature.Limits) (signature.Cost, error) {
	switch {
	case in.tensors != nil:
		return p.MeasureTensors(in.tensors, lim)
	case in.format == signature.FormatInfer:
		return p.MeasureInfer(in.body, in.header, lim)
	}
	return p.Measure(in.format, in.body, lim)
}

// decode decodes the input, measured as c, into b.
func (in *input) decode(ctx context.Context, p *signature.Plan, c signature.Cost, b *signature.Batch) error {
	if in.tensors != nil {
		return p.DecodeTensors(ctx, in.tensors, c, b)
	}
	return p.DecodeMeasured(ctx, in.body, c, b)
}

// stickyKey appends the value of column in the input's first record to
// dst.
func (in *input) stickyKey(dst []byte, column string) ([]byte, bool) {
	switch {
	case in.tensors != nil:
		return signature.StickyKeyTensors(dst, in.tensors, column)
	case in.format == signature.FormatInfer:
		return signature.StickyKeyInfer(dst, in.body, in.header, column)
	}
	return signature.StickyKey(dst, in.format, in.body, column)
}

// scored is what one request holds on the shared path: the batch its
// data was decoded into, the model's prediction, the memory admitted for
// it, and the time spent in the model. Give it back with done.
type scored struct {
	plan      *signature.Plan
	batch     *signature.Batch
	pred      signature.Prediction
	res       reservation
	reserved  bool
	inferTime time.Duration
}

// run measures in within route r's limits, admits the memory it will hold,
// decodes it with the plan of d's model and runs it, within dc; rs records
// the validate and infer spans, base is the context request logs carry.
// On success sc.pred holds the outputs. Whatever it returns, sc must be
// given back with done, after the outputs have been encoded.
func (s *Server) run(base context.Context, dc *deadlineCtx, r *route, d *deployment, in *input, rs requestSpan, sc *scored) error {
	sc.plan = d.model.Plan()
	sp := rs.child("validate")
	cost, err := in.measure(sc.plan, r.limits)
	if err != nil {
		endChild(sp, err)
		s.countLimit(err)
		return err
	}
	if sc.res, err = s.admitBytes(r, cost.Memory()); err != nil {
		endChild(sp, nil)
		return err
	}
	sc.reserved = true
	sc.batch = sc.plan.GetBatch()
	err = in.decode(dc, sc.plan, cost, sc.batch)
	endChild(sp, err)
	if err != nil {
		s.countLimit(err)
		return err
	}
	sp = rs.child("infer")
	inferStart := dc.elapsed()
	sc.pred, err = d.model.Predict(dc, sc.batch)
	sc.inferTime = dc.elapsed() - inferStart
	endChild(sp, err)
	if err != nil {
		status, _, _ := classify(err, d.errorTag)
		s.logRequestError(rs.logContext(base), status, r.name, d.errorTag, err)
		return err
	}
	return nil
}

// done gives back what sc holds: the prediction, the batch and the
// admitted memory.
func (s *Server) done(sc *scored) {
	if sc.pred != nil {
		sc.pred.Release()
		sc.pred = nil
	}
	if sc.batch != nil {
		sc.plan.PutBatch(sc.batch)
		sc.batch = nil
	}
	if sc.reserved {
		s.releaseBytes(sc.res)
		sc.reserved = false
	}
}

// countLimit counts a request refused for one of its route's limits.
func (s *Server) countLimit(err error) {
	var se *signature.Error
	if errors.As(err, &se) && se.Limit != "" {
		s.refusedForLimit()
	}
}
