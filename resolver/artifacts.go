package resolver

import (
	"context"
	"errors"
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
// which differs between the REST and SQLite backends. HTTP locations must
// pass the client's host policy, local ones must lie under one of roots.
type artifactOpener struct {
	hc              *httpClient
	s3              *s3Clients
	roots           []string // absolute, clean
	mlflowArtifacts func(host, path string) (ArtifactStore, error)
}

func newArtifactOpener(hc *httpClient, s3 S3Config, timeout time.Duration, roots []string, mlflowArtifacts func(host, path string) (ArtifactStore, error)) *artifactOpener {
	return &artifactOpener{hc: hc, s3: &s3Clients{cfg: s3, timeout: timeout}, roots: roots, mlflowArtifacts: mlflowArtifacts}
}

// close releases pooled connections.
func (o *artifactOpener) close() {
	o.hc.close()
	o.s3.close()
}

// open returns the store for artifactURI. Supported: mlflow-artifacts:,
// http(s):// URIs of MLflow's proxied artifact API on the tracking server or
// an allowed host, file: (percent-decoded) and absolute paths under the
// allowed roots, and s3://bucket/prefix. URIs with user information are
// refused.
func (o *artifactOpener) open(artifactURI string) (ArtifactStore, error) {
	shown := Redact(artifactURI)
	if strings.HasPrefix(artifactURI, "/") {
		return o.openLocal(artifactURI, shown)
	}
	u, err := url.Parse(artifactURI)
	if err != nil {
		return nil, fmt.Errorf("artifact URI %q: %w", shown, withKind(ErrInvalid, errors.New("not a valid URI")))
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "mlflow-artifacts", "http", "https", "file", "s3":
		if u.User != nil {
			return nil, fmt.Errorf("artifact URI %q: user information in artifact URIs is not allowed: %w", shown, ErrInvalid)
		}
	}
	switch scheme {
	case "mlflow-artifacts":
		p, err := cleanArtifactPath(u.Path)
		if err != nil {
			return nil, fmt.Errorf("artifact URI %q: %w", shown, err)
		}
		return o.mlflowArtifacts(u.Host, p)
	case "http", "https":
		i := strings.Index(u.Path, mlflowArtifactsAPI)
		if i < 0 {
			return nil, fmt.Errorf("artifact URI %q: only MLflow's proxied artifact API (%s/...) is supported over http(s): %w", shown, mlflowArtifactsAPI, ErrInvalid)
		}
		p, err := cleanArtifactPath(u.Path[i+len(mlflowArtifactsAPI):])
		if err != nil {
			return nil, fmt.Errorf("artifact URI %q: %w", shown, err)
		}
		if err := o.hc.policy.check(u); err != nil {
			return nil, fmt.Errorf("artifact URI %q: %w", shown, err)
		}
		endpoint := u.Scheme + "://" + u.Host + (&url.URL{Path: u.Path[:i+len(mlflowArtifactsAPI)]}).EscapedPath()
		return newHTTPStore(o.hc, endpoint, p), nil
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("artifact URI %q: file URIs on another host are not supported: %w", shown, ErrInvalid)
		}
		if !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("artifact URI %q: file path is not absolute: %w", shown, ErrInvalid)
		}
		return o.openLocal(u.Path, shown)
	case "s3":
		return o.newS3Store(u.Host, u.Path, shown)
	case "":
		return nil, fmt.Errorf("artifact location %q is a relative path; mlgate needs an absolute path or a URI: %w", shown, ErrInvalid)
	default:
		return nil, fmt.Errorf("artifact URI %q: scheme %s is not supported (mlgate reads mlflow-artifacts:, http(s)://, file:, s3:// and absolute paths): %w",
			shown, u.Scheme, ErrInvalid)
	}
}

// openLocal returns the store for a local directory, which must lie under
// one of the allowed roots, lexically or once symbolic links are resolved.
// The store reads through the root with os.Root, so no link inside it can
// lead out of the root either.
func (o *artifactOpener) openLocal(dir, shown string) (ArtifactStore, error) {
	dir = filepath.Clean(dir)
	for _, root := range o.roots {
		if rel, ok := within(root, dir); ok {
			return openLocalStore(root, rel, shown)
		}
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		for _, root := range o.roots {
			if realRoot, err := filepath.EvalSymlinks(root); err == nil {
				if rel, ok := within(realRoot, real); ok {
					return openLocalStore(root, rel, shown)
				}
			}
		}
	}
	roots := "none"
	if len(o.roots) > 0 {
		roots = strings.Join(o.roots, ", ")
	}
	return nil, fmt.Errorf("artifact location %q is outside the directories mlgate may read (%s); add its directory to artifacts.allowed_roots (--artifacts-allowed-roots): %w",
		shown, roots, ErrInvalid)
}

// within returns p relative to root when p is root or lies under it.
func within(root, p string) (string, bool) {
	rel, err := filepath.Rel(root, p)
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return rel, true
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
