package main

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/ with the current output")

// runMlgate runs the mlgate binary (this test binary acting as it) to the
// end and returns its stdout, stderr and exit code.
func runMlgate(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "MLGATE_TEST_AS_MAIN=1", "MLFLOW_TRACKING_URI=", "MLGATE_TRACKING_URI=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("mlgate %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// lineageBackends returns the flags that point mlgate resolve at the
// lineage store: over REST through the fake serving its recordings, and
// as the SQLite store (a copy) with its artifacts.
func lineageBackends(t *testing.T) map[string][]string {
	t.Helper()
	fake := fakemlflow.New(t, fakemlflow.WithStore(fakemlflow.LineageStore))
	data, err := os.ReadFile(testutil.Path(t, "testdata", "mlflow-real", "lineage", "mlflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(t.TempDir(), "mlflow.db")
	if err := os.WriteFile(db, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string][]string{
		"rest":   {"--tracking-uri", fake.URL(), "--cache-dir", t.TempDir()},
		"sqlite": {"--tracking-uri", "sqlite:///" + db, "--artifacts-root", testutil.Path(t, "testdata", "mlflow-real", "lineage", "mlartifacts"), "--cache-dir", t.TempDir()},
	}
}

var resolvedAt = regexp.MustCompile(`"resolved_at": "[^"]+"`)

// TestResolveLineageGolden prints both churn-lineage versions, as text and
// as JSON, from both backends; every output must equal the one golden file
// (so the backends agree byte for byte). The version forms (models:/name/N
// and --at-version) print the same, but for the URI.
func TestResolveLineageGolden(t *testing.T) {
	backends := lineageBackends(t)
	cases := []struct {
		golden string
		args   []string
		uri    string // what the golden file's URI is replaced with
	}{
		{"churn-lineage-v1", []string{"models:/churn-lineage@champion"}, ""},
		{"churn-lineage-v2", []string{"models:/churn-lineage@challenger"}, ""},
		{"churn-lineage-v1", []string{"models:/churn-lineage/1"}, "models:/churn-lineage/1"},
		{"churn-lineage-v2", []string{"--at-version", "2", "models:/churn-lineage@champion"}, "models:/churn-lineage/2"},
	}
	for _, backend := range []string{"rest", "sqlite"} {
		for _, tc := range cases {
			for _, format := range []string{"txt", "json"} {
				name := backend + "/" + strings.Join(tc.args, " ") + "/" + format
				t.Run(name, func(t *testing.T) {
					args := append(append([]string{"resolve"}, backends[backend]...), tc.args...)
					if format == "json" {
						args = append(args, "--json")
					}
					stdout, stderr, code := runMlgate(t, args...)
					if code != 0 {
						t.Fatalf("exit %d; stderr:\n%s", code, stderr)
					}
					got := resolvedAt.ReplaceAllString(stdout, `"resolved_at": "<time>"`)
					path := testutil.Path(t, "cmd", "mlgate", "testdata", "resolve", tc.golden+"."+format)
					if *update && backend == "rest" && tc.uri == "" {
						if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
							t.Fatal(err)
						}
					}
					data, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					want := string(data)
					if tc.uri != "" {
						want = regexp.MustCompile(`models:/churn-lineage@(champion|challenger)`).ReplaceAllString(want, tc.uri)
					}
					if got != want {
						t.Errorf("output differs from %s:\n%s", path, lineDiff(want, got))
					}
				})
			}
		}
	}
}

// lineDiff names the first line where got and want differ.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			return "line " + strconv.Itoa(i+1) + ":\n  got:  " + gl + "\n  want: " + wl + "\nwhole output:\n" + got
		}
	}
	return ""
}

// TestResolveAtVersionErrors refuses a bad --at-version and a logged-model
// URI with it, naming the setting.
func TestResolveAtVersionErrors(t *testing.T) {
	flags := lineageBackends(t)["sqlite"]
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--at-version", "-1", "models:/churn-lineage@champion"}, 2, "at-version: -1: want a version number"},
		{[]string{"--at-version", "x", "models:/churn-lineage@champion"}, 2, "at-version"},
		{[]string{"--at-version", "3", "models:/m-aabd374459e44bfab85ff2e6ddd5ba8b"}, 1, "at-version: models:/m-aabd374459e44bfab85ff2e6ddd5ba8b is a logged model"},
		{[]string{"--at-version", "9", "models:/churn-lineage@champion"}, 1, "models:/churn-lineage/9"},
	} {
		_, stderr, code := runMlgate(t, append(append([]string{"resolve"}, flags...), tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) {
			t.Errorf("resolve %s: got exit %d, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), code, stderr, tt.code, tt.want)
		}
	}
}
