package registrygen

import (
	"strconv"
	"testing"

	"github.com/mlgate/mlgate/internal/fakemlflow"
)

// Fake registers models in the fake MLflow server srv with its CreateModel,
// AddVersion and SetAlias, which deliver the webhooks a real server would:
// each version is a READY LoggedModel in experiment 1 with a random ID
// holding the kind's Files, served through mlflow-artifacts. The fake
// cannot add runs, so the versions have no run_id, and their MLmodel keeps
// the fixture's stand-in model_id and run_id (the LoggedModel's ID is only
// chosen by AddVersion). The models must not exist in srv; any failure
// fails the test.
func Fake(tb testing.TB, srv *fakemlflow.Server, models []Model) {
	tb.Helper()
	for _, m := range models {
		srv.CreateModel(m.Name, m.Description, nil)
		for i, v := range m.Versions {
			got := srv.AddVersion(fakemlflow.Version{Name: m.Name, Files: Files(tb, v.Kind), Description: v.Description})
			if want := strconv.Itoa(i + 1); got != want {
				tb.Fatalf("registrygen: model %s: AddVersion made version %s; want %s", m.Name, got, want)
			}
		}
		for alias, v := range m.Aliases {
			if v < 1 || v > len(m.Versions) {
				tb.Fatalf("registrygen: model %s: alias %s: no version %d", m.Name, alias, v)
			}
			srv.SetAlias(m.Name, alias, strconv.Itoa(v))
		}
	}
}
