package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// localStore reads a directory on the local file system, rel under an
// allowed root. All access goes through os.Root, opened at the root and
// then at rel, so neither ".." nor symbolic links can leave the root (on
// the way to the directory) or the directory (inside it).
type localStore struct {
	root    string
	rel     string // "." for the root itself
	display string
}

var _ ArtifactStore = (*localStore)(nil)

// openLocalStore returns the store for rel under root. A directory that
// can only be reached through a link leaving root is refused now; one that
// does not exist is reported by List.
func openLocalStore(root, rel, display string) (*localStore, error) {
	if !filepath.IsAbs(root) || !filepath.IsLocal(rel) {
		return nil, fmt.Errorf("artifact directory %q is not a path under %s: %w", display, root, ErrInvalid)
	}
	s := &localStore{root: filepath.Clean(root), rel: filepath.Clean(rel), display: display}
	r, err := s.open()
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return s, nil
		}
		return nil, err
	}
	r.Close()
	return s, nil
}

func (s *localStore) String() string { return s.display }

func (s *localStore) open() (*os.Root, error) {
	root, err := os.OpenRoot(s.root)
	if err == nil && s.rel != "." {
		var sub *os.Root
		sub, err = root.OpenRoot(s.rel)
		root.Close()
		root = sub
	}
	if err != nil {
		return nil, s.fsError("open", "", err)
	}
	return root, nil
}

// List lists dir. Symbolic links are followed only when they stay inside the
// store; other special files are refused.
func (s *localStore) List(ctx context.Context, dir string) ([]FileInfo, error) {
	if err := checkRelPath(s.display, dir); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	root, err := s.open()
	if err != nil {
		return nil, err
	}
	defer root.Close()
	name := filepath.FromSlash(dir)
	if name == "" {
		name = "."
	}
	f, err := root.Open(name)
	if err != nil {
		return nil, s.fsError("list", dir, err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return nil, s.fsError("list", dir, err)
	}
	out := make([]FileInfo, 0, len(entries))
	for _, e := range entries {
		if err := checkEntryName(s.display, dir, e.Name()); err != nil {
			return nil, err
		}
		rel := joinRel(dir, e.Name())
		info, err := root.Stat(filepath.FromSlash(rel)) // follows links, within the root only
		if err != nil {
			return nil, fmt.Errorf("artifact store %s: refusing entry %q: %w", s.display, rel, withKind(ErrInvalid, err))
		}
		switch {
		case info.IsDir():
			out = append(out, FileInfo{Path: rel, IsDir: true, Size: -1})
		case info.Mode().IsRegular():
			out = append(out, FileInfo{Path: rel, Size: info.Size()})
		default:
			return nil, fmt.Errorf("artifact store %s: refusing entry %q: not a regular file or directory: %w", s.display, rel, ErrInvalid)
		}
	}
	slices.SortFunc(out, func(a, b FileInfo) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

// Download copies one regular file.
func (s *localStore) Download(ctx context.Context, file string, w io.Writer) (int64, error) {
	if file == "" {
		return 0, fmt.Errorf("artifact store %s: empty file name: %w", s.display, ErrInvalid)
	}
	if err := checkRelPath(s.display, file); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	root, err := s.open()
	if err != nil {
		return 0, err
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(file))
	if err != nil {
		return 0, s.fsError("open", file, err)
	}
	defer f.Close()
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		return 0, fmt.Errorf("artifact store %s: %q is not a regular file: %w", s.display, file, ErrInvalid)
	}
	n, err := io.Copy(w, ctxReader{ctx, f})
	if err != nil {
		if errors.Is(err, ErrInvalid) || ctx.Err() != nil {
			return n, fmt.Errorf("artifact store %s: read %s: %w", s.display, file, err)
		}
		return n, fmt.Errorf("artifact store %s: read %s: %w", s.display, file, withKind(ErrUnavailable, err))
	}
	return n, nil
}

func (s *localStore) fsError(op, p string, err error) error {
	kind := ErrUnavailable
	switch {
	case errors.Is(err, fs.ErrNotExist):
		kind = ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		kind = ErrUnauthorized
	case strings.Contains(err.Error(), "path escapes from parent"): // os.Root refused a link or ".."
		kind = ErrInvalid
		err = fmt.Errorf("a symbolic link or \"..\" leads out of the allowed directory %s: %w", s.root, err)
	}
	if p == "" {
		return fmt.Errorf("artifact directory %s: %s: %w", s.display, op, withKind(kind, err))
	}
	return fmt.Errorf("artifact store %s: %s %q: %w", s.display, op, p, withKind(kind, err))
}

// ctxReader stops a local copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
