package resolver

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// privateDir returns a directory holding what a registry must not be able
// to copy: a private key (and an MLmodel, so that it looks like a model).
func privateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"id_rsa": "-----BEGIN PRIVATE KEY-----", "MLmodel": "flavors: {}\n"})
	return dir
}

// TestFileLocationOutsideRoots: a registry answering file:<dir> for a
// directory outside the allowed roots is refused at Resolve, before any
// file is read. (Before: the directory, private key included, was copied
// into the cache.) The same directory is read once the operator allows it.
func TestFileLocationOutsideRoots(t *testing.T) {
	secret := privateDir(t)
	for _, loc := range []string{"file://" + secret, secret, "file://localhost" + secret} {
		s := fakemlflow.New(t)
		s.SetDownloadURI("churn-gbm", "1", loc)
		r := newResolver(t, Config{TrackingURI: s.URL(), Token: testToken})
		_, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
		checkIs(t, err, ErrInvalid)
		if !strings.Contains(err.Error(), "allowed_roots") {
			t.Errorf("%s: error %q does not say how to allow the directory", loc, err)
		}

		allowed := newResolver(t, Config{TrackingURI: s.URL(), AllowedRoots: []string{secret}})
		res, err := allowed.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
		if err != nil {
			t.Fatal(err)
		}
		dir, err := allowed.Fetch(context.Background(), res)
		if err != nil {
			t.Fatalf("%s under an allowed root: %v", loc, err)
		}
		if got := readTree(t, dir); len(got) != 2 {
			t.Errorf("%s: got files %v; want the directory's two", loc, got)
		}
	}
}

// TestSymlinksDoNotLeaveRoots: a symbolic link may lead anywhere inside
// an allowed root, but never out of it: not as the location's directory,
// not as a directory on the way to it, not as a file inside it, and not
// inside the artifacts root of a local store. (Before: a link in the
// artifacts root to a private directory had it copied into the cache.)
func TestSymlinksDoNotLeaveRoots(t *testing.T) {
	outside := privateDir(t)
	root := t.TempDir()
	writeFiles(t, root, map[string]string{"model/MLmodel": "flavors: {}\n", "model/model.onnx": "onnx",
		"leaky/MLmodel": "flavors: {}\n"})
	for link, target := range map[string]string{
		"evil":         outside,
		"nested/evil":  outside,
		"inside":       "model", // relative: os.Root refuses absolute links even into the root
		"leaky/id_rsa": filepath.Join(outside, "id_rsa"),
	} {
		p := filepath.Join(root, filepath.FromSlash(link))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		loc       string
		refusedAt string // "resolve", "fetch" or "" (served)
	}{
		{"file://" + root + "/evil", "resolve"},
		{root + "/nested/evil", "resolve"},
		{"file://" + root + "/leaky", "fetch"},
		{"file://" + root + "/inside", ""},
		{root + "/model", ""},
	}
	for _, tt := range tests {
		s := fakemlflow.New(t)
		s.SetDownloadURI("churn-gbm", "1", tt.loc)
		r := newResolver(t, Config{TrackingURI: s.URL(), AllowedRoots: []string{root}})
		res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
		if tt.refusedAt == "resolve" {
			checkIs(t, err, ErrInvalid)
			if !strings.Contains(err.Error(), "symbolic link") {
				t.Errorf("%s: error %q does not name the link", tt.loc, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: Resolve: %v", tt.loc, err)
		}
		dir, err := r.Fetch(context.Background(), res)
		if tt.refusedAt == "fetch" {
			checkIs(t, err, ErrInvalid)
			checkNoEntry(t, r, res)
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.loc, err)
		}
		if got := readTree(t, dir); string(got["model.onnx"]) != "onnx" {
			t.Errorf("%s: got files %v", tt.loc, got)
		}
	}

	// A local store's artifacts root is a root too.
	db := copyStore(t)
	sdb, err := sql.Open("sqlite", db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sdb.Exec(`UPDATE model_versions SET storage_location = 'mlflow-artifacts:/evil' WHERE name = 'churn-gbm' AND version = 1`); err != nil {
		t.Fatal(err)
	}
	sdb.Close()
	r := newResolver(t, Config{TrackingURI: "sqlite:///" + db, ArtifactsRoot: root})
	_, err = r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/1"))
	checkIs(t, err, ErrInvalid)
	if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("mlflow-artifacts:/evil in a local store: error %q does not name the link", err)
	}
}
