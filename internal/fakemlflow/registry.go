package fakemlflow

import (
	"net/http"
	"strconv"
	"strings"
)

// routes registers the modeled MLflow endpoints, under /api/2.0 and
// /ajax-api/2.0 as MLflow does.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	for _, prefix := range []string{"/api/2.0/mlflow", "/ajax-api/2.0/mlflow"} {
		mux.HandleFunc("GET "+prefix+"/registered-models/alias", handle(s.getAlias))
		mux.HandleFunc("POST "+prefix+"/registered-models/alias", s.handleSetAlias)
		mux.HandleFunc("DELETE "+prefix+"/registered-models/alias", s.handleDeleteAlias)
		mux.HandleFunc("GET "+prefix+"/registered-models/get", handle(s.getRegisteredModel))
		mux.HandleFunc("GET "+prefix+"/registered-models/get-latest-versions", handle(s.latestVersions))
		mux.HandleFunc("POST "+prefix+"/registered-models/get-latest-versions", handle(s.latestVersions))
		mux.HandleFunc("GET "+prefix+"/model-versions/get", handle(s.getVersion))
		mux.HandleFunc("GET "+prefix+"/model-versions/get-download-uri", handle(s.downloadURI))
		mux.HandleFunc("GET "+prefix+"/runs/get", s.handleGetRun)
		mux.HandleFunc("GET "+prefix+"/experiments/get", s.handleGetExperiment)
		mux.HandleFunc("GET "+prefix+"/logged-models/{id}", s.handleGetLoggedModel)
	}
	mux.HandleFunc("GET "+artifactsAPI, s.handleListArtifacts)
	mux.HandleFunc("GET "+artifactsAPI+"/{path...}", s.handleDownloadArtifact)
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "text/html; charset=utf-8", "OK")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "text/html; charset=utf-8", string(s.versionText))
	})
	return mux
}

func (s *Server) getAlias(r *http.Request) (Object, *apiError) {
	p, e := readParams(r)
	if e != nil {
		return nil, e
	}
	name, e := p.required("name")
	if e != nil {
		return nil, e
	}
	alias, e := p.required("alias")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if strings.EqualFold(alias, "latest") {
		// MLflow 3.3+ answers @latest with get_latest_versions(name)[0].
		m, e := s.mustModel(name)
		if e != nil {
			return nil, e
		}
		latest := m.latest()
		if len(latest) == 0 {
			return nil, notFound("Latest version not found for model " + name + ".")
		}
		return Object{{"model_version", m.render(latest[0], true)}}, nil
	}
	m := s.models[name]
	if m == nil {
		return nil, invalid("Registered model alias " + alias + " not found.")
	}
	n, ok := m.aliases[alias]
	if !ok || m.versions[n] == nil {
		return nil, invalid("Registered model alias " + alias + " not found.")
	}
	return Object{{"model_version", m.render(m.versions[n], true)}}, nil
}

// handle adapts a handler that returns a body or an MLflow error.
func handle(fn func(r *http.Request) (Object, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		out, e := fn(r)
		if e != nil {
			e.write(w)
			return
		}
		writeJSON(w, out)
	}
}

func (s *Server) getVersion(r *http.Request) (Object, *apiError) {
	p, e := readParams(r)
	if e != nil {
		return nil, e
	}
	name, e := p.required("name")
	if e != nil {
		return nil, e
	}
	ver, e := p.required("version")
	if e != nil {
		return nil, e
	}
	n, e := versionNumber(ver)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.mustVersion(name, n)
	if e != nil {
		return nil, e
	}
	return Object{{"model_version", s.models[name].render(v, true)}}, nil
}

// downloadURI has no parameter schema in MLflow: a missing version is
// reported as a non-integer one.
func (s *Server) downloadURI(r *http.Request) (Object, *apiError) {
	p, e := readParams(r)
	if e != nil {
		return nil, e
	}
	n, e := versionNumber(p.str("version"))
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, e := s.mustVersion(p.str("name"), n)
	if e != nil {
		return nil, e
	}
	return Object{{"artifact_uri", v.storage}}, nil
}

func (s *Server) getRegisteredModel(r *http.Request) (Object, *apiError) {
	p, e := readParams(r)
	if e != nil {
		return nil, e
	}
	name, e := p.required("name")
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.mustModel(name)
	if e != nil {
		return nil, e
	}
	return Object{{"registered_model", m.renderModel()}}, nil
}

func (s *Server) latestVersions(r *http.Request) (Object, *apiError) {
	p, e := readParams(r)
	if e != nil {
		return nil, e
	}
	name, e := p.required("name")
	if e != nil {
		return nil, e
	}
	want := map[string]bool{}
	for _, st := range p.list("stages") {
		c, ok := canonicalStage(st)
		if !ok {
			return nil, invalid("Invalid Model Version stage: " + st + ". Value must be one of " + strings.Join(stages, ", ") + ".")
		}
		want[c] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.mustModel(name)
	if e != nil {
		return nil, e
	}
	var arr []any
	for _, v := range m.latest() {
		if len(want) == 0 || want[v.stage] {
			arr = append(arr, m.render(v, true))
		}
	}
	if len(arr) == 0 {
		return Object{}, nil
	}
	return Object{{"model_versions", arr}}, nil
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) {
	p, _ := readParams(r)
	id := p.str("run_id")
	if id == "" {
		id = p.str("run_uuid")
	}
	if id == "" {
		invalid("Missing value for required parameter 'run_id'. See the API docs for more information about request parameters.").write(w)
		return
	}
	s.mu.Lock()
	body, ok := s.runs[id]
	s.mu.Unlock()
	if !ok {
		notFound("Run with id=" + id + " not found").write(w)
		return
	}
	writeText(w, http.StatusOK, "application/json", string(body))
}

func (s *Server) handleGetLoggedModel(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	body, ok := s.loggedModels[id]
	s.mu.Unlock()
	if !ok {
		notFound("Logged model with ID '" + id + "' not found.").write(w)
		return
	}
	writeText(w, http.StatusOK, "application/json", string(body))
}

// handleGetExperiment answers experiments/get from the recorded experiments,
// with MLflow's errors for a missing or unknown experiment_id. An ID that is
// not an integer makes MLflow's SQL store fail with a 500; that is not
// modeled.
func (s *Server) handleGetExperiment(w http.ResponseWriter, r *http.Request) {
	p, _ := readParams(r)
	id, e := p.required("experiment_id")
	if e != nil {
		e.write(w)
		return
	}
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		notModeled(w, r)
		return
	}
	s.mu.Lock()
	body, ok := s.experiments[id]
	s.mu.Unlock()
	if !ok {
		notFound("No Experiment with id=" + id + " exists").write(w)
		return
	}
	writeText(w, http.StatusOK, "application/json", string(body))
}
