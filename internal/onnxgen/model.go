package onnxgen

// Operator set domains.
const (
	DomainONNX = ""           // the default ai.onnx domain, written as ""
	DomainML   = "ai.onnx.ml" // the classical-ML operators (LinearClassifier, ZipMap, ...)
)

// DefaultIRVersion is the IR version Model.Marshal writes when
// Model.IRVersion is 0: IR 8, which the onnx package writes for opset 13
// models and every ONNX Runtime since 1.10 reads.
const DefaultIRVersion = 8

// OpsetID imports one operator set (OperatorSetIdProto).
type OpsetID struct {
	Domain  string
	Version int64
}

// DefaultOpsets returns the operator sets mlgate's fixtures import: ai.onnx 13
// and ai.onnx.ml 1, the ones skl2onnx and the recorded MLflow models use.
func DefaultOpsets() []OpsetID {
	return []OpsetID{{Domain: DomainONNX, Version: 13}, {Domain: DomainML, Version: 1}}
}

// Node is one operator application (NodeProto).
type Node struct {
	Name    string
	OpType  string
	Domain  string // "" for ai.onnx, DomainML for ai.onnx.ml operators
	Inputs  []string
	Outputs []string
	Attrs   []Attribute
	Doc     string
}

// Graph is a model's computation graph (GraphProto). Nodes must be in
// topological order.
type Graph struct {
	Name         string
	Doc          string
	Nodes        []Node
	Initializers []Tensor
	Inputs       []ValueInfo
	Outputs      []ValueInfo
	ValueInfo    []ValueInfo
}

// Model is an ONNX model (ModelProto). It is plain data: build it, then
// call Marshal. Marshal and WithExternalData do not modify it, so a Model
// may be marshalled from several goroutines as long as nobody mutates it.
type Model struct {
	// IRVersion is the ONNX IR version; 0 means DefaultIRVersion.
	IRVersion       int64
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	Doc             string
	Graph           Graph
	// Opsets are the imported operator sets; nil means DefaultOpsets().
	Opsets []OpsetID
	// Metadata holds metadata_props entries, written in this order.
	Metadata []KeyValue
}

// KeyValue is one StringStringEntryProto.
type KeyValue struct {
	Key, Value string
}

// Initializer returns the initializer named name, or nil.
func (g *Graph) Initializer(name string) *Tensor {
	for i := range g.Initializers {
		if g.Initializers[i].Name == name {
			return &g.Initializers[i]
		}
	}
	return nil
}
