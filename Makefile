# mlgate: `make run` serves the example registry, `make test` runs every test.
# Both install what is missing (ONNX Runtime, Go modules) on a fresh machine.

SHELL := /bin/bash
GO ?= go
ORT_VERSION := 1.24.1
ORT_LIB := $(CURDIR)/.cache/onnxruntime/$(ORT_VERSION)/libonnxruntime.so.1
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
LISTEN ?= 127.0.0.1:8080
ADMIN_LISTEN ?= 127.0.0.1:8081
TEST_TIMEOUT ?= 25m

export MLGATE_ONNXRUNTIME_LIB ?= $(ORT_LIB)
export CGO_ENABLED := 1

.PHONY: all build run test test-short vet fmt-check bench pgo fuzz onnxruntime deps clean

all: build

onnxruntime: $(ORT_LIB)

$(ORT_LIB):
	./scripts/install-onnxruntime.sh

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
	./bin/mlgate serve --config examples/mlgate.yaml --listen $(LISTEN) --admin-listen $(ADMIN_LISTEN)

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The race detector makes sync.Pool drop items, so the zero-allocation tests
# skip under -race and run again in a second pass without it.
test: $(ORT_LIB) deps fmt-check vet
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -run 'Alloc' ./...

test-short: $(ORT_LIB) deps
	$(GO) test -short -count=1 ./...

# `make bench BENCH_FLAGS='-baseline-bin old/mlgate -lever body-once'` passes
# flags to the harness (./scripts/bench.sh -h lists them).
BENCH_FLAGS ?=

bench: build
	./scripts/bench.sh $(BENCH_FLAGS)

# Profiles mlgate under the benchmark loads and writes the merged profile to
# cmd/mlgate/default.pgo, which `go build` then uses (-pgo=auto). Its
# results go under bench/results/pgo/; BENCHMARKS.md is left alone.
pgo: build
	./scripts/bench.sh -phases pgo -pgo cmd/mlgate/default.pgo -gotest=false \
		-results bench/results/pgo -out bench/results/pgo/BENCHMARKS.md $(BENCH_FLAGS)

fuzz: $(ORT_LIB) deps
	./scripts/fuzz.sh

clean:
	rm -rf bin
