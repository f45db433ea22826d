package registrygen

import (
	"bytes"
	"context"
	"database/sql"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/resolver"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newResolver returns a resolver with a private cache, closed at the end of
// the test.
func newResolver(t *testing.T, cfg resolver.Config) *resolver.Resolver {
	t.Helper()
	cfg.CacheDir, cfg.UserAgent = t.TempDir(), "mlgate/test"
	r, err := resolver.New(cfg)
	if err != nil {
		t.Fatalf("resolver.New: %v", err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return r
}

// fetch resolves uri, checks that it is version want, downloads it and
// returns the resolution and the downloaded files by slash path.
func fetch(t *testing.T, r *resolver.Resolver, uri, want string) (*resolver.Resolution, map[string][]byte) {
	t.Helper()
	u, err := resolver.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Resolve(context.Background(), u)
	if err != nil {
		t.Fatalf("Resolve(%s): %v", uri, err)
	}
	if res.Version != want || res.Status != resolver.StatusReady {
		t.Fatalf("Resolve(%s): version %s status %s; want version %s READY", uri, res.Version, res.Status, want)
	}
	dir, err := r.Fetch(context.Background(), res)
	if err != nil {
		t.Fatalf("Fetch(%s): %v", uri, err)
	}
	files := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		files[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, files
}

// checkFiles fails unless got holds exactly kind's files, MLmodel aside
// (compared by the caller), byte for byte.
func checkFiles(t *testing.T, got map[string][]byte, kind Kind) {
	t.Helper()
	want := Files(t, kind)
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want))) {
		t.Fatalf("fetched files %v; want %v", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
	}
	for name, data := range want {
		if name != "MLmodel" && !bytes.Equal(got[name], data) {
			t.Errorf("fetched %s differs from the %s fixture's", name, kind)
		}
	}
	if _, ok := got["model.onnx"]; !ok {
		t.Error("no model.onnx fetched")
	}
}

func check(t *testing.T, r *resolver.Resolver, uri, want string) *resolver.ModelVersion {
	t.Helper()
	u, err := resolver.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	mv, err := r.Check(context.Background(), u)
	if err != nil {
		t.Fatalf("Check(%s): %v", uri, err)
	}
	if mv.Version != want {
		t.Fatalf("Check(%s): version %s; want %s", uri, mv.Version, want)
	}
	return mv
}

func TestMany(t *testing.T) {
	ms := Many(1000, "m")
	if len(ms) != 1000 || ms[0].Name != "m-000" || ms[42].Name != "m-042" || ms[999].Name != "m-999" {
		t.Fatalf("names: %d models, %s, %s, %s", len(ms), ms[0].Name, ms[42].Name, ms[999].Name)
	}
	for _, m := range ms {
		if len(m.Versions) != 2 || m.Aliases["champion"] != 1 || m.Aliases["challenger"] != 2 || len(m.Aliases) != 2 {
			t.Fatalf("%s: %+v; want two versions, champion 1 and challenger 2", m.Name, m)
		}
	}
}

// TestSQLiteStore registers 100 small models and one larger one in a copy of
// the example store and resolves them with mlgate's SQLite backend.
func TestSQLiteStore(t *testing.T) {
	dir := t.TempDir()
	models := append(Many(100, "gen"), Model{Name: "gen-large", Versions: []Version{{Kind: Larger}}, Aliases: map[string]int{"champion": 1}})
	uri, root := SQLiteStore(t, dir, models)
	if want := "sqlite:///" + filepath.Join(dir, "mlflow.db"); uri != want || root != filepath.Join(dir, "mlartifacts") {
		t.Fatalf("got %s, %s; want %s and mlartifacts beside it", uri, root, want)
	}
	r := newResolver(t, resolver.Config{TrackingURI: uri, ArtifactsRoot: root})

	champ, files := fetch(t, r, "models:/gen-042@champion", "1")
	checkFiles(t, files, Small)
	// The version is shaped like the example store's: a LoggedModel, a run
	// in experiment 1, and an MLmodel that names both.
	if champ.Run != resolver.LinkFound || champ.LoggedModel != resolver.LinkFound || champ.ExperimentID != "1" ||
		champ.Source != "models:/"+champ.ModelID || champ.RunIDFrom != resolver.RunIDFromModelVersion ||
		champ.ArtifactURI != "mlflow-artifacts:/1/models/"+champ.ModelID+"/artifacts" || champ.RunTags["mlflow.runName"] != "gen-042-v1" {
		t.Errorf("champion resolution: %+v", champ)
	}
	for _, line := range []string{"model_id: " + champ.ModelID, "model_uuid: " + champ.ModelID, "run_id: " + champ.RunID,
		"artifact_path: " + champ.ArtifactURI} {
		if !strings.Contains(string(files["MLmodel"]), line+"\n") {
			t.Errorf("MLmodel lacks %q:\n%s", line, files["MLmodel"])
		}
	}
	chall, _ := fetch(t, r, "models:/gen-042@challenger", "2")
	if chall.ModelID == champ.ModelID || chall.RunID == champ.RunID {
		t.Errorf("versions 1 and 2 share model %s or run %s", chall.ModelID, chall.RunID)
	}
	fetch(t, r, "models:/gen-099/2", "2")
	fetch(t, r, "models:/gen-000/latest", "2")
	fetch(t, r, "models:/churn-gbm@champion", "1") // the example models are still there

	SetAliasSQLite(t, uri, "gen-042", "champion", 2)
	if mv := check(t, r, "models:/gen-042@champion", "2"); strings.Join(mv.Aliases, ",") != "challenger,champion" {
		t.Errorf("after moving champion: aliases %v; want challenger,champion", mv.Aliases)
	}
	SetAliasSQLite(t, uri, "gen-042", "shadow", 1)
	check(t, r, "models:/gen-042@shadow", "1")
	check(t, r, "models:/gen-041@champion", "1")

	_, files = fetch(t, r, "models:/gen-large@champion", "1")
	checkFiles(t, files, Larger)
	if len(files) != len(Files(t, Small))+1 {
		t.Errorf("larger model: %d files; want the small model's and an external-data file", len(files))
	}

	// Without --artifacts-root, mlgate reads mlartifacts beside mlflow.db.
	bare := newResolver(t, resolver.Config{TrackingURI: uri})
	_, files = fetch(t, bare, "models:/gen-007@challenger", "2")
	checkFiles(t, files, Small)

	db, err := sql.Open("sqlite", filepath.Join(dir, "mlflow.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for table, want := range map[string]int{"registered_models": 2 + 101, "model_versions": 5 + 201, "logged_models": 5 + 201,
		"runs": 5 + 201, "registered_model_aliases": 3 + 201 + 1} {
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil || n != want {
			t.Errorf("%s: %d rows, %v; want %d", table, n, err, want)
		}
	}
}

// TestFake registers 100 small models in the fake MLflow server and
// resolves them with mlgate's REST backend.
func TestFake(t *testing.T) {
	srv := fakemlflow.New(t)
	Fake(t, srv, Many(100, "gen"))
	r := newResolver(t, resolver.Config{TrackingURI: srv.URL()})

	champ, files := fetch(t, r, "models:/gen-042@champion", "1")
	checkFiles(t, files, Small)
	if !bytes.Equal(files["MLmodel"], Files(t, Small)["MLmodel"]) {
		t.Error("fetched MLmodel differs from the fixture's")
	}
	if champ.LoggedModel != resolver.LinkFound || champ.Run != resolver.LinkNone || champ.ExperimentID != "1" ||
		champ.Source != "models:/"+champ.ModelID || champ.ArtifactURI != "mlflow-artifacts:/1/models/"+champ.ModelID+"/artifacts" {
		t.Errorf("champion resolution: %+v", champ)
	}
	chall, _ := fetch(t, r, "models:/gen-042@challenger", "2")
	if chall.ModelID == champ.ModelID {
		t.Errorf("versions 1 and 2 share model %s", chall.ModelID)
	}
	fetch(t, r, "models:/gen-099/2", "2")
	fetch(t, r, "models:/churn-gbm@champion", "1")

	srv.SetAlias("gen-042", "champion", "2")
	if mv := check(t, r, "models:/gen-042@champion", "2"); strings.Join(mv.Aliases, ",") != "challenger,champion" {
		t.Errorf("after moving champion: aliases %v; want challenger,champion", mv.Aliases)
	}
	check(t, r, "models:/gen-041@champion", "1")
}

func TestRelabelMLmodel(t *testing.T) {
	in := Files(t, Small)["MLmodel"]
	out, err := relabelMLmodel(in, "m-0123", "run9", "mlflow-artifacts:/1/models/m-0123/artifacts")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"artifact_path": "mlflow-artifacts:/1/models/m-0123/artifacts", "model_id": "m-0123",
		"model_uuid": "m-0123", "run_id": "run9"}
	inLines, outLines := strings.Split(string(in), "\n"), strings.Split(string(out), "\n")
	if len(inLines) != len(outLines) {
		t.Fatalf("relabelled MLmodel has %d lines; want %d:\n%s", len(outLines), len(inLines), out)
	}
	changed := 0
	for i, line := range outLines {
		key, value, _ := strings.Cut(line, ": ")
		if w, ok := want[key]; ok {
			changed++
			if value != w {
				t.Errorf("%s: %q; want %q", key, value, w)
			}
		} else if line != inLines[i] {
			t.Errorf("line %d changed: %q; was %q", i+1, line, inLines[i])
		}
	}
	if changed != len(want) {
		t.Errorf("%d of the %d id lines found:\n%s", changed, len(want), out)
	}
	if _, err := relabelMLmodel([]byte("flavors: {}\n"), "m-1", "r", "x"); err == nil {
		t.Error("an MLmodel without ids was relabelled; want an error")
	}
}
