package fakemlflow

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
)

// Version describes a model version for AddVersion.
type Version struct {
	// Name is the registered model; it is created if it does not exist.
	Name string
	// Files are the version's artifacts by slash-separated relative path
	// (e.g. "MLmodel", "model.onnx", "data/weights.bin"). They are served
	// through mlflow-artifacts under a new LoggedModel's directory.
	Files map[string][]byte
	// Status defaults to READY; StatusMessage is optional.
	Status        string
	StatusMessage string
	// Stage defaults to None.
	Stage       string
	Description string
	// RunID is the version's run_id and the LoggedModel's source_run_id;
	// empty means none.
	RunID string
	// Tags are the version's tags.
	Tags map[string]string
	// ListedSizes overrides the file_size that listings report for some
	// files, to simulate a store whose listing and contents disagree.
	ListedSizes map[string]int64
}

// CreateModel registers a model with a description and tags, as
// registered-models/create would. It fails the test if the model exists.
func (s *Server) CreateModel(name, description string, tags map[string]string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.models[name] != nil {
		s.t.Fatalf("fakemlflow: CreateModel(%q): the model exists", name)
	}
	s.createModel(name, description, tags)
}

// createModel adds a model; s.mu is held.
func (s *Server) createModel(name, description string, tags map[string]string) *model {
	now := s.now()
	m := &model{name: name, created: now, updated: now, description: description,
		versions: map[int]*version{}, aliases: map[string]int{}}
	for _, k := range sortedKeys(tags) {
		m.tags = append(m.tags, tag{k, tags[k]})
	}
	s.models[name] = m
	s.markDirty("model:"+name, "registry")
	return m
}

// now returns the current time in milliseconds, never earlier than any
// timestamp already in the registry (the recordings come from a clock set in
// the future).
func (s *Server) now() int64 {
	s.lastTS = max(s.lastTS+1, time.Now().UnixMilli())
	return s.lastTS
}

// AddVersion registers the next version of v.Name the way MLflow 3's
// log_model does: a new LoggedModel m-<id> in experiment 1 holding v.Files
// under mlflow-artifacts:/1/models/<id>/artifacts, and a version whose
// source is models:/<id>. It delivers model_version.created webhooks before
// returning, and returns the new version number as MLflow spells it ("5").
func (s *Server) AddVersion(v Version) string {
	s.t.Helper()
	if v.Name == "" || len(v.Files) == 0 {
		s.t.Fatalf("fakemlflow: AddVersion needs a Name and Files")
	}
	id := "m-" + randomHex(16)
	dir := "1/models/" + id + "/artifacts"
	s.mu.Lock()
	m := s.models[v.Name]
	if m == nil {
		m = s.createModel(v.Name, "", nil)
	}
	n := 1
	if nums := sortedInts(m.versions); len(nums) > 0 {
		n = nums[len(nums)-1] + 1
	}
	created := s.now()
	mv := &version{name: v.Name, number: n, created: created, updated: created, stage: v.Stage, description: v.Description,
		source: "models:/" + id, runID: v.RunID, status: v.Status, statusMessage: v.StatusMessage,
		storage: "mlflow-artifacts:/" + dir}
	if mv.stage == "" {
		mv.stage = "None"
	}
	if mv.status == "" {
		mv.status = "READY"
	}
	tagData := Object{}
	for _, k := range sortedKeys(v.Tags) {
		mv.tags = append(mv.tags, tag{k, v.Tags[k]})
		tagData = append(tagData, Field{k, v.Tags[k]})
	}
	m.versions[n] = mv
	m.updated = created
	for rel, data := range v.Files {
		if !safeArtifactPath(rel) || rel == "" || strings.HasSuffix(rel, "/") {
			s.mu.Unlock()
			s.t.Fatalf("fakemlflow: AddVersion: bad file name %q", rel)
		}
		full := dir + "/" + rel
		s.files[full] = bytes.Clone(data)
		s.markDirty("artifacts:" + full)
		for d := path.Dir(full); ; d = path.Dir(d) {
			if d == "." {
				s.markDirty("artifacts:")
				break
			}
			s.markDirty("artifacts:" + d)
		}
	}
	for rel, size := range v.ListedSizes {
		s.listedSize[dir+"/"+rel] = size
	}
	s.loggedModels[id] = renderLoggedModel(id, dir, created, v, n)
	s.markDirty("model:"+v.Name, "registry")
	s.mu.Unlock()

	var runID any
	if v.RunID != "" {
		runID = v.RunID
	}
	var desc any
	if v.Description != "" {
		desc = v.Description
	}
	s.emit("model_version", "created", Object{{"name", v.Name}, {"version", itoa(n)}, {"source", mv.source},
		{"run_id", runID}, {"tags", tagData}, {"description", desc}})
	return itoa(n)
}

// renderLoggedModel returns the logged-models/get body of a LoggedModel
// created by AddVersion.
func renderLoggedModel(id, dir string, created int64, v Version, n int) []byte {
	info := Object{{"model_id", id}, {"experiment_id", "1"}, {"name", "model"},
		{"creation_timestamp_ms", created}, {"last_updated_timestamp_ms", created},
		{"artifact_uri", "mlflow-artifacts:/" + dir}, {"status", "LOGGED_MODEL_READY"}, {"model_type", ""}}
	if v.RunID != "" {
		info = append(info, Field{"source_run_id", v.RunID})
	}
	versions := fmt.Sprintf(`[{"name": %s, "version": %d}, {"name": %s, "version": "%d"}]`,
		dumpCompact(v.Name), n, dumpCompact(v.Name), n)
	info = append(info, Field{"tags", []any{Object{{"key", "mlflow.modelVersions"}, {"value", versions}}}})
	return dumpIndent(Object{{"model", Object{{"info", info}, {"data", Object{}}}}})
}

// Files returns a copy of the artifact files of a version, keyed by path
// relative to its artifact directory (e.g. "MLmodel"). It fails the test if
// the version is unknown.
func (s *Server) Files(name, version string) map[string][]byte {
	s.t.Helper()
	dir := s.artifactDir(name, version)
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]byte{}
	for p, data := range s.files {
		if rel, ok := strings.CutPrefix(p, dir+"/"); ok {
			out[rel] = bytes.Clone(data)
		}
	}
	return out
}

// TruncateFile makes downloads of one artifact file of a version promise
// its full Content-Length but send only half of the bytes.
func (s *Server) TruncateFile(name, version, file string) {
	s.t.Helper()
	full := s.artifactDir(name, version) + "/" + file
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[full]; !ok {
		s.t.Fatalf("fakemlflow: TruncateFile: no file %s", full)
	}
	s.truncated[full] = true
	s.markDirty("artifacts:" + full)
}

// ArtifactDir returns the path of a version's artifact directory under the
// artifacts destination, e.g. "1/models/m-.../artifacts".
func (s *Server) ArtifactDir(name, version string) string {
	s.t.Helper()
	return s.artifactDir(name, version)
}

func (s *Server) artifactDir(name, ver string) string {
	n, err := strconv.Atoi(ver)
	s.mu.Lock()
	var v *version
	if m := s.models[name]; m != nil && err == nil {
		v = m.versions[n]
	}
	s.mu.Unlock()
	if v == nil || !strings.HasPrefix(v.storage, "mlflow-artifacts:/") {
		s.t.Fatalf("fakemlflow: no model %s version %s with mlflow-artifacts storage", name, ver)
	}
	return strings.TrimPrefix(v.storage, "mlflow-artifacts:/")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
