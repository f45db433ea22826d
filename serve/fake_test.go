package serve

import (
	"context"
	"os"
	"sync/atomic"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

// fakeModel is a pure-Go Model: it decodes requests with churn-gbm v1's
// signature and answers every row with probability value, or fails with
// err. It counts its references like *infer.Model, so that tests can see
// when serve lets go of it.
type fakeModel struct {
	plan  *signature.Plan
	value float32
	err   error
	refs  atomic.Int64
	// entered, when set, receives a value when Predict starts, and Predict
	// then waits for gate.
	entered chan struct{}
	gate    chan struct{}
}

// newFakeModel returns a fake holding one reference, owned by the test.
func newFakeModel(t testing.TB, value float32) *fakeModel {
	t.Helper()
	raw, err := os.ReadFile(testutil.RecordedModel(t, "churn-gbm", 1) + "/MLmodel")
	if err != nil {
		t.Fatal(err)
	}
	ml, err := signature.ParseMLmodel(raw)
	if err != nil {
		t.Fatal(err)
	}
	graph := []signature.GraphTensor{
		{Name: "tenure", DType: signature.Int64, Shape: []int64{-1, 1}},
		{Name: "monthly_charges", DType: signature.Float64, Shape: []int64{-1, 1}},
		{Name: "total_charges", DType: signature.Float64, Shape: []int64{-1, 1}},
		{Name: "contract_months", DType: signature.Int64, Shape: []int64{-1, 1}},
	}
	plan, err := signature.Compile(ml.Signature, graph)
	if err != nil {
		t.Fatal(err)
	}
	m := &fakeModel{plan: plan, value: value}
	m.refs.Store(1)
	return m
}

func (m *fakeModel) Acquire() bool {
	for {
		n := m.refs.Load()
		if n <= 0 {
			return false
		}
		if m.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (m *fakeModel) Release() {
	if m.refs.Add(-1) < 0 {
		panic("fakeModel released more often than acquired")
	}
}

// live reports whether anyone still holds a reference.
func (m *fakeModel) live() bool { return m.refs.Load() > 0 }

func (m *fakeModel) Plan() *signature.Plan { return m.plan }

func (m *fakeModel) Predict(_ context.Context, b *signature.Batch) (signature.Prediction, error) {
	if m.entered != nil {
		m.entered <- struct{}{}
		<-m.gate
	}
	if m.err != nil {
		return nil, m.err
	}
	vals := make([]float32, b.Rows)
	for i := range vals {
		vals[i] = m.value
	}
	return &fakePrediction{outs: []signature.Output{{
		Name: "probability", DType: signature.Float32, Shape: []int64{int64(b.Rows)}, F32: vals,
	}}}, nil
}

func (m *fakeModel) Describe() any { return map[string]string{"kind": "fake"} }

type fakePrediction struct{ outs []signature.Output }

func (p *fakePrediction) Outputs() []signature.Output { return p.outs }
func (p *fakePrediction) Release()                    {}

var _ Model = (*fakeModel)(nil)

// overloadedError is how a model says its queue is full, recognised by
// behaviour.
type overloadedError struct{}

func (overloadedError) Error() string    { return "model queue holds 4096 rows (limit 4096): overloaded" }
func (overloadedError) Overloaded() bool { return true }
