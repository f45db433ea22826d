package fakemlflow

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// stages in MLflow's canonical spelling and order.
var stages = []string{"None", "Staging", "Production", "Archived"}

type tag struct{ key, value string }

// model is a registered model and its versions.
type model struct {
	name        string
	created     int64
	updated     int64
	description string
	tags        []tag
	versions    map[int]*version
	aliases     map[string]int
}

// version is one model version.
type version struct {
	name          string
	number        int
	created       int64
	updated       int64
	userID        string
	stage         string
	description   string
	source        string
	runID         string
	status        string
	statusMessage string
	runLink       string
	tags          []tag
	storage       string // storage_location, returned by get-download-uri
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func itoa(n int) string { return strconv.Itoa(n) }

type tagJSON struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

func tagsOf(in []tagJSON) []tag {
	out := make([]tag, len(in))
	for i, t := range in {
		out[i] = tag{t.Key, t.Value}
	}
	return out
}

// loadState builds the registry from the recorded 200 answers of
// registered-models/get, model-versions/get, get-download-uri, runs/get,
// experiments/get-by-name and logged-models/get.
func (s *Server) loadState(recs []*Recording) error {
	for _, rec := range recs {
		rec.dep = dependency(rec)
	}
	ok := func(rec *Recording, path string) bool { return rec.Status == http.StatusOK && rec.Path == path }
	for _, rec := range recs {
		if !ok(rec, "/api/2.0/mlflow/registered-models/get") {
			continue
		}
		var body struct {
			RM struct {
				Name        string    `json:"name"`
				Created     int64     `json:"creation_timestamp"`
				Updated     int64     `json:"last_updated_timestamp"`
				Description string    `json:"description"`
				Tags        []tagJSON `json:"tags"`
				Aliases     []struct {
					Alias   string `json:"alias"`
					Version string `json:"version"`
				} `json:"aliases"`
			} `json:"registered_model"`
		}
		if err := json.Unmarshal(rec.RespBody, &body); err != nil {
			return fmt.Errorf("fakemlflow: case %s: %w", rec.Name, err)
		}
		m := &model{name: body.RM.Name, created: body.RM.Created, updated: body.RM.Updated, description: body.RM.Description,
			tags: tagsOf(body.RM.Tags), versions: map[int]*version{}, aliases: map[string]int{}}
		for _, a := range body.RM.Aliases {
			n, err := strconv.Atoi(a.Version)
			if err != nil {
				return fmt.Errorf("fakemlflow: case %s: alias %s version %q", rec.Name, a.Alias, a.Version)
			}
			m.aliases[a.Alias] = n
		}
		s.models[m.name] = m
		s.noteTime(m.updated)
	}
	for _, rec := range recs {
		switch {
		case ok(rec, "/api/2.0/mlflow/model-versions/get"):
			var body struct {
				MV struct {
					Name          string    `json:"name"`
					Version       string    `json:"version"`
					Created       int64     `json:"creation_timestamp"`
					Updated       int64     `json:"last_updated_timestamp"`
					UserID        string    `json:"user_id"`
					Stage         string    `json:"current_stage"`
					Description   string    `json:"description"`
					Source        string    `json:"source"`
					RunID         string    `json:"run_id"`
					Status        string    `json:"status"`
					StatusMessage string    `json:"status_message"`
					Tags          []tagJSON `json:"tags"`
					RunLink       string    `json:"run_link"`
				} `json:"model_version"`
			}
			if err := json.Unmarshal(rec.RespBody, &body); err != nil {
				return fmt.Errorf("fakemlflow: case %s: %w", rec.Name, err)
			}
			mv := body.MV
			m := s.models[mv.Name]
			n, err := strconv.Atoi(mv.Version)
			if m == nil || err != nil {
				return fmt.Errorf("fakemlflow: case %s: version %q of unrecorded model %q", rec.Name, mv.Version, mv.Name)
			}
			v := m.versions[n]
			if v == nil {
				v = &version{}
				m.versions[n] = v
			}
			storage := v.storage
			*v = version{name: mv.Name, number: n, created: mv.Created, updated: mv.Updated, userID: mv.UserID, stage: mv.Stage,
				description: mv.Description, source: mv.Source, runID: mv.RunID, status: mv.Status, statusMessage: mv.StatusMessage,
				runLink: mv.RunLink, tags: tagsOf(mv.Tags), storage: storage}
			s.noteTime(v.updated)
		case ok(rec, "/api/2.0/mlflow/model-versions/get-download-uri"):
			var body struct {
				URI string `json:"artifact_uri"`
			}
			if err := json.Unmarshal(rec.RespBody, &body); err != nil {
				return fmt.Errorf("fakemlflow: case %s: %w", rec.Name, err)
			}
			m := s.models[rec.Query.Get("name")]
			n, err := strconv.Atoi(rec.Query.Get("version"))
			if m == nil || err != nil {
				return fmt.Errorf("fakemlflow: case %s: download URI of an unrecorded model", rec.Name)
			}
			if m.versions[n] == nil {
				m.versions[n] = &version{}
			}
			m.versions[n].storage = body.URI
		case ok(rec, "/api/2.0/mlflow/runs/get"):
			s.runs[rec.Query.Get("run_id")] = rec.RespBody
		case ok(rec, "/api/2.0/mlflow/experiments/get-by-name"):
			// experiments/get and experiments/get-by-name both answer
			// {"experiment": <the Experiment message>}, so a recorded
			// get-by-name body is also experiments/get's body for its ID.
			var body struct {
				Experiment struct {
					ID string `json:"experiment_id"`
				} `json:"experiment"`
			}
			if err := json.Unmarshal(rec.RespBody, &body); err != nil || body.Experiment.ID == "" {
				return fmt.Errorf("fakemlflow: case %s: no experiment_id in the body", rec.Name)
			}
			s.experiments[body.Experiment.ID] = rec.RespBody
		case rec.Status == http.StatusOK && strings.HasPrefix(rec.Path, "/api/2.0/mlflow/logged-models/") &&
			!strings.Contains(strings.TrimPrefix(rec.Path, "/api/2.0/mlflow/logged-models/"), "/"):
			s.loggedModels[strings.TrimPrefix(rec.Path, "/api/2.0/mlflow/logged-models/")] = rec.RespBody
		case ok(rec, "/version"):
			s.versionText = rec.RespBody
		}
	}
	for _, m := range s.models {
		for n, v := range m.versions {
			if v.name == "" || v.storage == "" {
				return fmt.Errorf("fakemlflow: model %s version %d needs both a model-versions/get and a get-download-uri recording", m.name, n)
			}
		}
	}
	return nil
}

// noteTime keeps lastTS at the newest timestamp seen, so new versions sort
// after recorded ones.
func (s *Server) noteTime(ms int64) {
	if ms > s.lastTS {
		s.lastTS = ms
	}
}

// mustModel returns a model or MLflow's not-found error; s.mu is held.
func (s *Server) mustModel(name string) (*model, *apiError) {
	m := s.models[name]
	if m == nil {
		return nil, notFound("Registered Model with name=" + name + " not found")
	}
	return m, nil
}

// mustVersion returns a version or MLflow's not-found error; s.mu is held.
func (s *Server) mustVersion(name string, n int) (*version, *apiError) {
	if m := s.models[name]; m != nil {
		if v := m.versions[n]; v != nil {
			return v, nil
		}
	}
	return nil, notFound(fmt.Sprintf("Model Version (name=%s, version=%d) not found", name, n))
}

// aliasesOf lists, sorted, the aliases pointing at version n.
func (m *model) aliasesOf(n int) []string {
	var out []string
	for a, v := range m.aliases {
		if v == n {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// latest returns the highest version per stage, in the order stages are
// first met walking versions upwards, as MLflow's SQL store builds
// latest_versions.
func (m *model) latest() []*version {
	var order []string
	best := map[string]*version{}
	for _, n := range sortedInts(m.versions) {
		v := m.versions[n]
		if _, seen := best[v.stage]; !seen {
			order = append(order, v.stage)
		}
		if best[v.stage] == nil || best[v.stage].number < v.number {
			best[v.stage] = v
		}
	}
	out := make([]*version, len(order))
	for i, st := range order {
		out[i] = best[st]
	}
	return out
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// render returns the version in protobuf-JSON field order; aliases are
// included when withAliases is set and there are any.
func (m *model) render(v *version, withAliases bool) Object {
	o := Object{{"name", v.name}, {"version", itoa(v.number)}, {"creation_timestamp", v.created}, {"last_updated_timestamp", v.updated}}
	if v.userID != "" {
		o = append(o, Field{"user_id", v.userID})
	}
	o = append(o, Field{"current_stage", v.stage}, Field{"description", v.description}, Field{"source", v.source},
		Field{"run_id", v.runID}, Field{"status", v.status})
	if v.statusMessage != "" {
		o = append(o, Field{"status_message", v.statusMessage})
	}
	if len(v.tags) > 0 {
		o = append(o, Field{"tags", renderTags(v.tags)})
	}
	o = append(o, Field{"run_link", v.runLink})
	if aliases := m.aliasesOf(v.number); withAliases && len(aliases) > 0 {
		arr := make([]any, len(aliases))
		for i, a := range aliases {
			arr[i] = a
		}
		o = append(o, Field{"aliases", arr})
	}
	return o
}

func renderTags(tags []tag) []any {
	out := make([]any, len(tags))
	for i, t := range tags {
		out[i] = Object{{"key", t.key}, {"value", t.value}}
	}
	return out
}

// renderModel returns registered-models/get's registered_model.
func (m *model) renderModel() Object {
	o := Object{{"name", m.name}, {"creation_timestamp", m.created}, {"last_updated_timestamp", m.updated}}
	if m.description != "" {
		o = append(o, Field{"description", m.description})
	}
	if latest := m.latest(); len(latest) > 0 {
		arr := make([]any, len(latest))
		for i, v := range latest {
			arr[i] = m.render(v, false)
		}
		o = append(o, Field{"latest_versions", arr})
	}
	if len(m.tags) > 0 {
		o = append(o, Field{"tags", renderTags(m.tags)})
	}
	if len(m.aliases) > 0 {
		var arr []any
		for _, a := range sortedKeys(m.aliases) {
			arr = append(arr, Object{{"alias", a}, {"version", itoa(m.aliases[a])}})
		}
		o = append(o, Field{"aliases", arr})
	}
	return o
}
