package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlgate/mlgate/loadtest"
)

// tensorFixture is what the harness sends a model with a tensor signature
// (mlp256, widemlp) and expects back: the first row of the model's serving
// input example and the reference probability for it, with the fixture's
// tolerances.
type tensorFixture struct {
	// model and route are the registered model and the mlgate route
	// serving it.
	model, route string
	// row holds the row's numbers exactly as the example writes them.
	row        []json.Number
	want       float64
	rtol, atol float64
}

// loadTensorFixture reads serving_input_example.json and expected.json from
// model's directory; its rows must have width numbers.
func loadTensorFixture(dir, model, route string, width int) (tensorFixture, error) {
	f := tensorFixture{model: model, route: route}
	var example struct {
		Inputs [][]json.Number `json:"inputs"`
	}
	if err := readJSON(filepath.Join(dir, "serving_input_example.json"), &example); err != nil {
		return f, err
	}
	if len(example.Inputs) == 0 || len(example.Inputs[0]) != width {
		return f, fmt.Errorf("%s serving example %s: want rows of %d numbers under \"inputs\"", model, dir, width)
	}
	var expected struct {
		RTol    float64 `json:"rtol"`
		ATol    float64 `json:"atol"`
		Outputs struct {
			Probability struct {
				Data [][]float64 `json:"data"`
			} `json:"probability"`
		} `json:"outputs"`
	}
	if err := readJSON(filepath.Join(dir, "expected.json"), &expected); err != nil {
		return f, err
	}
	data := expected.Outputs.Probability.Data
	if len(data) == 0 || len(data[0]) != 1 {
		return f, fmt.Errorf("%s expected.json in %s: no probability for the first row", model, dir)
	}
	f.row, f.want, f.rtol, f.atol = example.Inputs[0], data[0][0], expected.RTol, expected.ATol
	return f, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// request returns the one-row tensor request: {"inputs": [[...]]}.
func (f tensorFixture) request() []byte {
	var b strings.Builder
	b.WriteString(`{"inputs": [[`)
	for i, v := range f.row {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(v.String())
	}
	b.WriteString("]]}")
	return []byte(b.String())
}

// payload is the load generator's body: the one-row request.
func (f tensorFixture) payload() loadtest.Payload {
	return loadtest.Payload{ContentType: loadtest.ContentTypeJSON, Bodies: [][]byte{f.request()}}
}

// check compares an answer to the reference: |got - want| <= atol + rtol * |want|.
func (f tensorFixture) check(got float64) error {
	if math.Abs(got-f.want) > f.atol+f.rtol*math.Abs(f.want) {
		return fmt.Errorf("probability %v; want %v within rtol %g, atol %g", got, f.want, f.rtol, f.atol)
	}
	return nil
}

// checkTensorAnswer sends the fixture's row to its route on the mlgate at
// base and checks the probability and the provenance headers.
func checkTensorAnswer(ctx context.Context, base string, f tensorFixture) error {
	path := "/routes/" + f.route + "/invocations"
	header, body, err := postJSON(ctx, base, path, f.request())
	if err != nil {
		return err
	}
	// MLflow's answer for a tensor signature: a dict of output tensors.
	var got struct {
		Predictions struct {
			Probability [][]float64 `json:"probability"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Errorf("POST %s: %w: %s", path, err, body)
	}
	p := got.Predictions.Probability
	if len(p) != 1 || len(p[0]) != 1 {
		return fmt.Errorf("POST %s: got %s; want one probability", path, body)
	}
	if err := f.check(p[0][0]); err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	for _, h := range [][2]string{{"X-Route", f.route}, {"X-Model-Name", f.model}, {"X-Model-Version", "1"}, {"X-Model-Alias", benchAlias}} {
		if v := header.Get(h[0]); v != h[1] {
			return fmt.Errorf("POST %s: header %s: got %q; want %q", path, h[0], v, h[1])
		}
	}
	return nil
}
