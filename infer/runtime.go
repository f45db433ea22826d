// Package infer owns ONNX Runtime: the process-wide environment, one session
// per loaded model version, the typed tensors fed to it, dynamic batching of
// concurrent requests, and the reference-counted lifetime of a loaded
// version. It is the only package that uses cgo (through onnxruntime_go);
// onnxruntime_go types never leave it.
//
// Predict returns output views (a signature.Prediction); encoding them for
// a protocol is the caller's job. infer imports signature (for plans, feeds
// and outputs; warm-up checks that a version's outputs encode) and no other
// mlgate package: it knows nothing of HTTP, routes or the registry.
package infer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// ORTVersion is the ONNX Runtime release mlgate is built and tested against
// (onnxruntime_go v1.27.0 speaks its C API).
const ORTVersion = "1.24.1"

// LibraryName is the file name of the ONNX Runtime shared library on Linux.
const LibraryName = "libonnxruntime.so.1"

// LibraryEnv is the environment variable that names the ONNX Runtime shared
// library to load. The --onnxruntime-lib flag overrides it.
const LibraryEnv = "MLGATE_ONNXRUNTIME_LIB"

// FindLibrary returns the path of the ONNX Runtime shared library to load.
// An explicit path wins; then $MLGATE_ONNXRUNTIME_LIB; then lib/ next to the
// executable and ../lib relative to it (where `make build` and the container
// image put it); then the repository's .cache/onnxruntime/<version>/ when the
// working directory is inside a checkout (where `make` installs it); and
// finally the bare library name, which the dynamic loader resolves through
// LD_LIBRARY_PATH and the system library directories.
func FindLibrary(explicit string) (string, error) {
	if explicit != "" {
		if _, err := os.Stat(explicit); err != nil {
			return "", fmt.Errorf("onnx runtime library %s: %w", explicit, err)
		}
		return explicit, nil
	}
	if p := os.Getenv(LibraryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("onnx runtime library from %s=%s: %w", LibraryEnv, p, err)
		}
		return p, nil
	}
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		dir := filepath.Dir(exe)
		candidates = append(candidates,
			filepath.Join(dir, "lib", LibraryName),
			filepath.Join(dir, "..", "lib", LibraryName))
	}
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				candidates = append(candidates, filepath.Join(dir, ".cache", "onnxruntime", ORTVersion, LibraryName))
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return LibraryName, nil
}

var env struct {
	mu      sync.Mutex
	path    string
	version string
	err     error
}

// Init loads the ONNX Runtime shared library at path and creates the
// process-wide environment. It is safe to call more than once: later calls
// with the same path return the first call's result; a different path is an
// error, since one process holds one runtime.
func Init(path string) error {
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.path != "" {
		if path != env.path {
			return fmt.Errorf("onnx runtime already initialised from %s; cannot switch to %s", env.path, path)
		}
		return env.err
	}
	env.path = path
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		env.err = fmt.Errorf("initialise onnx runtime from %s (mlgate needs ONNX Runtime %s; run `make onnxruntime` or set %s): %w",
			path, ORTVersion, LibraryEnv, err)
		return env.err
	}
	env.version = ort.GetVersion()
	return nil
}

// Version returns the version of the initialised ONNX Runtime, or "" before
// Init has succeeded.
func Version() string {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.version
}

// ErrNotInitialized is returned by Load before Init has succeeded.
var ErrNotInitialized = errors.New("onnx runtime is not initialised")

func initialized() bool {
	env.mu.Lock()
	defer env.mu.Unlock()
	return env.path != "" && env.err == nil
}
