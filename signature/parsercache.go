package signature

import (
	"reflect"
	"unsafe"

	"github.com/valyala/fastjson"
)

// fastjson's Parser keeps the values of a parse in one slice that it grows
// by append while the values already parsed still point into the old
// arrays, so a parse of n values on a cold parser keeps about 5n values
// alive (append grows large slices by a quarter). reserveValues sizes
// that slice before the parse, from the count the scanner made, so that
// the parse makes one allocation of exactly n values.
//
// The slice is an unexported field of the pinned fastjson version;
// valueCacheOffset finds it once, by name and type, and is -1 when a
// fastjson upgrade changed the layout. Parsing then only loses the
// presizing, and TestReserveValues fails to say so.
var valueCacheOffset = func() uintptr {
	c, ok := reflect.TypeFor[fastjson.Parser]().FieldByName("c")
	if !ok || c.Type.Kind() != reflect.Struct {
		return ^uintptr(0)
	}
	vs, ok := c.Type.FieldByName("vs")
	if !ok || vs.Type != reflect.TypeFor[[]fastjson.Value]() {
		return ^uintptr(0)
	}
	return c.Offset + vs.Offset
}()

// reserveValues makes p's value cache hold at least n values without
// growing.
func reserveValues(p *fastjson.Parser, n int) {
	if valueCacheOffset == ^uintptr(0) {
		return
	}
	vs := (*[]fastjson.Value)(unsafe.Add(unsafe.Pointer(p), valueCacheOffset))
	if cap(*vs) < n {
		*vs = make([]fastjson.Value, 0, n)
	}
}

// valueCacheCap returns the number of values p's cache holds, or 0 when
// the layout is unknown.
func valueCacheCap(p *fastjson.Parser) int {
	if valueCacheOffset == ^uintptr(0) {
		return 0
	}
	return cap(*(*[]fastjson.Value)(unsafe.Add(unsafe.Pointer(p), valueCacheOffset)))
}
