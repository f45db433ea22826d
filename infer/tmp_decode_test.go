package infer

import (
	"context"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/signature"
)

func BenchmarkTmpDecodeMLP(b *testing.B) {
	m, err := Load(context.Background(), testutil.Path(b, "testdata", "models", "mlp256"), Config{Workers: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Release()
	pb := m.Plan().GetBatch()
	body := mlpBody(1)
	for b.Loop() {
		if err := m.Plan().Decode(signature.FormatJSON, body, pb); err != nil {
			b.Fatal(err)
		}
	}
}
