package resolver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// newOpener returns an opener for a tracking server at http://mlflow:5000
// that may read the local directories roots.
func newOpener(t *testing.T, s3 S3Config, roots ...string) *artifactOpener {
	t.Helper()
	cfg, err := Config{TrackingURI: "http://mlflow:5000", S3: s3, AllowedHosts: []string{"artifacts.example:8443"}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	policy, err := newHostPolicy([]string{cfg.TrackingURI}, cfg.AllowedHosts)
	if err != nil {
		t.Fatal(err)
	}
	hc := newHTTPClient(cfg, &tls.Config{}, policy)
	o := newArtifactOpener(hc, cfg.S3, cfg.Timeout, roots, func(host, p string) (ArtifactStore, error) {
		return nil, fmt.Errorf("mlflow-artifacts host=%q path=%q", host, p)
	})
	t.Cleanup(o.close)
	return o
}

// openCache opens a cache under a temporary directory, closed at the end
// of the test.
func openCache(t *testing.T, cfg CacheConfig) *Cache {
	t.Helper()
	if cfg.Root == "" {
		cfg.Root = t.TempDir()
	}
	c, err := OpenCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fetchAll downloads a store into a fresh cache entry and returns the files.
func fetchAll(t *testing.T, store ArtifactStore) (map[string][]byte, error) {
	t.Helper()
	cache := openCache(t, CacheConfig{})
	res := &Resolution{Name: "m", Version: "1", ArtifactURI: store.String()}
	dir, err := cache.Fetch(context.Background(), res, store)
	if err != nil {
		return nil, err
	}
	return readTree(t, dir), nil
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLocalStore(t *testing.T) {
	root := filepath.Join(t.TempDir(), "my models", "v1")
	writeFiles(t, root, map[string]string{"MLmodel": "flavors: {}\n", "model.onnx": "onnx", "data/weights": "w"})
	if err := os.Symlink("model.onnx", filepath.Join(root, "alias.onnx")); err != nil {
		t.Fatal(err)
	}
	o := newOpener(t, S3Config{}, filepath.Dir(filepath.Dir(root)))
	fileURI := (&url.URL{Scheme: "file", Path: root}).String()
	if !strings.Contains(fileURI, "my%20models") {
		t.Fatalf("test setup: %s is not percent-encoded", fileURI)
	}
	for _, uri := range []string{fileURI, root, "file://localhost" + (&url.URL{Path: root}).EscapedPath()} {
		store, err := o.open(uri)
		if err != nil {
			t.Fatalf("open(%s): %v", uri, err)
		}
		files, err := fetchAll(t, store)
		if err != nil {
			t.Fatalf("fetch %s: %v", uri, err)
		}
		want := map[string]string{"MLmodel": "flavors: {}\n", "model.onnx": "onnx", "data/weights": "w", "alias.onnx": "onnx"}
		if len(files) != len(want) {
			t.Errorf("%s: got %d files; want %d", uri, len(files), len(want))
		}
		for name, data := range want {
			if string(files[name]) != data {
				t.Errorf("%s: %s: got %q; want %q", uri, name, files[name], data)
			}
		}
	}
}

func TestLocalStoreRefusesEscapes(t *testing.T) {
	outside := t.TempDir()
	writeFiles(t, outside, map[string]string{"secret": "s"})
	for name, target := range map[string]string{
		"absolute link": filepath.Join(outside, "secret"),
		"relative link": "../" + filepath.Base(outside) + "/secret",
	} {
		t.Run(name, func(t *testing.T) {
			root := filepath.Join(filepath.Dir(outside), "store-"+strings.ReplaceAll(name, " ", "-"))
			writeFiles(t, root, map[string]string{"MLmodel": "m"})
			t.Cleanup(func() { os.RemoveAll(root) })
			if err := os.Symlink(target, filepath.Join(root, "model.onnx")); err != nil {
				t.Fatal(err)
			}
			store, err := newOpener(t, S3Config{}, filepath.Dir(outside)).open(root)
			if err != nil {
				t.Fatal(err)
			}
			_, err = fetchAll(t, store)
			checkIs(t, err, ErrInvalid)
			if !strings.Contains(err.Error(), `refusing entry "model.onnx"`) {
				t.Errorf("error %q does not name the entry", err)
			}
			if _, err := store.Download(context.Background(), "../"+filepath.Base(outside)+"/secret", &bytes.Buffer{}); !errors.Is(err, ErrInvalid) {
				t.Errorf("Download of ../: got %v; want ErrInvalid", err)
			}
		})
	}
	store, err := newOpener(t, S3Config{}, outside).open(filepath.Join(outside, "missing"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.List(context.Background(), ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing directory: got %v; want ErrNotFound", err)
	}
}

func TestOpenArtifactURIs(t *testing.T) {
	o := newOpener(t, S3Config{})
	tests := []struct {
		uri, want string // want: the store's String, or an error substring
		wantErr   error
	}{
		{"http://mlflow:5000/prefix/api/2.0/mlflow-artifacts/artifacts/1/models/m-1/artifacts",
			"http://mlflow:5000/prefix/api/2.0/mlflow-artifacts/artifacts/1/models/m-1/artifacts", nil},
		{"https://artifacts.example:8443/api/2.0/mlflow-artifacts/artifacts/1/x",
			"https://artifacts.example:8443/api/2.0/mlflow-artifacts/artifacts/1/x", nil},
		{"http://other:5000/api/2.0/mlflow-artifacts/artifacts/1/x", "host http://other:5000 refused", ErrInvalid},
		{"http://mlflow:5001/api/2.0/mlflow-artifacts/artifacts/1/x", "host http://mlflow:5001 refused", ErrInvalid},
		{"https://mlflow:5000/api/2.0/mlflow-artifacts/artifacts/1/x", "host https://mlflow:5000 refused", ErrInvalid},
		{"http://artifacts.example:9000/api/2.0/mlflow-artifacts/artifacts/1/x", "host http://artifacts.example:9000 refused", ErrInvalid},
		{"http://user:pw@mlflow:5000/api/2.0/mlflow-artifacts/artifacts/1/x", `"http://redacted@mlflow:5000/api/2.0/mlflow-artifacts/artifacts/1/x": user information`, ErrInvalid},
		{"file:///etc", "outside the directories mlgate may read", ErrInvalid},
		{"/etc/ssh", "outside the directories mlgate may read", ErrInvalid},
		{"mlflow-artifacts:/1/models/m-1/artifacts", `mlflow-artifacts host="" path="1/models/m-1/artifacts"`, nil},
		{"mlflow-artifacts://other:5000/1/x", `mlflow-artifacts host="other:5000" path="1/x"`, nil},
		{"mlflow-artifacts:/1/../etc", `has an empty, ".", ".." or backslash element`, ErrInvalid},
		{"https://bucket.example/model", "only MLflow's proxied artifact API", ErrInvalid},
		{"gs://bucket/model", "scheme gs is not supported", ErrInvalid},
		{"wasbs://c@a.blob.core.windows.net/m", "scheme wasbs is not supported", ErrInvalid},
		{"relative/model", "is a relative path", ErrInvalid},
		{"file://otherhost/srv/model", "on another host", ErrInvalid},
		{"s3:///prefix", "no bucket", ErrInvalid},
	}
	for _, tt := range tests {
		store, err := o.open(tt.uri)
		switch {
		case err != nil && strings.HasPrefix(err.Error(), "mlflow-artifacts host="):
			if err.Error() != tt.want {
				t.Errorf("open(%s): got %v; want %s", tt.uri, err, tt.want)
			}
		case tt.wantErr != nil:
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("open(%s): got %v; want %v containing %q", tt.uri, err, tt.wantErr, tt.want)
			}
		case err != nil:
			t.Errorf("open(%s): %v", tt.uri, err)
		case store.String() != tt.want:
			t.Errorf("open(%s): got store %s; want %s", tt.uri, store, tt.want)
		}
	}
}

// fakeS3 serves ListObjectsV2 (path style, "/" delimiter) and GetObject from
// memory.
type fakeS3 struct {
	mu       sync.Mutex
	objects  map[string][]byte // "bucket/key" → data
	paths    []string
	auth     []string // Authorization headers received
	redirect string   // when set, object reads answer 307 to it
}

type s3List struct {
	XMLName        xml.Name `xml:"ListBucketResult"`
	Name           string
	Prefix         string
	KeyCount       int
	MaxKeys        int
	Delimiter      string
	IsTruncated    bool
	Contents       []s3Object
	CommonPrefixes []struct{ Prefix string }
}

type s3Object struct {
	Key          string
	LastModified string
	ETag         string
	Size         int
	StorageClass string
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.paths = append(f.paths, r.URL.Path)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if key == "" && r.URL.Query().Get("list-type") == "2" {
		prefix := r.URL.Query().Get("prefix")
		out := s3List{Name: bucket, Prefix: prefix, MaxKeys: 1000, Delimiter: "/"}
		dirs := map[string]bool{}
		var keys []string
		for k := range f.objects {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			rest, ok := strings.CutPrefix(k, bucket+"/"+prefix)
			if !ok {
				continue
			}
			if i := strings.Index(rest, "/"); i >= 0 {
				dirs[prefix+rest[:i+1]] = true
				continue
			}
			out.Contents = append(out.Contents, s3Object{Key: prefix + rest, LastModified: "2026-11-22T03:00:00.000Z",
				ETag: `"0123"`, Size: len(f.objects[k]), StorageClass: "STANDARD"})
		}
		for d := range dirs {
			out.CommonPrefixes = append(out.CommonPrefixes, struct{ Prefix string }{d})
		}
		out.KeyCount = len(out.Contents) + len(out.CommonPrefixes)
		w.Header().Set("Content-Type", "application/xml")
		_ = xml.NewEncoder(w).Encode(out)
		return
	}
	if f.redirect != "" {
		w.Header().Set("Location", f.redirect+r.URL.RequestURI())
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	data, ok := f.objects[bucket+"/"+key]
	if !ok {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>%s</Key></Error>`, key)
		return
	}
	w.Header().Set("ETag", `"0123"`)
	w.Header().Set("Last-Modified", time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC).Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/octet-stream")
	http.ServeContent(w, r, key, time.Time{}, bytes.NewReader(data))
}

func TestS3Store(t *testing.T) {
	fake := &fakeS3{objects: map[string][]byte{
		"models/1/m-1/artifacts/MLmodel":           []byte("flavors: {}\n"),
		"models/1/m-1/artifacts/model.onnx":        []byte("onnx bytes"),
		"models/1/m-1/artifacts/data/weights.bin":  bytes.Repeat([]byte{1}, 3000),
		"models/1/m-1/artifactsX/not-in-the-model": []byte("x"),
	}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	o := newOpener(t, S3Config{EndpointURL: srv.URL, AccessKeyID: "minio", SecretAccessKey: "minio123", Region: "us-east-1"})
	store, err := o.open("s3://models/1/m-1/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	files, err := fetchAll(t, store)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 || string(files["model.onnx"]) != "onnx bytes" || len(files["data/weights.bin"]) != 3000 {
		t.Errorf("got files %v", files)
	}
	for _, p := range fake.paths {
		if !strings.HasPrefix(p, "/models") {
			t.Errorf("request path %s is not path-style (/bucket/...)", p)
		}
	}
	if _, err := store.Download(context.Background(), "missing.onnx", &bytes.Buffer{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing object: got %v; want ErrNotFound", err)
	}
}
