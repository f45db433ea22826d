# mlgate: `make run` serves the example registry, `make test` runs every test.
# Both install what is missing (ONNX Runtime, Go modules, and for the tests a
# MinIO server) on a fresh machine.

SHELL := /bin/bash
GO ?= go
ORT_VERSION := 1.24.1
ORT_LIB := $(CURDIR)/.cache/onnxruntime/$(ORT_VERSION)/libonnxruntime.so.1
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
LISTEN ?= 127.0.0.1:8080
ADMIN_LISTEN ?= 127.0.0.1:8081
GRPC_LISTEN ?= 127.0.0.1:8085
TEST_TIMEOUT ?= 25m

# Programs the tests run, built once per machine with `go install pkg@version`
# into a cache outside the clone (scripts/install-tool.sh).
TOOLS_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mlgate/tools
MINIO_VERSION := v0.0.0-20260212201848-7aac2a2c5b7c
MINIO_BIN := $(TOOLS_DIR)/minio-$(MINIO_VERSION)/minio
# grpcurl, a gRPC client mlgate did not write, which the gRPC tests drive.
GRPCURL_VERSION := v1.9.3
GRPCURL_BIN := $(TOOLS_DIR)/grpcurl-$(GRPCURL_VERSION)/grpcurl

# The generators of serve/oip's Go code (make proto).
export PROTOC_VERSION := 3.21.12
export PROTOC_GEN_GO_VERSION := v1.36.12
export PROTOC_GEN_GO_GRPC_VERSION := v1.6.1

export MLGATE_ONNXRUNTIME_LIB ?= $(ORT_LIB)
export MLGATE_MINIO_BIN ?= $(MINIO_BIN)
export MLGATE_GRPCURL_BIN ?= $(GRPCURL_BIN)
export MLGATE_TOOLS_DIR := $(TOOLS_DIR)
export CGO_ENABLED := 1

.PHONY: all build run test test-short vet fmt-check bench pgo fuzz onnxruntime tools chromium deps screenshot proto image image-digests clean

all: build

onnxruntime: $(ORT_LIB)

$(ORT_LIB):
	./scripts/install-onnxruntime.sh

tools: $(MINIO_BIN) $(GRPCURL_BIN)

# The S3 tests start this MinIO server (github.com/minio/minio, the newest
# version the module proxy serves). Building it takes 3 to 13 minutes on two
# cores, once per machine.
$(MINIO_BIN):
	./scripts/install-tool.sh minio github.com/minio/minio $(MINIO_VERSION) >/dev/null

$(GRPCURL_BIN):
	./scripts/install-tool.sh grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl $(GRPCURL_VERSION) >/dev/null

# Regenerates serve/oip's Go code from its .proto with the pinned protoc
# and plugins; TestGeneratedCodeIsCurrent checks the committed code
# against the .proto in make test.
proto:
	./scripts/proto.sh

# The status page's browser test drives Debian's chromium; installed when
# missing (as root), else the test fails saying so.
chromium:
	./scripts/install-chromium.sh

deps:
	$(GO) mod download

# The binary looks for lib/libonnxruntime.so.1 next to itself, so bin/mlgate
# runs without any environment once `make build` has finished.
build: $(ORT_LIB) deps
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/mlgate ./cmd/mlgate
	mkdir -p bin/lib
	@# Replace the library by rename, never in place: a running mlgate maps it,
	@# and rewriting a mapped .so under a live process crashes it.
	cmp -s $(ORT_LIB) bin/lib/libonnxruntime.so.1 || \
		{ cp $(ORT_LIB) bin/lib/.libonnxruntime.so.1.tmp && mv -f bin/lib/.libonnxruntime.so.1.tmp bin/lib/libonnxruntime.so.1; }

run: build
	@echo "mlgate: scoring on http://$(LISTEN), status page on http://$(ADMIN_LISTEN)/status"
	./bin/mlgate serve --config examples/mlgate.yaml --listen $(LISTEN) --admin-listen $(ADMIN_LISTEN) --grpc-listen $(GRPC_LISTEN)

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The race detector makes sync.Pool drop items, and its shadow memory
# swells a process's RSS, so the zero-allocation and RSS tests skip under
# -race and run again in a second pass without it.
test: $(ORT_LIB) tools chromium deps fmt-check vet
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -run 'Alloc|RequestsMemory|BudgetMemory' ./...

test-short: $(ORT_LIB) tools chromium deps
	$(GO) test -short -count=1 ./...

# `make bench BENCH_FLAGS='-baseline-bin old/mlgate -lever body-once'` passes
# flags to the harness (./scripts/bench.sh -h lists them). Its last phase
# rewrites cmd/mlgate/default.pgo, the profile the next build is optimised
# with, from mlgate under the benchmark loads.
BENCH_FLAGS ?=

bench: build
	./scripts/bench.sh -pgo cmd/mlgate/default.pgo $(BENCH_FLAGS)

# Profiles mlgate under the benchmark loads and writes the merged profile to
# cmd/mlgate/default.pgo, which `go build` then uses (-pgo=auto). Its
# results go under bench/results/pgo/; BENCHMARKS.md is left alone.
pgo: build
	./scripts/bench.sh -phases pgo -pgo cmd/mlgate/default.pgo -gotest=false \
		-results bench/results/pgo -out bench/results/pgo/BENCHMARKS.md $(BENCH_FLAGS)

# Regenerates the status page's screenshots in docs/images (the README's
# included): the browser test serving make run's routes with traffic and an
# alias move, at 1280x800, at a phone's 390x844, and the whole page.
screenshot: $(ORT_LIB) chromium deps
	MLGATE_TEST_OUTPUT=$(CURDIR)/docs/images $(GO) test -count=1 -run '^TestStatusPageInBrowser$$' ./cmd/mlgate

fuzz: $(ORT_LIB) deps
	./scripts/fuzz.sh

# The container image (Dockerfile) for linux/amd64 and linux/arm64, with
# docker buildx. IMAGE_PUSH=true pushes it to IMAGE; otherwise the result
# stays in the builder's cache, since a multi-platform image cannot be loaded
# into the classic Docker image store (for a local one:
# IMAGE_PLATFORMS=linux/amd64 IMAGE_OUTPUT=--load). IMAGE_GOPROXY and
# IMAGE_NPM_REGISTRY point the build at a Go module proxy and an npm
# registry mirror.
IMAGE ?= mlgate:$(VERSION)
IMAGE_PLATFORMS ?= linux/amd64,linux/arm64
IMAGE_PUSH ?= false
IMAGE_OUTPUT ?= $(if $(filter true,$(IMAGE_PUSH)),--push,)
IMAGE_GOPROXY ?= https://proxy.golang.org,direct
IMAGE_NPM_REGISTRY ?= https://registry.npmjs.org/

image:
	docker buildx build --platform $(IMAGE_PLATFORMS) \
		--build-arg VERSION=$(VERSION) \
		--build-arg REVISION=$(shell git rev-parse HEAD 2>/dev/null || echo unknown) \
		--build-arg GOPROXY=$(IMAGE_GOPROXY) \
		--build-arg NPM_CONFIG_REGISTRY=$(IMAGE_NPM_REGISTRY) \
		$(IMAGE_OUTPUT) -t $(IMAGE) .

# Prints, for each base image the Dockerfile pins (ARG *_IMAGE=name:tag@sha256:...),
# the digest its tag points at now, from the registry: the values to refresh
# those lines with.
image-digests:
	@sed -n 's/^ARG [A-Z_]*_IMAGE=\([^@]*\)@sha256:.*/\1/p' Dockerfile | while read -r ref; do \
		printf '%s@%s\n' "$$ref" "$$(docker buildx imagetools inspect "$$ref" --format '{{json .Manifest.Digest}}' | tr -d '"')"; \
	done

clean:
	rm -rf bin
