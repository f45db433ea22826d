package signature

import (
	"errors"
	"fmt"
	"sort"

	"gopkg.in/yaml.v3"
)

// MLmodel is the parsed MLmodel file of a logged model.
type MLmodel struct {
	// ArtifactPath is the model's artifact location as MLflow recorded it:
	// the LoggedModel's full artifact URI in MLflow 3, the relative path
	// within the run in MLflow 2; "" when absent.
	ArtifactPath string
	// RunID is "" when the model was logged outside a run.
	RunID string
	// ModelID is the LoggedModel id ("m-..."); "" before MLflow 3 or when
	// the model was saved without logging.
	ModelID        string
	ModelUUID      string
	MLflowVersion  string
	UTCTimeCreated string
	// Flavors holds every flavor's raw configuration, as YAML decodes it.
	Flavors map[string]map[string]any
	// ONNX is the onnx flavor, nil when the model has none.
	ONNX *ONNXFlavor
	// Signature is nil when the model was logged without one.
	Signature *Signature
	// InputExample describes saved_input_example_info; nil when absent.
	InputExample *InputExampleInfo
}

// ONNXFlavor is the onnx flavor's configuration.
type ONNXFlavor struct {
	Data        string // model file name, "model.onnx"
	ONNXVersion string
	// Providers lists the execution providers in MLflow's order of
	// preference.
	Providers      []string
	SessionOptions *ONNXSessionOptions // nil when onnx_session_options is null
}

// ONNXSessionOptions are the session options MLflow's onnx flavor applies.
// Nil pointers mean "not set".
type ONNXSessionOptions struct {
	InterOpNumThreads      *int
	IntraOpNumThreads      *int
	ExecutionMode          string // "sequential" or "parallel"; "" when unset
	GraphOptimizationLevel *int   // 0, 1, 2 or 99
	ExtraSessionConfig     map[string]string
}

// InputExampleInfo is MLmodel's saved_input_example_info.
type InputExampleInfo struct {
	ArtifactPath     string // "input_example.json"
	Type             string // dataframe, ndarray, json_object, ...
	PandasOrient     string
	ServingInputPath string // "serving_input_example.json"; "" for old models
}

type rawMLmodel struct {
	ArtifactPath   string                    `yaml:"artifact_path"`
	RunID          string                    `yaml:"run_id"`
	ModelID        string                    `yaml:"model_id"`
	ModelUUID      string                    `yaml:"model_uuid"`
	MLflowVersion  string                    `yaml:"mlflow_version"`
	UTCTimeCreated string                    `yaml:"utc_time_created"`
	Flavors        map[string]map[string]any `yaml:"flavors"`
	Signature      *struct {
		Inputs  string `yaml:"inputs"`
		Outputs string `yaml:"outputs"`
		Params  string `yaml:"params"`
	} `yaml:"signature"`
	InputExample *struct {
		ArtifactPath     string `yaml:"artifact_path"`
		Type             string `yaml:"type"`
		PandasOrient     string `yaml:"pandas_orient"`
		ServingInputPath string `yaml:"serving_input_path"`
	} `yaml:"saved_input_example_info"`
}

// ParseMLmodel parses an MLmodel YAML document of at most MaxMLmodelBytes.
// Keys it does not know are ignored; an onnx flavor and a signature, when
// present, are validated and errors name the offending key.
func ParseMLmodel(data []byte) (*MLmodel, error) {
	if len(data) > MaxMLmodelBytes {
		return nil, fmt.Errorf("parse MLmodel: %s", tooMany(len(data), "bytes", MaxMLmodelBytes, "MaxMLmodelBytes"))
	}
	var raw rawMLmodel
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse MLmodel: %w", err)
	}
	if len(raw.Flavors) == 0 {
		return nil, errors.New("parse MLmodel: no flavors")
	}
	m := &MLmodel{
		ArtifactPath:   raw.ArtifactPath,
		RunID:          raw.RunID,
		ModelID:        raw.ModelID,
		ModelUUID:      raw.ModelUUID,
		MLflowVersion:  raw.MLflowVersion,
		UTCTimeCreated: raw.UTCTimeCreated,
		Flavors:        raw.Flavors,
	}
	if onnx, ok := raw.Flavors["onnx"]; ok {
		f, err := parseONNXFlavor(onnx)
		if err != nil {
			return nil, fmt.Errorf("parse MLmodel: flavors.onnx: %w", err)
		}
		m.ONNX = f
	}
	if s := raw.Signature; s != nil {
		sig, err := ParseSignature(s.Inputs, s.Outputs, s.Params)
		if err != nil {
			return nil, fmt.Errorf("parse MLmodel: %w", err)
		}
		if sig.Inputs != nil || sig.Outputs != nil || sig.Params != nil {
			m.Signature = sig
		}
	}
	if ie := raw.InputExample; ie != nil {
		m.InputExample = &InputExampleInfo{
			ArtifactPath:     ie.ArtifactPath,
			Type:             ie.Type,
			PandasOrient:     ie.PandasOrient,
			ServingInputPath: ie.ServingInputPath,
		}
	}
	return m, nil
}

func parseONNXFlavor(c map[string]any) (*ONNXFlavor, error) {
	f := &ONNXFlavor{}
	var ok bool
	if f.Data, ok = c["data"].(string); !ok || f.Data == "" {
		return nil, errors.New("data: the model file name is missing")
	}
	if v, found := c["onnx_version"]; found && v != nil {
		f.ONNXVersion = fmt.Sprint(v)
	}
	if v := c["providers"]; v != nil {
		list, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("providers: expected a list, got %T", v)
		}
		for i, p := range list {
			s, ok := p.(string)
			if !ok {
				return nil, fmt.Errorf("providers[%d]: expected a string, got %T", i, p)
			}
			f.Providers = append(f.Providers, s)
		}
	}
	if v := c["onnx_session_options"]; v != nil {
		opts, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("onnx_session_options: expected a mapping, got %T", v)
		}
		so, err := parseSessionOptions(opts)
		if err != nil {
			return nil, fmt.Errorf("onnx_session_options.%w", err)
		}
		f.SessionOptions = so
	}
	return f, nil
}

func parseSessionOptions(opts map[string]any) (*ONNXSessionOptions, error) {
	so := &ONNXSessionOptions{}
	intOpt := func(key string) (*int, error) {
		v, ok := opts[key]
		if !ok || v == nil {
			return nil, nil
		}
		n, ok := v.(int)
		if !ok {
			return nil, fmt.Errorf("%s: expected an integer, got %T", key, v)
		}
		return &n, nil
	}
	var err error
	if so.InterOpNumThreads, err = intOpt("inter_op_num_threads"); err != nil {
		return nil, err
	}
	if so.IntraOpNumThreads, err = intOpt("intra_op_num_threads"); err != nil {
		return nil, err
	}
	if so.GraphOptimizationLevel, err = intOpt("graph_optimization_level"); err != nil {
		return nil, err
	}
	if l := so.GraphOptimizationLevel; l != nil && *l != 0 && *l != 1 && *l != 2 && *l != 99 {
		return nil, fmt.Errorf("graph_optimization_level: %d is not 0, 1, 2 or 99", *l)
	}
	if v, ok := opts["execution_mode"]; ok && v != nil {
		s, _ := v.(string)
		if s != "sequential" && s != "parallel" {
			return nil, fmt.Errorf("execution_mode: %v is not \"sequential\" or \"parallel\"", v)
		}
		so.ExecutionMode = s
	}
	if v, ok := opts["extra_session_config"]; ok && v != nil {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("extra_session_config: expected a mapping, got %T", v)
		}
		so.ExtraSessionConfig = make(map[string]string, len(m))
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch x := m[k].(type) {
			case string:
				so.ExtraSessionConfig[k] = x
			case int, float64, bool:
				so.ExtraSessionConfig[k] = fmt.Sprint(x)
			default:
				return nil, fmt.Errorf("extra_session_config.%s: expected a scalar, got %T", k, x)
			}
		}
	}
	return so, nil
}
