package resolver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// mlflowArtifactsAPI is the path of MLflow's proxied artifact API.
const mlflowArtifactsAPI = "/api/2.0/mlflow-artifacts/artifacts"

// httpStore reads a directory through MLflow's proxied artifact API:
// GET <endpoint>?path=<dir> lists (basenames only), GET <endpoint>/<file>
// downloads.
type httpStore struct {
	hc       *httpClient
	endpoint string // scheme://host[/prefix]/api/2.0/mlflow-artifacts/artifacts
	root     string // relative path under the server's artifacts destination
}

var _ ArtifactStore = (*httpStore)(nil)

func newHTTPStore(hc *httpClient, endpoint, root string) *httpStore {
	return &httpStore{hc: hc, endpoint: endpoint, root: root}
}

func (s *httpStore) String() string { return s.endpoint + "/" + s.root }

// List lists dir. MLflow answers {} for a directory that does not exist;
// that is reported as an empty listing.
func (s *httpStore) List(ctx context.Context, dir string) ([]FileInfo, error) {
	if err := checkRelPath(s.String(), dir); err != nil {
		return nil, err
	}
	u := s.endpoint
	if p := joinRel(s.root, dir); p != "" {
		u += "?" + url.Values{"path": {p}}.Encode()
	}
	var resp struct {
		Files []struct {
			Path     string `json:"path"`
			IsDir    bool   `json:"is_dir"`
			FileSize *int64 `json:"file_size"`
		} `json:"files"`
	}
	if err := s.hc.doJSON(ctx, http.MethodGet, u, nil, &resp); err != nil {
		where := s.String()
		if dir != "" {
			where += "/" + dir
		}
		return nil, fmt.Errorf("list artifacts %s: %w", where, err)
	}
	out := make([]FileInfo, 0, len(resp.Files))
	for _, f := range resp.Files {
		if err := checkEntryName(s.String(), dir, f.Path); err != nil {
			return nil, err
		}
		fi := FileInfo{Path: joinRel(dir, f.Path), IsDir: f.IsDir, Size: -1}
		if f.FileSize != nil && !f.IsDir {
			fi.Size = *f.FileSize
		}
		out = append(out, fi)
	}
	return out, nil
}

// Download streams one file. MLflow answers a missing file with 500
// INTERNAL_ERROR, which maps to ErrUnavailable.
func (s *httpStore) Download(ctx context.Context, file string, w io.Writer) (int64, error) {
	if file == "" {
		return 0, fmt.Errorf("artifact store %s: empty file name: %w", s, ErrInvalid)
	}
	if err := checkRelPath(s.String(), file); err != nil {
		return 0, err
	}
	n, err := s.hc.download(ctx, s.endpoint+"/"+escapePath(joinRel(s.root, file)), w)
	if err != nil {
		return n, fmt.Errorf("download artifact %s: %w", file, err)
	}
	return n, nil
}

// escapePath percent-encodes each element of a slash-separated path.
func escapePath(p string) string {
	els := strings.Split(p, "/")
	for i, el := range els {
		els[i] = url.PathEscape(el)
	}
	return strings.Join(els, "/")
}
