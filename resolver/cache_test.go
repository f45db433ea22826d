package resolver

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

const artifactsAPIPath = "/api/2.0/mlflow-artifacts/artifacts"

// wantV1 returns the recorded files of churn-gbm version 1 (what the
// recording machine downloaded, without its SOURCE.txt note).
func wantV1(t *testing.T) map[string][]byte {
	t.Helper()
	files := readTree(t, filepath.Join(repoRoot(t), "testdata/mlflow-real/models/churn-gbm/v1"))
	delete(files, "SOURCE.txt")
	if len(files) != 7 {
		t.Fatalf("got %d recorded files of churn-gbm v1; want 7", len(files))
	}
	return files
}

func checkTree(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := readTree(t, dir)
	if len(got) != len(want) {
		t.Errorf("got %d files in %s; want %d", len(got), dir, len(want))
	}
	for name, data := range want {
		if !bytes.Equal(got[name], data) {
			t.Errorf("%s: got %d bytes that differ from the recorded %d", name, len(got[name]), len(data))
		}
	}
}

// checkNoEntry fails if the cache holds an entry or a leftover temporary
// directory for res.
func checkNoEntry(t *testing.T, r *Resolver, res *Resolution) {
	t.Helper()
	if dir, ok := r.Cache().Lookup(res); ok {
		t.Errorf("cache entry %s exists after a failed fetch", dir)
	}
	tmp, err := os.ReadDir(r.Cache().temp.path)
	if err != nil || len(tmp) != 0 {
		t.Errorf("temporary directories left: %v (%v)", tmp, err)
	}
}

func TestFetchWholeDirectoryOnce(t *testing.T) {
	s := fakemlflow.New(t)
	cacheDir := t.TempDir()
	r := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cacheDir})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := r.Fetch(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(dir, filepath.Join(cacheDir, "churn-gbm", "1-")) {
		t.Errorf("dir: got %s; want %s/churn-gbm/1-<hash>", dir, cacheDir)
	}
	checkTree(t, dir, wantV1(t))
	if n := countRequests(s, http.MethodGet, artifactsAPIPath+"/"); n != 7 {
		t.Errorf("got %d file downloads; want 7", n)
	}

	before := len(s.Requests())
	again, err := r.Fetch(context.Background(), res)
	if err != nil || again != dir {
		t.Fatalf("second Fetch: got %s, %v; want %s", again, err, dir)
	}
	// A new process with the same cache directory reuses the entry too.
	r2 := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cacheDir})
	if again, err := r2.Fetch(context.Background(), res); err != nil || again != dir {
		t.Fatalf("Fetch from a new resolver: got %s, %v; want %s", again, err, dir)
	}
	if n := len(s.Requests()) - before; n != 0 {
		t.Errorf("fetches of a cached version made %d requests; want 0", n)
	}
}

func TestFetchConcurrentDownloadsOnce(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@challenger"))
	if err != nil {
		t.Fatal(err)
	}
	const n = 8
	dirs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dirs[i], errs[i] = r.Fetch(context.Background(), res)
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || dirs[i] != dirs[0] {
			t.Errorf("fetch %d: got %s, %v; want %s", i, dirs[i], errs[i], dirs[0])
		}
	}
	if got := countRequests(s, http.MethodGet, artifactsAPIPath+"/"+s.ArtifactDir("churn-gbm", "2")+"/model.onnx"); got != 1 {
		t.Errorf("model.onnx was downloaded %d times; want 1", got)
	}
}

func TestFetchNestedDirectories(t *testing.T) {
	s := fakemlflow.New(t)
	r := newResolver(t, Config{TrackingURI: s.URL()})
	files := s.Files("churn-gbm", "1")
	files["weights/0b7a2c6e-f1d2-11ee-9c1a-0242ac120002"] = bytes.Repeat([]byte{7}, 4096)
	files["weights/deeper/README.md"] = []byte("external data")
	v := s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: files})
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/"+v))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := r.Fetch(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, files)
}

func TestFetchFailuresLeaveNothing(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, s *fakemlflow.Server) string // returns the version to fetch
		want  error
		text  string
	}{
		{"truncated download", func(t *testing.T, s *fakemlflow.Server) string {
			s.TruncateFile("churn-gbm", "1", "model.onnx")
			return "1"
		}, ErrUnavailable, "body truncated after 178 bytes"},
		{"listed size mismatch", func(t *testing.T, s *fakemlflow.Server) string {
			return s.AddVersion(fakemlflow.Version{Name: "churn-gbm", Files: s.Files("churn-gbm", "1"), ListedSizes: map[string]int64{"model.onnx": 999}})
		}, ErrUnavailable, "got 356 bytes; the listing says 999"},
		{"missing file", func(t *testing.T, s *fakemlflow.Server) string {
			dir := s.ArtifactDir("churn-gbm", "1")
			s.SetResponse(http.MethodGet, artifactsAPIPath+"?path="+dir, http.StatusOK, "application/json",
				[]byte(`{"files": [{"path": "MLmodel", "is_dir": false, "file_size": 1257}, {"path": "gone.onnx", "is_dir": false, "file_size": 3}]}`))
			return "1"
		}, ErrUnavailable, "status 500 INTERNAL_ERROR"},
		{"empty directory", func(t *testing.T, s *fakemlflow.Server) string {
			s.SetResponse(http.MethodGet, artifactsAPIPath+"?path="+s.ArtifactDir("churn-gbm", "1"), http.StatusOK, "application/json", []byte(`{}`))
			return "1"
		}, ErrNotFound, "empty or does not exist"},
	}
	for _, bad := range []string{"..", "../evil", "/etc/passwd", "a/b", `a\b`, "", "."} {
		tests = append(tests, struct {
			name  string
			setup func(t *testing.T, s *fakemlflow.Server) string
			want  error
			text  string
		}{"entry " + bad, func(t *testing.T, s *fakemlflow.Server) string {
			body := `{"files": [{"path": "MLmodel", "is_dir": false, "file_size": 1257}, {"path": ` + string(quoteJSON(bad)) + `, "is_dir": false, "file_size": 3}]}`
			s.SetResponse(http.MethodGet, artifactsAPIPath+"?path="+s.ArtifactDir("churn-gbm", "1"), http.StatusOK, "application/json", []byte(body))
			return "1"
		}, ErrInvalid, "not a plain file name"})
	}
	tests = append(tests, struct {
		name  string
		setup func(t *testing.T, s *fakemlflow.Server) string
		want  error
		text  string
	}{"nested entry ..", func(t *testing.T, s *fakemlflow.Server) string {
		dir := s.ArtifactDir("churn-gbm", "1")
		s.SetResponse(http.MethodGet, artifactsAPIPath+"?path="+dir, http.StatusOK, "application/json",
			[]byte(`{"files": [{"path": "sub", "is_dir": true}]}`))
		s.SetResponse(http.MethodGet, artifactsAPIPath+"?path="+dir+"/sub", http.StatusOK, "application/json",
			[]byte(`{"files": [{"path": "..", "is_dir": true}]}`))
		return "1"
	}, ErrInvalid, `refusing entry ".." in directory "sub"`})

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := fakemlflow.New(t)
			r := newResolver(t, Config{TrackingURI: s.URL()})
			v := tt.setup(t, s)
			res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/"+v))
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Fetch(context.Background(), res)
			checkIs(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.text) || !strings.Contains(err.Error(), "models:/churn-gbm/"+v) {
				t.Errorf("error %q does not contain %q and the URI", err, tt.text)
			}
			checkNoEntry(t, r, res)
			if _, _, err := r.Cached(res.URI); !errors.Is(err, ErrNotFound) {
				t.Errorf("Cached after a failed fetch: got %v; want ErrNotFound", err)
			}
		})
	}
}

func quoteJSON(s string) []byte {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, c := range s {
		if c == '\\' || c == '"' {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.Bytes()
}

// TestFetchAfterCrashLeftovers: what a process killed mid-download leaves
// (a partial temporary directory, in the old flat layout or in a process
// directory of its own) is removed by the next start, and fetching works.
func TestFetchAfterCrashLeftovers(t *testing.T) {
	s := fakemlflow.New(t)
	cacheDir := t.TempDir()
	var leftovers []string
	for _, dir := range []string{"churn-gbm-1-abc-123456", "proc-987/churn-gbm-1-abc-654321"} {
		p := filepath.Join(cacheDir, tmpDirName, filepath.FromSlash(dir))
		if err := os.MkdirAll(p, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(p, "model.onnx"), []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
		leftovers = append(leftovers, p)
	}
	r := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cacheDir})
	for _, p := range leftovers {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("leftover %s after a new start: got %v; want it removed", p, err)
		}
	}
	res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@champion"))
	if err != nil {
		t.Fatal(err)
	}
	dir, err := r.Fetch(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	checkTree(t, dir, wantV1(t))

	// A fetch cancelled by its caller leaves neither an entry nor a
	// temporary directory.
	other, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm@challenger"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Fetch(ctx, other); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled fetch: got %v; want context.Canceled", err)
	}
	if _, ok := r.Cache().Lookup(other); ok {
		t.Error("cancelled fetch left a cache entry")
	}
	r.cache.active.Wait()
	left, _ := os.ReadDir(r.Cache().temp.path)
	if len(left) != 0 {
		t.Errorf("temporary directories after a cancelled fetch: got %v; want none", left)
	}
}

// TestOpenCacheKeepsLiveDownloads opens two caches on one root, as two
// processes sharing it would (flock(2) locks belong to open files, so two
// Caches in one process exclude each other as two processes do): a cache
// opening while another is downloading must not remove its download
// directory, and the next opening after Close finds nothing to remove.
func TestOpenCacheKeepsLiveDownloads(t *testing.T) {
	root := t.TempDir()
	first := openCache(t, CacheConfig{Root: root})
	inProgress := filepath.Join(first.temp.path, "churn-gbm-1-abc-1")
	if err := os.MkdirAll(inProgress, 0o700); err != nil {
		t.Fatal(err)
	}
	abandoned := filepath.Join(root, tmpDirName, "proc-crashed")
	if err := os.MkdirAll(filepath.Join(abandoned, "churn-gbm-2-def-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	second := openCache(t, CacheConfig{Root: root})
	if _, err := os.Stat(inProgress); err != nil {
		t.Errorf("live download of another cache: got %v; want it kept", err)
	}
	if _, err := os.Stat(abandoned); !os.IsNotExist(err) {
		t.Errorf("abandoned download directory: got %v; want it removed", err)
	}
	if first.temp.path == second.temp.path {
		t.Fatalf("two caches share the download directory %s", first.temp.path)
	}
	firstTemp := first.temp.path
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(firstTemp); !os.IsNotExist(err) {
		t.Errorf("closed cache's download directory: got %v; want it removed", err)
	}
	left, _ := os.ReadDir(filepath.Join(root, tmpDirName))
	if len(left) != 1 || filepath.Join(root, tmpDirName, left[0].Name()) != second.temp.path {
		t.Errorf("temporary directories: got %v; want only the open cache's %s", left, second.temp.path)
	}
}

func TestCachedServesWithRegistryDown(t *testing.T) {
	s := fakemlflow.New(t)
	cacheDir := t.TempDir()
	u := mustURI(t, "models:/churn-gbm@champion")
	r := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cacheDir})
	if _, _, err := r.Cached(u); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Cached before any fetch: got %v; want ErrNotFound", err)
	}
	res, err := r.Resolve(context.Background(), u)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := r.Fetch(context.Background(), res)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Cached(u); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Cached after a fetch that was not remembered: got %v; want ErrNotFound", err)
	}
	if err := r.Remember(res); err != nil {
		t.Fatal(err)
	}

	s.SetDown(fakemlflow.Refuse)
	restarted := newResolver(t, Config{TrackingURI: s.URL(), CacheDir: cacheDir})
	if _, err := restarted.Check(context.Background(), u); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Check with the registry down: got %v; want ErrUnavailable", err)
	}
	got, gotDir, err := restarted.Cached(u)
	if err != nil {
		t.Fatal(err)
	}
	if gotDir != dir || got.Key() != res.Key() || got.RunID != championRunID || got.GitCommit != championCommit || got.URI != u {
		t.Errorf("Cached: got %+v in %s; want %+v in %s", got, gotDir, res, dir)
	}
	checkTree(t, gotDir, wantV1(t))
}

func TestSanitizeName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"churn-gbm", "churn-gbm"},
		{"team/churn gbm", "team_churn_gbm"},
		{"..", "_.."},
		{".hidden", "_.hidden"},
		{"refs", "_refs"},
		{"", "_"},
		{"é", "__"},
		{strings.Repeat("a", 100), strings.Repeat("a", 80)},
	}
	for _, tt := range tests {
		if got := sanitizeName(tt.in); got != tt.want {
			t.Errorf("sanitizeName(%q): got %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolutionKey(t *testing.T) {
	a := &Resolution{Name: "churn-gbm", Version: "1", CreationTimestamp: 1, ArtifactURI: "s3://b/1"}
	b := *a
	b.CreationTimestamp = 2 // the model was deleted and re-created
	c := *a
	c.ArtifactURI = "s3://b/2"
	lm := &Resolution{ModelID: championModelID, CreationTimestamp: 1, ArtifactURI: "s3://b/1"}
	keys := map[string]bool{a.Key(): true, b.Key(): true, c.Key(): true, lm.Key(): true}
	if len(keys) != 4 {
		t.Errorf("keys are not distinct: %v", keys)
	}
	cache := openCache(t, CacheConfig{})
	if cache.Dir(a) == cache.Dir(&b) || filepath.Base(filepath.Dir(cache.Dir(lm))) != championModelID {
		t.Errorf("dirs: %s %s %s", cache.Dir(a), cache.Dir(&b), cache.Dir(lm))
	}
}

// TestCachePrunesToBudget: past CacheMaxBytes, each download removes the
// least recently used versions, never the last good version a saved
// resolution names, nor the version just downloaded.
func TestCachePrunesToBudget(t *testing.T) {
	s := fakemlflow.New(t)
	size := map[string]int64{}
	scratch := newResolver(t, Config{TrackingURI: s.URL(), CacheMaxBytes: -1})
	for _, v := range []string{"1", "2", "3", "4"} {
		res, err := fetchVersion(t, scratch, v)
		if err != nil {
			t.Fatal(err)
		}
		dir, _ := scratch.Cache().Lookup(res)
		size[v] = treeBytes(dir)
	}
	budget := size["1"] + max(size["3"], size["4"]) + 1
	r := newResolver(t, Config{TrackingURI: s.URL(), CacheMaxBytes: budget})
	present := func() map[string]bool {
		out := map[string]bool{}
		for _, v := range []string{"1", "2", "3", "4"} {
			res, err := r.Resolve(context.Background(), mustURI(t, "models:/churn-gbm/"+v))
			if err != nil {
				t.Fatal(err)
			}
			_, out[v] = r.Cache().Lookup(res)
		}
		return out
	}
	v1, err := fetchVersion(t, r, "1")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Remember(v1); err != nil { // v1 is what some URI serves
		t.Fatal(err)
	}
	for _, step := range []struct {
		fetch string
		want  map[string]bool
	}{
		{"2", map[string]bool{"1": true, "2": true}},
		{"3", map[string]bool{"1": true, "3": true}}, // over budget: v2 goes, v1 is saved
		{"4", map[string]bool{"1": true, "4": true}}, // v3 goes
	} {
		if _, err := fetchVersion(t, r, step.fetch); err != nil {
			t.Fatal(err)
		}
		got := present()
		for _, v := range []string{"1", "2", "3", "4"} {
			if got[v] != step.want[v] {
				t.Errorf("after fetching v%s (budget %d, sizes %v): cached %v; want %v", step.fetch, budget, size, got, step.want)
				break
			}
		}
	}
}
