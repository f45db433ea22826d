//go:build !linux || !cgo

package infer

// TrimMemory does nothing here: only glibc's malloc_trim is used.
func TrimMemory() {}
