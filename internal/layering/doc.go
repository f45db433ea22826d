// Package layering holds mlgate's import rules as a test (layering_test.go),
// read from `go list`: which package may import which, so that the rules
// hold by a check rather than by care. It has no code of its own.
package layering
