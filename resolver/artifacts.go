package resolver

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// ArtifactStore reads one artifact directory: a model version's files.
// Paths are slash-separated and relative to the store's root; "" is the root.
// Implementations are safe for concurrent use.
type ArtifactStore interface {
	// List returns the direct children of dir. Each FileInfo.Path is the
	// child's path relative to the store root (dir joined with the name).
	// Entries whose names are not plain file names are refused with an
	// ErrInvalid error.
	List(ctx context.Context, dir string) ([]FileInfo, error)
	// Download writes the file's bytes to w and returns how many it wrote.
	Download(ctx context.Context, file string, w io.Writer) (int64, error)
	// String returns the store's root URI, for messages.
	String() string
}

// FileInfo is one entry of an artifact directory listing.
type FileInfo struct {
	// Path is relative to the store root, slash-separated.
	Path  string
	IsDir bool
	// Size is the file size in bytes, or -1 when the listing gave none.
	Size int64
}

// artifactOpener maps an artifact URI to an ArtifactStore by scheme. The
// mlflowArtifacts hook decides where mlflow-artifacts: URIs are read from,
// which differs between the REST and SQLite backends.
type artifactOpener struct {
	hc              *httpClient
	s3              *s3Clients
	mlflowArtifacts func(host, path string) (ArtifactStore, error)
}

func newArtifactOpener(hc *httpClient, s3 S3Config, timeout time.Duration, mlflowArtifacts func(host, path string) (ArtifactStore, error)) *artifactOpener {
	return &artifactOpener{hc: hc, s3: &s3Clients{cfg: s3, timeout: timeout}, mlflowArtifacts: mlflowArtifacts}
}

// close releases pooled connections.
func (o *artifactOpener) close() {
	o.hc.close()
	o.s3.close()
}

// open returns the store for artifactURI. Supported: mlflow-artifacts:,
// http(s):// URIs of MLflow's proxied artifact API, file: (percent-decoded),
// absolute paths, and s3://bucket/prefix.
func (o *artifactOpener) open(artifactURI string) (ArtifactStore, error) {
	if strings.HasPrefix(artifactURI, "/") {
		return newLocalStore(artifactURI, artifactURI)
	}
	u, err := url.Parse(artifactURI)
	if err != nil {
		return nil, fmt.Errorf("artifact URI %q: %w", artifactURI, withKind(ErrInvalid, err))
	}
	switch strings.ToLower(u.Scheme) {
	case "mlflow-artifacts":
		p, err := cleanArtifactPath(u.Path)
		if err != nil {
			return nil, fmt.Errorf("artifact URI %q: %w", artifactURI, err)
		}
		return o.mlflowArtifacts(u.Host, p)
	case "http", "https":
		i := strings.Index(u.Path, mlflowArtifactsAPI)
		if i < 0 {
			return nil, fmt.Errorf("artifact URI %q: only MLflow's proxied artifact API (%s/...) is supported over http(s): %w", artifactURI, mlflowArtifactsAPI, ErrInvalid)
		}
		p, err := cleanArtifactPath(u.Path[i+len(mlflowArtifactsAPI):])
		if err != nil {
			return nil, fmt.Errorf("artifact URI %q: %w", artifactURI, err)
		}
		endpoint := u.Scheme + "://" + u.Host + (&url.URL{Path: u.Path[:i+len(mlflowArtifactsAPI)]}).EscapedPath()
		return newHTTPStore(o.hc, endpoint, p), nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("artifact URI %q: file URIs on another host are not supported: %w", artifactURI, ErrInvalid)
		}
		if !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("artifact URI %q: file path is not absolute: %w", artifactURI, ErrInvalid)
		}
		return newLocalStore(u.Path, artifactURI)
	case "s3":
		return o.newS3Store(u.Host, u.Path, artifactURI)
	case "":
		return nil, fmt.Errorf("artifact location %q is a relative path; mlgate needs an absolute path or a URI: %w", artifactURI, ErrInvalid)
	default:
		return nil, fmt.Errorf("artifact URI %q: scheme %s is not supported (mlgate reads mlflow-artifacts:, http(s)://, file:, s3:// and absolute paths): %w",
			artifactURI, u.Scheme, ErrInvalid)
	}
}

// cleanArtifactPath turns the path of an artifact URI into a relative,
// slash-separated path with no "." or ".." elements ("" for the root).
func cleanArtifactPath(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." || strings.ContainsAny(el, "\\\x00") {
			return "", fmt.Errorf("artifact path %q has an empty, \".\", \"..\" or backslash element: %w", p, ErrInvalid)
		}
	}
	return p, nil
}

// checkEntryName refuses listing entries that are not a single plain file
// name: empty, ".", "..", names with a slash, a backslash or NUL, and names
// that are not local on this OS.
func checkEntryName(store, dir, name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\\\x00") || !filepath.IsLocal(name) {
		return fmt.Errorf("artifact store %s: refusing entry %q in directory %q: not a plain file name: %w", store, name, dir, ErrInvalid)
	}
	return nil
}

// joinRel joins a relative directory and a checked entry name.
func joinRel(dir, name string) string {
	if dir == "" {
		return name
	}
	return path.Join(dir, name)
}

// checkRelPath refuses a relative path argument that could leave the store
// root.
func checkRelPath(store, p string) error {
	if p == "" {
		return nil
	}
	if !filepath.IsLocal(filepath.FromSlash(p)) || strings.ContainsAny(p, "\\\x00") || path.Clean(p) != p {
		return fmt.Errorf("artifact store %s: refusing path %q: not a clean relative path: %w", store, p, ErrInvalid)
	}
	return nil
}
