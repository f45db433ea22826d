package serve

import (
	"context"
	"maps"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/mlgate/mlgate/signature"
)

// Model is what serve needs from a loaded model version. *infer.Model
// implements it; tests use pure-Go fakes. A Model may also implement
// Describe() any, whose value /admin/models shows as the target's "model".
type Model interface {
	// Acquire takes a reference; false means the model is gone and the
	// caller must look up the current one again.
	Acquire() bool
	// Release gives a reference back.
	Release()
	// Plan decodes requests for this model.
	Plan() *signature.Plan
	// Predict runs a decoded request. The caller encodes the Prediction's
	// outputs, then releases it; b must stay untouched until then. An
	// error with a method Overloaded() bool that returns true means the
	// model's queue is full (429).
	Predict(ctx context.Context, b *signature.Batch) (signature.Prediction, error)
}

// Provenance identifies the model version behind a response. It is sent as
// response headers on every response once a model has been chosen, each
// value made header-safe by HeaderValue.
type Provenance struct {
	Name        string `json:"name"`                   // registered model name
	Version     string `json:"version"`                // registered model version
	Alias       string `json:"alias,omitempty"`        // the alias the target addresses, "" when addressed otherwise
	RunID       string `json:"run_id,omitempty"`       // MLflow run that produced the version, "" when unknown
	GitCommit   string `json:"git_commit,omitempty"`   // mlflow.source.git.commit of that run, "" when unknown
	ModelID     string `json:"model_id,omitempty"`     // MLflow 3 logged-model id (m-...), "" when unknown
	DataVersion string `json:"data_version,omitempty"` // the run's DVC data hash, else its training dataset's digest, "" when unknown
	// ExperimentID is the MLflow experiment of the run, "" when unknown;
	// not a header, it links the run in the status page.
	ExperimentID string `json:"experiment_id,omitempty"`
	// Tags are the run's tags among Config.ProvenanceTags, by tag name;
	// a tag the run lacks is absent. The map must not be changed once
	// handed to Compile.
	Tags map[string]string `json:"tags,omitempty"`
}

// same reports whether p and q name the same version with the same
// provenance.
func (p Provenance) same(q Provenance) bool {
	return p.Name == q.Name && p.Version == q.Version && p.Alias == q.Alias && p.RunID == q.RunID &&
		p.GitCommit == q.GitCommit && p.ModelID == q.ModelID && p.DataVersion == q.DataVersion &&
		p.ExperimentID == q.ExperimentID && maps.Equal(p.Tags, q.Tags)
}

// Provenance header names. They are a contract with clients, load
// generators and on-call engineers; do not rename them.
const (
	HeaderModelName    = "X-Model-Name"
	HeaderModelVersion = "X-Model-Version"
	HeaderModelAlias   = "X-Model-Alias"
	HeaderRunID        = "X-Mlflow-Run-Id"
	HeaderGitCommit    = "X-Git-Commit"
	HeaderModelID      = "X-Model-Id"
	HeaderDataVersion  = "X-Data-Version"
	HeaderRoute        = "X-Route"
)

type header struct{ key, value []byte }

// tagHeader is a run tag exposed as a header.
type tagHeader struct{ name, header string }

// deployment is a loaded model serving one URI in a Snapshot, with the
// provenance of its version. Header values, span attributes and the
// error-message prefix are prepared when the Snapshot is compiled; since is
// set when it is published, and nothing changes afterwards.
type deployment struct {
	model    Model
	prov     Provenance
	standing Standing
	since    time.Time
	headers  []header
	attrs    []attribute.KeyValue // the request span's model attributes
	errorTag string               // "model churn-gbm version 1 (alias champion)"
}

// newDeployment prepares m serving a URI with provenance p and standing st,
// p's run tags among tags being sent as headers.
func newDeployment(m Model, p Provenance, st Standing, tags []tagHeader) *deployment {
	d := &deployment{model: m, prov: p, standing: st}
	add := func(k, v string) {
		if v != "" {
			d.headers = append(d.headers, header{[]byte(k), []byte(HeaderValue(v))})
		}
	}
	add(HeaderModelName, p.Name)
	add(HeaderModelVersion, p.Version)
	add(HeaderModelAlias, p.Alias)
	add(HeaderRunID, p.RunID)
	add(HeaderGitCommit, p.GitCommit)
	add(HeaderModelID, p.ModelID)
	add(HeaderDataVersion, p.DataVersion)
	d.attrs = []attribute.KeyValue{
		attribute.String("model.name", p.Name), attribute.String("model.version", p.Version),
		attribute.String("model.alias", p.Alias), attribute.String("mlflow.run_id", p.RunID),
	}
	if p.DataVersion != "" {
		d.attrs = append(d.attrs, attribute.String("mlflow.data_version", HeaderValue(p.DataVersion)))
	}
	for _, t := range tags {
		if v, ok := p.Tags[t.name]; ok && v != "" {
			add(t.header, v)
			d.attrs = append(d.attrs, attribute.String("mlflow.tag."+t.name, HeaderValue(v)))
		}
	}
	d.headers = append(d.headers, st.headers()...)
	d.attrs = append(d.attrs, st.attrs()...)
	var b strings.Builder
	b.WriteString("model ")
	b.WriteString(p.Name)
	if p.Version != "" {
		b.WriteString(" version ")
		b.WriteString(p.Version)
	}
	if p.Alias != "" {
		b.WriteString(" (alias ")
		b.WriteString(p.Alias)
		b.WriteString(")")
	}
	d.errorTag = b.String()
	return d
}
