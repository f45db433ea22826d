package infer

import (
	"fmt"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlgate/mlgate/signature"
)

// graphValue describes one graph input or output.
type graphValue struct {
	name  string
	kind  ort.ONNXType
	dtype signature.DType // tensors only
	shape []int64         // tensors only; -1 for symbolic dimensions
}

func (g graphValue) String() string {
	switch g.kind {
	case ort.ONNXTypeTensor:
		return fmt.Sprintf("%s %s %s", g.name, g.dtype, shapeString(g.shape))
	case ort.ONNXTypeSequence:
		return g.name + " sequence"
	case ort.ONNXTypeMap:
		return g.name + " map"
	}
	return g.name + " " + g.kind.String()
}

func shapeString(s []int64) string {
	b := []byte{'['}
	for i, d := range s {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, d, 10)
	}
	return string(append(b, ']'))
}

func dtypeFromORT(t ort.TensorElementDataType) signature.DType {
	switch t {
	case ort.TensorElementDataTypeFloat:
		return signature.Float32
	case ort.TensorElementDataTypeDouble:
		return signature.Float64
	case ort.TensorElementDataTypeInt8:
		return signature.Int8
	case ort.TensorElementDataTypeInt16:
		return signature.Int16
	case ort.TensorElementDataTypeInt32:
		return signature.Int32
	case ort.TensorElementDataTypeInt64:
		return signature.Int64
	case ort.TensorElementDataTypeUint8:
		return signature.Uint8
	case ort.TensorElementDataTypeUint16:
		return signature.Uint16
	case ort.TensorElementDataTypeUint32:
		return signature.Uint32
	case ort.TensorElementDataTypeUint64:
		return signature.Uint64
	case ort.TensorElementDataTypeBool:
		return signature.Bool
	case ort.TensorElementDataTypeString:
		return signature.String
	}
	return signature.DTypeInvalid
}

func graphValues(infos []ort.InputOutputInfo) []graphValue {
	out := make([]graphValue, len(infos))
	for i, info := range infos {
		g := graphValue{name: info.Name, kind: info.OrtValueType}
		if info.OrtValueType == ort.ONNXTypeTensor {
			g.dtype = dtypeFromORT(info.DataType)
			g.shape = append([]int64(nil), info.Dimensions...)
		}
		out[i] = g
	}
	return out
}

// newSessionOptions builds ONNX Runtime session options from cfg and the
// onnx flavor's onnx_session_options (which MLflow applies at load). mlgate's
// thread settings win over the MLmodel's: the operator sizes the machine.
func newSessionOptions(cfg Config, mo *signature.ONNXSessionOptions) (*ort.SessionOptions, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("create session options: %w", err)
	}
	fail := func(what string, err error) (*ort.SessionOptions, error) {
		opts.Destroy()
		return nil, fmt.Errorf("session option %s: %w", what, err)
	}
	if err := opts.SetIntraOpNumThreads(cfg.IntraOpThreads); err != nil {
		return fail("intra-op threads", err)
	}
	if err := opts.SetInterOpNumThreads(cfg.InterOpThreads); err != nil {
		return fail("inter-op threads", err)
	}
	spin := "0"
	if cfg.Spinning {
		spin = "1"
	}
	if err := opts.AddSessionConfigEntry("session.intra_op.allow_spinning", spin); err != nil {
		return fail("intra-op spinning", err)
	}
	if err := opts.AddSessionConfigEntry("session.inter_op.allow_spinning", spin); err != nil {
		return fail("inter-op spinning", err)
	}
	if mo == nil {
		return opts, nil
	}
	switch mo.ExecutionMode {
	case "", "sequential":
	case "parallel":
		if err := opts.SetExecutionMode(ort.ExecutionModeParallel); err != nil {
			return fail("execution_mode", err)
		}
	default:
		return fail("execution_mode", fmt.Errorf("%q: want sequential or parallel", mo.ExecutionMode))
	}
	if mo.GraphOptimizationLevel != nil {
		var level ort.GraphOptimizationLevel
		switch *mo.GraphOptimizationLevel {
		case 0:
			level = ort.GraphOptimizationLevelDisableAll
		case 1:
			level = ort.GraphOptimizationLevelEnableBasic
		case 2:
			level = ort.GraphOptimizationLevelEnableExtended
		case 99:
			level = ort.GraphOptimizationLevelEnableAll
		default:
			return fail("graph_optimization_level", fmt.Errorf("%d: want 0, 1, 2 or 99", *mo.GraphOptimizationLevel))
		}
		if err := opts.SetGraphOptimizationLevel(level); err != nil {
			return fail("graph_optimization_level", err)
		}
	}
	for k, v := range mo.ExtraSessionConfig {
		if err := opts.AddSessionConfigEntry(k, v); err != nil {
			return fail("extra_session_config "+k, err)
		}
	}
	return opts, nil
}
