package main

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

func TestCategorize(t *testing.T) {
	tests := []struct{ fn, want string }{
		{"internal/runtime/syscall/linux.Syscall6", "syscalls"},
		{"syscall.RawSyscall6", "syscalls"},
		{"runtime.cgocall", "cgo / ONNX Runtime"},
		{"runtime._ExternalCode", "cgo / ONNX Runtime"},
		{"github.com/yalue/onnxruntime_go.(*DynamicAdvancedSession).Run", "cgo / ONNX Runtime"},
		{"onnxruntime::InferenceSession::Run(OrtRunOptions const&, long)", "cgo / ONNX Runtime"},
		{"github.com/mlgate/mlgate/signature.(*scratch).decodeSplit", "request decoding"},
		{"github.com/valyala/fastjson.(*Parser).Parse", "request decoding"},
		{"github.com/valyala/fasthttp.(*Server).serveConnCounted", "HTTP"},
		{"github.com/valyala/fasthttp/fasthttpadaptor.NewFastHTTPHandler.func1", "HTTP"},
		{"runtime.memmove", "Go scheduler / runtime"},
		{"internal/runtime/maps.(*Map).getWithKeySmall", "Go scheduler / runtime"},
		{"runtime/pprof.(*profileBuilder).addCPUData", "other"},
		{"github.com/mlgate/mlgate/serve.(*Server).invocations", "other"},
		{"bufio.(*Writer).Flush", "other"},
		{"indexbytebody", "other"},
	}
	for _, tt := range tests {
		if got := categorize(tt.fn); got != tt.want {
			t.Errorf("categorize(%q): got %q; want %q", tt.fn, got, tt.want)
		}
	}
}

// TestProfileCategories splits canned go tool pprof -top listings: one
// of a real mlgate profile (its sums computed independently of this
// code) and one with millisecond units, dropped nodes, an inlined and a C++
// function.
func TestProfileCategories(t *testing.T) {
	tests := []struct {
		file      string
		wantTotal float64
		wantRows  int
		wantFirst ProfileRow
		// want is seconds per category, in profileCategories order.
		want []float64
	}{
		{
			file:      "pprof-top-mlgate.txt",
			wantTotal: 3.03,
			wantRows:  224,
			wantFirst: ProfileRow{Flat: 1.26, FlatPct: 41.58, Cum: 1.26, CumPct: 41.58, Function: "internal/runtime/syscall/linux.Syscall6"},
			want:      []float64{1.31, 0.46, 0.13, 0.29, 0.36, 0.48},
		},
		{
			file:      "pprof-top-edge.txt",
			wantTotal: 0.85,
			wantRows:  6,
			wantFirst: ProfileRow{Flat: 0.57, FlatPct: 67.06, Cum: 0.57, CumPct: 67.06, Function: "internal/runtime/syscall/linux.Syscall6"},
			want:      []float64{0.57, 0.14, 0, 0.09, 0.04, 0.01},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			total, rows, err := parsePprofTop(b)
			if err != nil {
				t.Fatal(err)
			}
			if !near(total, tt.wantTotal) || len(rows) != tt.wantRows {
				t.Fatalf("got total %v s in %d rows; want %v s in %d", total, len(rows), tt.wantTotal, tt.wantRows)
			}
			if got := rows[0]; !near(got.Flat, tt.wantFirst.Flat) || got.FlatPct != tt.wantFirst.FlatPct ||
				!near(got.Cum, tt.wantFirst.Cum) || got.CumPct != tt.wantFirst.CumPct || got.Function != tt.wantFirst.Function {
				t.Errorf("first row: got %+v; want %+v", got, tt.wantFirst)
			}
			cats := categoryTimes(total, rows)
			if len(cats) != len(profileCategories) {
				t.Fatalf("got %d categories; want %d", len(cats), len(profileCategories))
			}
			var shares float64
			for i, c := range cats {
				if c.Name != profileCategories[i].name || !near(c.Seconds, tt.want[i]) {
					t.Errorf("category %d: got %s %.3f s; want %s %.3f s", i, c.Name, c.Seconds, profileCategories[i].name, tt.want[i])
				}
				shares += c.Share
			}
			if !near(shares, 1) {
				t.Errorf("shares add up to %v; want 1", shares)
			}
		})
	}
}

func TestParsePprofTopInlineAndC(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "pprof-top-edge.txt"))
	if err != nil {
		t.Fatal(err)
	}
	_, rows, err := parsePprofTop(b)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range map[int]string{3: "runtime.nanotime", 4: "onnxruntime::InferenceSession::Run(OrtRunOptions const&, long)"} {
		if rows[i].Function != want {
			t.Errorf("row %d: got function %q; want %q", i, rows[i].Function, want)
		}
	}
	if rows[5].Flat != 0 || !near(rows[5].Cum, 0.61) {
		t.Errorf("row 5: got flat %v, cum %v; want 0, 0.61", rows[5].Flat, rows[5].Cum)
	}
}

func TestParsePprofTopErrors(t *testing.T) {
	tests := []struct {
		name, out string
		want      error
	}{
		{"empty profile", "File: mlgate\nType: cpu\nDuration: 4s, Total samples = 0 \n      flat  flat%   sum%        cum   cum%\n", errNoSamples},
		{"not pprof", "no such file\n", nil},
		{"bad row", "Duration: 4s, Total samples = 1s (25%)\n      flat  flat%   sum%        cum   cum%\n     1x 100% 100% 1s 100%  main.f\n", nil},
	}
	for _, tt := range tests {
		_, _, err := parsePprofTop([]byte(tt.out))
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("%s: got error %v; want an error (%v)", tt.name, err, tt.want)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
