package oip_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/serve/oip"
)

// TestGeneratedCodeIsCurrent checks the committed Go code against
// grpc_predict_v2.proto without protoc, which CI machines lack: grpcurl,
// a parser mlgate did not write, compiles the .proto, and its descriptor
// must equal the one embedded in the generated code (so a .proto edited
// without `make proto` fails); and the generated files must name the
// generator versions the Makefile pins (so a bumped generator without
// regenerating fails). `make proto` on a machine with protoc regenerates
// the code byte for byte.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	bin := os.Getenv("MLGATE_GRPCURL_BIN")
	if bin == "" {
		t.Fatal("MLGATE_GRPCURL_BIN is not set; make test installs grpcurl and sets it")
	}
	set := filepath.Join(t.TempDir(), "oip.protoset")
	out, err := exec.Command(bin, "-import-path", ".", "-proto", "grpc_predict_v2.proto", "-protoset-out", set,
		"describe", "inference.GRPCInferenceService").CombinedOutput()
	if err != nil {
		t.Fatalf("grpcurl describe: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(set)
	if err != nil {
		t.Fatal(err)
	}
	var fds descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(raw, &fds); err != nil {
		t.Fatal(err)
	}
	var parsed *descriptorpb.FileDescriptorProto
	for _, f := range fds.File {
		if f.GetName() == "grpc_predict_v2.proto" {
			parsed = f
		}
	}
	if parsed == nil {
		t.Fatalf("grpcurl's descriptor set has no grpc_predict_v2.proto")
	}
	generated := protodesc.ToFileDescriptorProto(oip.File_grpc_predict_v2_proto)
	for _, f := range []*descriptorpb.FileDescriptorProto{parsed, generated} {
		f.SourceCodeInfo = nil
		clearJSONNames(f.MessageType)
	}
	if !proto.Equal(parsed, generated) {
		t.Errorf("the generated code does not match grpc_predict_v2.proto; run make proto\nparsed:    %v\ngenerated: %v", parsed, generated)
	}

	makefile, err := os.ReadFile(filepath.Join(testutil.RepoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	pin := func(name string) string {
		m := regexp.MustCompile(`(?m)^export ` + name + ` := (\S+)$`).FindSubmatch(makefile)
		if m == nil {
			t.Fatalf("Makefile pins no %s", name)
		}
		return string(m[1])
	}
	for file, want := range map[string][]string{
		"grpc_predict_v2.pb.go":      {"// \tprotoc-gen-go " + pin("PROTOC_GEN_GO_VERSION") + "\n", "// \tprotoc        v" + pin("PROTOC_VERSION") + "\n"},
		"grpc_predict_v2_grpc.pb.go": {"// - protoc-gen-go-grpc " + pin("PROTOC_GEN_GO_GRPC_VERSION") + "\n", "// - protoc             v" + pin("PROTOC_VERSION") + "\n"},
	} {
		code, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(code), w) {
				t.Errorf("%s does not say %q; regenerate it with make proto", file, strings.TrimSpace(w))
			}
		}
	}
}

func clearJSONNames(ms []*descriptorpb.DescriptorProto) {
	for _, m := range ms {
		for _, f := range m.Field {
			f.JsonName = nil
		}
		clearJSONNames(m.NestedType)
	}
}
