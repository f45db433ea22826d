package infer

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlgate/mlgate/signature"
)

// newTensor creates a tensor of dtype and shape backed by a Go slice, which
// it returns through a signature.Output view so that the caller can read or
// write the data without type switches. String tensors have no Go backing;
// the view's S is nil and the data goes through SetContents.
func newTensor(dtype signature.DType, shape []int64) (ort.Value, signature.Output, error) {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	s := ort.NewShape(shape...)
	view := signature.Output{DType: dtype, Shape: append([]int64(nil), shape...)}
	var (
		v   ort.Value
		err error
	)
	switch dtype {
	case signature.Float32:
		view.F32 = make([]float32, n)
		v, err = ort.NewTensor(s, view.F32)
	case signature.Float64:
		view.F64 = make([]float64, n)
		v, err = ort.NewTensor(s, view.F64)
	case signature.Int32:
		view.I32 = make([]int32, n)
		v, err = ort.NewTensor(s, view.I32)
	case signature.Int64:
		view.I64 = make([]int64, n)
		v, err = ort.NewTensor(s, view.I64)
	case signature.Bool:
		view.B = make([]bool, n)
		v, err = ort.NewTensor(s, view.B)
	case signature.String:
		v, err = ort.NewStringTensor(s)
	default:
		return nil, view, fmt.Errorf("tensor element type %s is not supported", dtype)
	}
	if err != nil {
		return nil, view, fmt.Errorf("create %s tensor %s: %w", dtype, shapeString(shape), err)
	}
	return v, view, nil
}

// valueToOutput converts a value that ONNX Runtime allocated into an Output
// view. The view's slices are Go memory that stays valid after v is
// destroyed.
func valueToOutput(name string, v ort.Value) (signature.Output, error) {
	out := signature.Output{Name: name}
	switch t := v.(type) {
	case *ort.Tensor[float32]:
		out.DType, out.F32 = signature.Float32, t.GetData()
	case *ort.Tensor[float64]:
		out.DType, out.F64 = signature.Float64, t.GetData()
	case *ort.Tensor[int32]:
		out.DType, out.I32 = signature.Int32, t.GetData()
	case *ort.Tensor[int64]:
		out.DType, out.I64 = signature.Int64, t.GetData()
	case *ort.Tensor[bool]:
		out.DType, out.B = signature.Bool, t.GetData()
	case *ort.StringTensor:
		s, err := t.GetContents()
		if err != nil {
			return out, fmt.Errorf("output %s: read strings: %w", name, err)
		}
		out.DType, out.S = signature.String, s
	case *ort.Sequence:
		vals, err := t.GetValues()
		if err != nil {
			return out, fmt.Errorf("output %s: read sequence: %w", name, err)
		}
		out.Seq = make([]signature.MapValue, len(vals))
		for i, e := range vals {
			mv, err := mapValue(e)
			if err != nil {
				return out, fmt.Errorf("output %s element %d: %w", name, i, err)
			}
			out.Seq[i] = mv
		}
		out.Shape = []int64{int64(len(vals))}
		return out, nil
	default:
		return out, fmt.Errorf("output %s: values of type %T are not supported", name, v)
	}
	out.Shape = append([]int64(nil), v.GetShape()...)
	return out, nil
}

// mapValue converts one map of a sequence-of-maps output (sklearn's ZipMap
// yields map(int64|string, float)).
func mapValue(v ort.Value) (signature.MapValue, error) {
	var mv signature.MapValue
	m, ok := v.(*ort.Map)
	if !ok {
		return mv, fmt.Errorf("sequence element of type %T is not a map", v)
	}
	keys, vals, err := m.GetKeysAndValues()
	if err != nil {
		return mv, fmt.Errorf("read map: %w", err)
	}
	switch k := keys.(type) {
	case *ort.Tensor[int64]:
		mv.IntKeys = append([]int64(nil), k.GetData()...)
	case *ort.StringTensor:
		s, err := k.GetContents()
		if err != nil {
			return mv, fmt.Errorf("read map keys: %w", err)
		}
		mv.StrKeys = s
	default:
		return mv, fmt.Errorf("map keys of type %T are not supported", keys)
	}
	switch x := vals.(type) {
	case *ort.Tensor[float32]:
		mv.Values = make([]float64, len(x.GetData()))
		for i, f := range x.GetData() {
			mv.Values[i] = float64(f)
		}
	case *ort.Tensor[float64]:
		mv.Values = append([]float64(nil), x.GetData()...)
	case *ort.Tensor[int64]:
		mv.Values = make([]float64, len(x.GetData()))
		for i, f := range x.GetData() {
			mv.Values[i] = float64(f)
		}
	default:
		return mv, fmt.Errorf("map values of type %T are not supported", vals)
	}
	return mv, nil
}

// copyFeed writes f into the tensor view dst starting at element offset off.
func copyFeed(dst *signature.Output, off int, f *signature.Feed) {
	switch f.DType {
	case signature.Float32:
		copy(dst.F32[off:], f.F32)
	case signature.Float64:
		copy(dst.F64[off:], f.F64)
	case signature.Int32:
		copy(dst.I32[off:], f.I32)
	case signature.Int64:
		copy(dst.I64[off:], f.I64)
	case signature.Bool:
		copy(dst.B[off:], f.B)
	case signature.String:
		dst.S = append(dst.S[:off], f.S...)
	}
}

// sliceRows copies rows [off, off+rows) along axis of src into dst, reusing
// dst's backing arrays. dst.Shape becomes src.Shape with that axis = rows.
// An axis of -1 copies src whole.
func sliceRows(dst, src *signature.Output, axis, off, rows int) {
	dst.Name = src.Name
	dst.DType = src.DType
	dst.Shape = append(dst.Shape[:0], src.Shape...)
	if src.Seq != nil {
		if axis < 0 {
			dst.Seq = src.Seq
		} else {
			dst.Seq = src.Seq[off : off+rows]
			dst.Shape[0] = int64(rows)
		}
		return
	}
	dst.Seq = nil
	if axis < 0 {
		outer, inner := 1, elems(src)
		copyBlocks(dst, src, outer, inner, 0, inner, inner)
		return
	}
	dst.Shape[axis] = int64(rows)
	outer, inner := 1, 1
	for i, d := range src.Shape {
		switch {
		case i < axis:
			outer *= int(d)
		case i > axis:
			inner *= int(d)
		}
	}
	span := int(src.Shape[axis]) * inner
	copyBlocks(dst, src, outer, rows*inner, off*inner, span, rows*inner)
}

func elems(o *signature.Output) int {
	n := 1
	for _, d := range o.Shape {
		n *= int(d)
	}
	return n
}

// copyBlocks copies outer blocks of n elements; block i starts at
// i*srcStride+srcOff in src and i*dstStride in dst.
func copyBlocks(dst, src *signature.Output, outer, n, srcOff, srcStride, dstStride int) {
	switch src.DType {
	case signature.Float32:
		dst.F32 = blocks(dst.F32, src.F32, outer, n, srcOff, srcStride, dstStride)
	case signature.Float64:
		dst.F64 = blocks(dst.F64, src.F64, outer, n, srcOff, srcStride, dstStride)
	case signature.Int32:
		dst.I32 = blocks(dst.I32, src.I32, outer, n, srcOff, srcStride, dstStride)
	case signature.Int64:
		dst.I64 = blocks(dst.I64, src.I64, outer, n, srcOff, srcStride, dstStride)
	case signature.Bool:
		dst.B = blocks(dst.B, src.B, outer, n, srcOff, srcStride, dstStride)
	case signature.String:
		dst.S = blocks(dst.S, src.S, outer, n, srcOff, srcStride, dstStride)
	}
}

// blocks is copyBlocks for one element type, reusing dst's backing array.
func blocks[T any](dst, src []T, outer, n, srcOff, srcStride, dstStride int) []T {
	dst = grow(dst, outer*dstStride)
	for i := range outer {
		copy(dst[i*dstStride:i*dstStride+n], src[i*srcStride+srcOff:])
	}
	return dst
}

func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
