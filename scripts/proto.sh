#!/usr/bin/env bash
# Regenerates serve/oip's Go code from serve/oip/grpc_predict_v2.proto with
# the pinned generators (`make proto`):
#
#   protoc (apt protobuf-compiler) PROTOC_VERSION, checked
#   protoc-gen-go       google.golang.org/protobuf/cmd/protoc-gen-go@PROTOC_GEN_GO_VERSION
#   protoc-gen-go-grpc  google.golang.org/grpc/cmd/protoc-gen-go-grpc@PROTOC_GEN_GO_GRPC_VERSION
#
# The plugins are built once per machine by scripts/install-tool.sh. The
# versions come from the Makefile's environment.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${PROTOC_VERSION:?set by the Makefile}" "${PROTOC_GEN_GO_VERSION:?}" "${PROTOC_GEN_GO_GRPC_VERSION:?}"
if ! command -v protoc >/dev/null; then
	echo "proto: protoc is missing; install it (apt-get install protobuf-compiler, version $PROTOC_VERSION)" >&2
	exit 1
fi
have=$(protoc --version)
if [ "$have" != "libprotoc $PROTOC_VERSION" ]; then
	echo "proto: protoc is $have; the committed code was generated with libprotoc $PROTOC_VERSION" >&2
	exit 1
fi
gen_go=$(scripts/install-tool.sh protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go "$PROTOC_GEN_GO_VERSION")
gen_grpc=$(scripts/install-tool.sh protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc "$PROTOC_GEN_GO_GRPC_VERSION")
pkg=github.com/mlgate/mlgate/serve/oip
protoc -I serve/oip \
	--plugin=protoc-gen-go="$gen_go" --plugin=protoc-gen-go-grpc="$gen_grpc" \
	--go_out=serve/oip --go_opt=paths=source_relative,Mgrpc_predict_v2.proto=$pkg \
	--go-grpc_out=serve/oip --go-grpc_opt=paths=source_relative,Mgrpc_predict_v2.proto=$pkg \
	grpc_predict_v2.proto
echo "proto: regenerated serve/oip/grpc_predict_v2.pb.go and grpc_predict_v2_grpc.pb.go"
