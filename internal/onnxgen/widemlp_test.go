package onnxgen

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
)

// TestWideMLPPinned pins the bytes of the widemlp fixture, which is not
// stored in the repository: every benchmark run generates the same model,
// so runs on different days and machines measure the same thing. A change
// to the generator that moves them must update the hashes here and say so.
func TestWideMLPPinned(t *testing.T) {
	f := fixtureFiles(t)[WideMLPName]
	want := map[string]string{
		"MLmodel":                              "dc0b71ac880f5b88d1a7bd88ec59311dbe16153597bcf5ab04a113c7a011d7a0",
		"69a4180e-2de8-5236-b65a-3e33f5e02b87": "4877c89435ef59290ae86bb70271fa210e62e48a9e0964ee08a69ba314a0cc15",
		"conda.yaml":                           "68de97013d666be0e4523d411ed6b39171a765ff573e78866201f1e3fa0372ec",
		"expected.json":                        "4f071c58e00b98cf13ceeac31402c297068392a070cdf54bcc3ef02747c3e574",
		"input_example.json":                   "7072846fa73a6b87275ea5f1ffcdb2f3953cbe3cefa2d2e2d99a0461ab967ca5",
		"model.onnx":                           "6cf00fbf127ecc481c7f22656ed2d22689f0fd2e6ac6485decf5201f97a01f4a",
		"python_env.yaml":                      "d73ac39cdbd20a5c1e47d8d9dcce455d097ab48c670a35686ba49a0ba1e5a757",
		"requirements.txt":                     "31095b2aa4c2e10aacc8421bd0fd187450b8cf1fcb99ec8cb1813399cecb4d02",
		"serving_input_example.json":           "8ac99af160e2e0b6433344bd2543138bee23d6c1cd111f5c66d0ca615b972b7b",
	}
	got := map[string]string{}
	for _, file := range f.Files {
		sum := sha256.Sum256(file.Data)
		got[file.Name] = hex.EncodeToString(sum[:])
	}
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: sha256 %s; want %s", name, got[name], sum)
		}
	}
	if len(got) != len(want) {
		t.Errorf("widemlp has %d files; want %d", len(got), len(want))
	}
}
