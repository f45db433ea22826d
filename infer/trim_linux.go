//go:build linux && cgo

package infer

/*
#include <stdlib.h>
#ifdef __GLIBC__
#include <malloc.h>
static int mlgate_trim(void) { return malloc_trim(0); }
#else
static int mlgate_trim(void) { return 0; }
#endif
*/
import "C"

// TrimMemory hands the free memory of the C heap back to the operating
// system (glibc's malloc_trim; nothing elsewhere). ONNX Runtime's sessions
// allocate with malloc, and glibc keeps what a destroyed session freed in
// its per-thread arenas for reuse: a process that loads and unloads many
// models keeps the high-water mark of them all resident unless it is
// trimmed. It takes a few milliseconds on a large heap; call it off the
// request path, after models were unloaded.
func TrimMemory() { C.mlgate_trim() }
