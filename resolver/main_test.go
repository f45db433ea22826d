package resolver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Provenance of churn-gbm version 1 (alias champion) in the recordings.
const (
	championRunID   = "cf2941b1111242ff806c0b75daaf749d"
	championCommit  = "3f9c2a1d8e7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a"
	championModelID = "m-297cf642525145a9a1b78850d630dfcc"
	championCreated = 1795316443635
)

// championRunTags are the tags of churn-gbm version 1's run.
var championRunTags = map[string]string{
	"dataset_version": "churn-2024-q3", "mlflow.runName": "logreg-baseline", "mlflow.source.git.commit": championCommit,
	"mlflow.source.name": "train_churn.py", "mlflow.source.type": "LOCAL", "mlflow.user": "churn-bot", "team": "retention-ml",
}

// newResolver returns a resolver with a private cache, closed at the end of
// the test.
func newResolver(t *testing.T, cfg Config) *Resolver {
	t.Helper()
	if cfg.CacheDir == "" {
		cfg.CacheDir = t.TempDir()
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "mlgate/test"
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

func mustURI(t *testing.T, s string) URI {
	t.Helper()
	u, err := ParseURI(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := fakemlflow.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// copyStore copies examples/registry/mlflow.db into a temporary directory
// and returns its path.
func copyStore(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), "examples/registry/mlflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "mlflow.db")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// sqliteConfig returns a config for a copy of the example SQLite store.
func sqliteConfig(t *testing.T, db string) Config {
	t.Helper()
	return Config{TrackingURI: "sqlite:///" + db, ArtifactsRoot: filepath.Join(repoRoot(t), "examples/registry/mlartifacts")}
}

// countRequests counts logged requests whose path starts with prefix.
func countRequests(s *fakemlflow.Server, method, prefix string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) {
			n++
		}
	}
	return n
}

// checkIs fails unless errors.Is(err, want) (want nil means no error).
func checkIs(t *testing.T, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("got error %v; want none", err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("got error %v; want one matching %v", err, want)
	}
}

// readTree returns the regular files under dir by slash path.
func readTree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		out[filepath.ToSlash(rel)] = data
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
