# mlgate: `make run` serves the example registry, `make test` runs every test.
# Both install what is missing (ONNX Runtime, Go modules) on a fresh machine.

SHELL := /bin/bash
GO ?= go
ORT_VERSION := 1.24.1
ORT_LIB := $(CURDIR)/.cache/onnxruntime/$(ORT_VERSION)/libonnxruntime.so.1
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
LISTEN ?= 127.0.0.1:8080
TEST_TIMEOUT ?= 25m

export MLGATE_ONNXRUNTIME_LIB ?= $(ORT_LIB)
export CGO_ENABLED := 1

.PHONY: all build run test test-short vet fmt-check bench fuzz onnxruntime deps clean

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
	./bin/mlgate serve --config examples/mlgate.yaml --listen $(LISTEN)

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The race detector makes sync.Pool drop items, and its shadow memory
# swells a process's RSS, so the zero-allocation and RSS tests skip under
# -race and run again in a second pass without it.
test: $(ORT_LIB) deps fmt-check vet
	$(GO) test -race -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(GO) test -count=1 -run 'Alloc|RequestsMemory' ./...

test-short: $(ORT_LIB) deps
	$(GO) test -short -count=1 ./...

bench: build
	./scripts/bench.sh

fuzz: $(ORT_LIB) deps
	./scripts/fuzz.sh

clean:
	rm -rf bin
