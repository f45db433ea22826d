package fakemlflow

import (
	"net/http"
	"regexp"
	"strings"
	"unicode"
)

// aliasPattern is MLflow's alias rule with Python's Unicode \w.
var aliasPattern = regexp.MustCompile(`^[\p{L}\p{N}_-]*$`)

var reservedVersionAlias = regexp.MustCompile(`^[vV]\d+$`)

// setAlias validates and applies an alias move; it returns the webhook
// payload to deliver.
func (s *Server) setAlias(name, alias, ver string) (Object, *apiError) {
	switch {
	case alias == "":
		return nil, invalid("Registered model alias name cannot be empty.")
	case !aliasPattern.MatchString(alias) || strings.IndexFunc(alias, unicode.IsSpace) >= 0:
		return nil, invalid("Invalid alias name: '" + alias + "'. Names may only contain alphanumerics, underscores (_), and dashes (-).")
	case strings.EqualFold(alias, "latest"):
		return nil, invalid("'latest' alias name (case insensitive) is reserved.")
	case reservedVersionAlias.MatchString(alias):
		return nil, invalid("Version alias name '" + alias + "' is reserved.")
	}
	n, e := versionNumber(ver)
	if e != nil {
		return nil, e
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.mustModel(name)
	if e != nil {
		return nil, e
	}
	if _, e := s.mustVersion(name, n); e != nil {
		return nil, e
	}
	m.aliases[alias] = n
	s.markDirty("model:"+name, "registry")
	return Object{{"name", name}, {"alias", alias}, {"version", itoa(n)}}, nil
}

func (s *Server) deleteAlias(name, alias string) (Object, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, e := s.mustModel(name)
	if e != nil {
		return nil, e
	}
	delete(m.aliases, alias)
	s.markDirty("model:"+name, "registry")
	return Object{{"name", name}, {"alias", alias}}, nil
}

func (s *Server) handleSetAlias(w http.ResponseWriter, r *http.Request) {
	p, e := readParams(r)
	var data Object
	if e == nil {
		var name, alias, ver string
		if name, e = p.required("name"); e == nil {
			if alias, e = p.required("alias"); e == nil {
				if ver, e = p.required("version"); e == nil {
					data, e = s.setAlias(name, alias, ver)
				}
			}
		}
	}
	if e != nil {
		e.write(w)
		return
	}
	s.emit("model_version_alias", "created", data)
	writeJSON(w, Object{})
}

func (s *Server) handleDeleteAlias(w http.ResponseWriter, r *http.Request) {
	p, e := readParams(r)
	var data Object
	if e == nil {
		var name, alias string
		if name, e = p.required("name"); e == nil {
			if alias, e = p.required("alias"); e == nil {
				data, e = s.deleteAlias(name, alias)
			}
		}
	}
	if e != nil {
		e.write(w)
		return
	}
	s.emit("model_version_alias", "deleted", data)
	writeJSON(w, Object{})
}

// SetAlias points alias of model name at version, as
// POST /api/2.0/mlflow/registered-models/alias does, and delivers the
// model_version_alias.created webhooks before returning. Invalid arguments
// fail the test.
func (s *Server) SetAlias(name, alias, version string) {
	s.t.Helper()
	data, e := s.setAlias(name, alias, version)
	if e != nil {
		s.t.Fatalf("fakemlflow: SetAlias(%q, %q, %q): %d %s", name, alias, version, e.status, e.msg)
	}
	s.emit("model_version_alias", "created", data)
}

// DeleteAlias removes an alias, as DELETE /api/2.0/mlflow/registered-models/alias
// does (a missing alias is not an error), and delivers the
// model_version_alias.deleted webhooks before returning.
func (s *Server) DeleteAlias(name, alias string) {
	s.t.Helper()
	data, e := s.deleteAlias(name, alias)
	if e != nil {
		s.t.Fatalf("fakemlflow: DeleteAlias(%q, %q): %d %s", name, alias, e.status, e.msg)
	}
	s.emit("model_version_alias", "deleted", data)
}
