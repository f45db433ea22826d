// Package signature owns MLflow model signatures and the scoring protocol's
// request and response formats: it parses MLmodel files and signatures,
// compiles a signature against a model graph's inputs into a Plan, decodes
// request bodies (dataframe_split, dataframe_records, instances, inputs,
// params, text/csv) into typed feeds under MLflow's conversion and
// enforcement rules, and encodes {"predictions": ...} responses.
//
// The package is pure and must stay so: it must not import any other mlgate
// package (infer and serve import it), does no I/O beyond the byte slices it
// is given, and uses no cgo. The request path allocates nothing once its
// pooled scratch is warm.
//
// Parsing (ParseMLmodel, ParseSignature) and Compile run when a model loads;
// their errors refuse the model. Plan.Decode, AppendPredictions and
// AppendError run per request; Decode reports client mistakes as *Error.
package signature

import (
	"fmt"
	"strconv"
)

// DataType is an MLflow column type (mlflow.types.DataType) or one of the
// complex column types (array, object, map, any).
type DataType uint8

// MLflow column types, named as they appear in a signature's JSON.
const (
	TypeInvalid DataType = iota
	TypeBoolean
	TypeInteger // int32
	TypeLong    // int64
	TypeFloat   // float32
	TypeDouble  // float64
	TypeString
	TypeBinary
	TypeDatetime
	TypeArray
	TypeObject
	TypeMap
	TypeAny
)

var dataTypeNames = [...]string{
	TypeInvalid:  "invalid",
	TypeBoolean:  "boolean",
	TypeInteger:  "integer",
	TypeLong:     "long",
	TypeFloat:    "float",
	TypeDouble:   "double",
	TypeString:   "string",
	TypeBinary:   "binary",
	TypeDatetime: "datetime",
	TypeArray:    "array",
	TypeObject:   "object",
	TypeMap:      "map",
	TypeAny:      "any",
}

// String returns the MLflow name of t ("long", "double", ...).
func (t DataType) String() string {
	if int(t) < len(dataTypeNames) {
		return dataTypeNames[t]
	}
	return "DataType(" + strconv.Itoa(int(t)) + ")"
}

// DType is a tensor element type. Names follow numpy (np.dtype(...).name),
// which is how MLflow writes tensor specs.
type DType uint8

// Tensor element types.
const (
	DTypeInvalid DType = iota
	Float32
	Float64
	Int8
	Int16
	Int32
	Int64
	Uint8
	Uint16
	Uint32
	Uint64
	Bool
	String // numpy "str" / "object" holding strings; ONNX tensor(string)
)

var dtypeNames = [...]string{
	DTypeInvalid: "invalid",
	Float32:      "float32",
	Float64:      "float64",
	Int8:         "int8",
	Int16:        "int16",
	Int32:        "int32",
	Int64:        "int64",
	Uint8:        "uint8",
	Uint16:       "uint16",
	Uint32:       "uint32",
	Uint64:       "uint64",
	Bool:         "bool",
	String:       "str",
}

// String returns the numpy name of d ("float32", "int64", "str", ...).
func (d DType) String() string {
	if int(d) < len(dtypeNames) {
		return dtypeNames[d]
	}
	return "DType(" + strconv.Itoa(int(d)) + ")"
}

// ColSpec is one column of a column-based schema (mlflow.types.ColSpec).
type ColSpec struct {
	// Name is the column name; empty for an unnamed schema.
	Name string
	// Type is the column's MLflow type.
	Type DataType
	// Required reports whether the column must be present in a request
	// (its values may still be null). It is true when the signature omits
	// "required", for basic and complex types alike.
	Required bool
	// Items is the element type of an array column.
	Items *ColSpec
	// Properties are the fields of an object column, sorted by name.
	Properties []Property
	// Values is the value type of a map column (keys are strings).
	Values *ColSpec
}

// Property is one field of an object type.
type Property struct {
	Name     string
	Type     *ColSpec
	Required bool
}

// TensorSpec is one input or output of a tensor-based schema
// (mlflow.types.TensorSpec).
type TensorSpec struct {
	// Name is the tensor name; empty for an unnamed schema.
	Name string
	// DType is the numpy element type.
	DType DType
	// Shape holds the dimensions; -1 marks a variable dimension.
	Shape []int64
}

// Schema is a signature's inputs or outputs. Exactly one of Columns and
// Tensors is non-empty.
type Schema struct {
	Columns []ColSpec
	Tensors []TensorSpec
}

// IsTensor reports whether s is tensor-based.
func (s *Schema) IsTensor() bool { return s != nil && len(s.Tensors) > 0 }

// HasNames reports whether the entries of s are named.
func (s *Schema) HasNames() bool {
	if s == nil {
		return false
	}
	if len(s.Tensors) > 0 {
		return s.Tensors[0].Name != ""
	}
	return len(s.Columns) > 0 && s.Columns[0].Name != ""
}

// ParamSpec is one inference parameter (mlflow.types.ParamSpec).
type ParamSpec struct {
	Name string
	Type DataType
	// Default is the default value as decoded from JSON (bool, float64,
	// string, []any or map[string]any).
	Default any
	// Shape is nil for a scalar parameter and [-1] for a 1-D list.
	Shape []int64
	// Properties describe an object parameter.
	Properties []Property
}

// Signature is a model signature as logged in MLmodel.
type Signature struct {
	// Inputs is nil when the signature declares no inputs.
	Inputs *Schema
	// Outputs is nil when the signature declares no outputs.
	Outputs *Schema
	// Params is empty when the model takes no parameters.
	Params []ParamSpec
}

// GraphTensor describes one input or output of a model graph as the runtime
// reports it.
type GraphTensor struct {
	Name  string
	DType DType
	// Shape holds the graph's dimensions; -1 marks a dynamic (symbolic)
	// dimension.
	Shape []int64
}

// Error is a client error in a request: the body cannot be decoded, or its
// data does not fit the model's signature. Serve maps it to HTTP 400 with
// MLflow's error body (see AppendError).
type Error struct {
	// Code is MLflow's error code for the same mistake: "BAD_REQUEST" for
	// undecodable input or a value that cannot be converted,
	// "INVALID_PARAMETER_VALUE" for a schema mismatch (missing column,
	// wrong shape, bad params).
	Code string
	// Message names the column or field, what was expected and what came.
	// It never echoes whole inputs.
	Message string
	// Limit names the request limit the request exceeded ("max_rows" or
	// "max_elements"); it is empty for every other mistake. Serve answers
	// such a request with 413.
	Limit string
}

func (e *Error) Error() string { return e.Message }

// MLflow error codes used by this package.
const (
	CodeBadRequest            = "BAD_REQUEST"
	CodeInvalidParameterValue = "INVALID_PARAMETER_VALUE"
)

func badRequest(format string, args ...any) *Error {
	return &Error{Code: CodeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func invalidParam(format string, args ...any) *Error {
	return &Error{Code: CodeInvalidParameterValue, Message: fmt.Sprintf(format, args...)}
}
