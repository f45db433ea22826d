package loadtest

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlgate/mlgate/signature"
)

// Content types of MLflow scoring requests.
const (
	ContentTypeJSON = "application/json"
	ContentTypeCSV  = "text/csv"
)

// Payload is the set of request bodies a run sends: request i sends
// Bodies[i mod len(Bodies)]. The bodies are shared by every worker and sent
// without copying, so they must not be modified while a run uses them.
type Payload struct {
	// ContentType is the Content-Type header. Default ContentTypeJSON.
	ContentType string
	// Bodies must hold at least one body.
	Bodies [][]byte
}

func (p *Payload) validate() error {
	if len(p.Bodies) == 0 {
		return configErr("Payload", "no request body: set an example, a body file or a model signature")
	}
	if p.ContentType == "" {
		p.ContentType = ContentTypeJSON
	}
	return nil
}

// FilePayload returns a payload that sends the file at path byte for byte.
// contentType defaults to ContentTypeJSON.
func FilePayload(path, contentType string) (Payload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Payload{}, fmt.Errorf("request body: %w", err)
	}
	if len(b) == 0 {
		return Payload{}, fmt.Errorf("request body %s is empty", path)
	}
	if contentType == "" {
		contentType = ContentTypeJSON
	}
	return Payload{ContentType: contentType, Bodies: [][]byte{b}}, nil
}

// ExamplePayload returns a payload that sends a model's
// serving_input_example.json byte for byte. The file must be JSON.
func ExamplePayload(path string) (Payload, error) {
	p, err := FilePayload(path, ContentTypeJSON)
	if err != nil {
		return Payload{}, fmt.Errorf("serving input example: %w", err)
	}
	if !json.Valid(p.Bodies[0]) {
		return Payload{}, fmt.Errorf("serving input example %s is not valid JSON", path)
	}
	return p, nil
}

// SignatureFromMLmodel reads an MLmodel file and returns its signature. The
// file may also be a model directory holding MLmodel.
func SignatureFromMLmodel(path string) (*signature.Signature, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "MLmodel")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mlmodel: %w", err)
	}
	m, err := signature.ParseMLmodel(data)
	if err != nil {
		return nil, fmt.Errorf("mlmodel %s: %w", path, err)
	}
	if m.Signature == nil || m.Signature.Inputs == nil {
		return nil, fmt.Errorf("mlmodel %s: the model has no input signature; send its serving_input_example.json instead", path)
	}
	return m.Signature, nil
}

// GenerateOptions controls GeneratePayload.
type GenerateOptions struct {
	// Rows is the number of records per request. Default 1.
	Rows int
	// Distinct is the number of different bodies to build. Default 8.
	Distinct int
	// Seed seeds the random values; the same seed gives the same bodies.
	Seed uint64
}

// GeneratePayload builds request bodies that fit sig's inputs, with
// plausible random values per type. A column-based signature gives
// {"dataframe_split": {"columns": [...], "data": [...]}} bodies (no
// "columns" when the columns are unnamed); a tensor-based one gives
// {"inputs": ...}, a nested list for one unnamed tensor and an object of
// nested lists for named tensors. A tensor's leading -1 dimension becomes
// Rows and any other -1 dimension becomes 1.
func GeneratePayload(sig *signature.Signature, opt GenerateOptions) (Payload, error) {
	if sig == nil || sig.Inputs == nil || (len(sig.Inputs.Columns) == 0 && len(sig.Inputs.Tensors) == 0) {
		return Payload{}, errors.New("generate payload: the signature has no inputs")
	}
	if opt.Rows < 0 || opt.Distinct < 0 {
		return Payload{}, fmt.Errorf("generate payload: rows (%d) and distinct (%d) must be >= 0", opt.Rows, opt.Distinct)
	}
	if opt.Rows == 0 {
		opt.Rows = 1
	}
	if opt.Distinct == 0 {
		opt.Distinct = 8
	}
	g := newValueGen(opt.Seed)
	p := Payload{ContentType: ContentTypeJSON}
	for range opt.Distinct {
		var body []byte
		var err error
		if sig.Inputs.IsTensor() {
			body, err = g.tensorBody(sig.Inputs.Tensors, opt.Rows)
		} else {
			body, err = g.dataframeBody(sig.Inputs.Columns, opt.Rows)
		}
		if err != nil {
			return Payload{}, fmt.Errorf("generate payload: %w", err)
		}
		p.Bodies = append(p.Bodies, body)
	}
	return p, nil
}
