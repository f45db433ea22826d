package fakemlflow

import (
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// artifactsAPI is the mlflow-artifacts proxy route.
const artifactsAPI = "/api/2.0/mlflow-artifacts/artifacts"

// ArtifactsDestination is the server-side --artifacts-destination the
// recordings were made with; it appears in MLflow's download error messages.
const ArtifactsDestination = "/srv/churnapp/artifacts"

// loadArtifacts reads the artifact store into memory, keyed by slash path.
func (s *Server) loadArtifacts(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s.files[filepath.ToSlash(rel)] = data
		return nil
	})
}

// safeArtifactPath mirrors MLflow's validate_path_is_safe.
func safeArtifactPath(p string) bool {
	if strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.Contains(p, "\x00") {
		return false
	}
	for _, el := range strings.Split(p, "/") {
		if el == ".." {
			return false
		}
	}
	return true
}

func (s *Server) handleListArtifacts(w http.ResponseWriter, r *http.Request) {
	dir := strings.Trim(r.URL.Query().Get("path"), "/")
	if !safeArtifactPath(dir) {
		invalid("Invalid path").write(w)
		return
	}
	s.mu.Lock()
	children := map[string]bool{} // name → is a directory
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	for p := range s.files {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok {
			continue
		}
		name, _, isDir := strings.Cut(rest, "/")
		children[name] = children[name] || isDir
	}
	var files []any
	for _, name := range sortedKeys(children) {
		if children[name] {
			files = append(files, Object{{"path", name}, {"is_dir", true}})
			continue
		}
		full := prefix + name
		size, ok := s.listedSize[full]
		if !ok {
			size = int64(len(s.files[full]))
		}
		files = append(files, Object{{"path", name}, {"is_dir", false}, {"file_size", size}})
	}
	s.mu.Unlock()
	if len(files) == 0 {
		writeJSON(w, Object{})
		return
	}
	writeJSON(w, Object{{"files", files}})
}

func (s *Server) handleDownloadArtifact(w http.ResponseWriter, r *http.Request) {
	p := r.PathValue("path")
	if !safeArtifactPath(p) {
		invalid("Invalid path").write(w)
		return
	}
	s.mu.Lock()
	data, ok := s.files[p]
	truncated := s.truncated[p]
	body := s.bodies[p]
	isDir := false
	if !ok {
		for f := range s.files {
			if strings.HasPrefix(f, p+"/") {
				isDir = true
				break
			}
		}
	}
	s.mu.Unlock()
	if !ok {
		reason := "[Errno 2] No such file or directory"
		if isDir {
			reason = "[Errno 21] Is a directory"
		}
		(&apiError{status: http.StatusInternalServerError, code: "INTERNAL_ERROR", msg: fmt.Sprintf(
			"The following failures occurred while downloading one or more artifacts from %s:\n##### File %s #####\n%s: '%s/%s'",
			ArtifactsDestination, p, reason, ArtifactsDestination, p)}).write(w)
		return
	}
	if !s.wait(r, p) {
		return
	}
	h := w.Header()
	h.Set("Content-Type", guessMIMEType(p))
	h.Set("Content-Disposition", "attachment; filename="+path.Base(p))
	if body != 0 {
		s.writeHostile(w, r, p, data, body)
		return
	}
	if truncated {
		// Promise every byte, send half, and let the server drop the
		// connection.
		h.Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data[:len(data)/2])
		return
	}
	h.Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// textExtensions are served as text/plain by MLflow (_TEXT_EXTENSIONS in
// mlflow/utils/mime_type_utils.py); a file without an extension is matched
// by its whole name.
var textExtensions = map[string]bool{
	"txt": true, "log": true, "err": true, "cfg": true, "conf": true, "cnf": true, "cf": true, "ini": true,
	"properties": true, "prop": true, "hocon": true, "toml": true, "yaml": true, "yml": true, "xml": true,
	"json": true, "js": true, "py": true, "py3": true, "csv": true, "tsv": true, "md": true, "rst": true,
	"MLmodel": true, "mlproject": true,
}

// guessMIMEType follows MLflow's _guess_mime_type.
func guessMIMEType(p string) string {
	name := path.Base(p)
	ext := strings.TrimPrefix(path.Ext(name), ".")
	if ext == "" {
		ext = name
	}
	if textExtensions[ext] {
		return "text/plain"
	}
	if t := mime.TypeByExtension(path.Ext(name)); t != "" {
		t, _, _ = strings.Cut(t, ";")
		return t
	}
	return "application/octet-stream"
}
