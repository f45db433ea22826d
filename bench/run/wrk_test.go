package main

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The testdata/wrk-*.txt files are the output of wrk 4.1.0 (Debian's
// package) driven by wrkScript's scripts against bin/ceiling: a status
// check pass, a measured pass, a wrong path (every answer 404) and a run
// during which the server was stopped.
func TestParseWrk(t *testing.T) {
	tests := []struct {
		file string
		want wrkResult
		// ok, errs and failures are what the tables use.
		ok, errs int64
		failures []string
	}{
		{
			file: "wrk-check.txt",
			want: wrkResult{Requests: 77170, Seconds: 2.002769, RequestsPerSec: 38531.65,
				P50: 606, P75: 716, P90: 800, P99: 1360, P999: 3843, Max: 5014, Mean: 621, StatusCounted: true},
			ok: 77170,
		},
		{
			file: "wrk-measure.txt",
			want: wrkResult{Requests: 100813, Seconds: 2.100294, RequestsPerSec: 47999.47,
				P50: 464, P75: 563, P90: 791, P99: 2570, P999: 5737, Max: 7741, Mean: 551},
			ok: 100813,
		},
		{
			file: "wrk-404.txt",
			want: wrkResult{Requests: 45929, Seconds: 1.009948, RequestsPerSec: 45476.60,
				P50: 488, P75: 604, P90: 744, P99: 2160, P999: 5893, Max: 12416, Mean: 551,
				ErrStatus: 45929, StatusCounted: true, Non200: 45929},
			ok: 0, errs: 45929, failures: []string{"status not 200 ×45929"},
		},
		{
			file: "wrk-killed.txt",
			want: wrkResult{Requests: 33812, Seconds: 2.002836, RequestsPerSec: 16882.06,
				P50: 670, P75: 793, P90: 940, P99: 2210, P999: 6041, Max: 6529, Mean: 720,
				Read: 32, Write: 39687, StatusCounted: true},
			ok: 33812, errs: 39719, failures: []string{"read ×32", "write ×39687"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			out, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseWrk(out)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
			if got.ok() != tt.ok || got.errors() != tt.errs || !reflect.DeepEqual(got.failures(), tt.failures) {
				t.Errorf("ok %d, errors %d, failures %q; want %d, %d, %q", got.ok(), got.errors(), got.failures(), tt.ok, tt.errs, tt.failures)
			}
			s := got.summary()
			if want := float64(tt.ok) / tt.want.Seconds; s.Throughput != want || s.OK != tt.ok || s.P99 != tt.want.P99 || s.P999 != tt.want.P999 {
				t.Errorf("summary %+v; want throughput %v, ok %d, p99 %d, p99.9 %d", s, want, tt.ok, tt.want.P99, tt.want.P999)
			}
		})
	}
}

func TestParseWrkIncomplete(t *testing.T) {
	full, err := os.ReadFile(filepath.Join("testdata", "wrk-measure.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var done string
	for line := range strings.Lines(string(full)) {
		if strings.HasPrefix(line, wrkDoneTag) {
			done = line
		}
	}
	tests := []struct {
		name, out, wantIn string
	}{
		{"empty", "", "no the 50% latency"},
		{"without --latency", strings.Replace(string(full), "Latency Distribution", "", 1), "run wrk with --latency"},
		{"without the script's line", strings.Replace(string(full), done, "", 1), wrkDoneTag},
		{"bad percentile", strings.Replace(string(full), "464.00us", "464.00", 1), "no unit"},
		{"bad done field", strings.Replace(string(full), "requests=100813", "requests=many", 1), `field "requests=many"`},
		{"done line short", strings.Replace(string(full), " p999_us=5737", "", 1), "lacks p999_us"},
		{"bad socket errors", strings.Replace(string(full), "Requests/sec", "  Socket errors: connect 0, lost 3\nRequests/sec", 1), `unknown kind "lost"`},
	}
	for _, tt := range tests {
		_, err := parseWrk([]byte(tt.out))
		if !errors.Is(err, errWrkOutput) || !strings.Contains(err.Error(), tt.wantIn) {
			t.Errorf("%s: got %v; want an %v error mentioning %q", tt.name, err, errWrkOutput, tt.wantIn)
		}
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"404.00us", 404, true},
		{"0.94ms", 940, true},
		{"1.31ms", 1310, true},
		{"2.05s", 2_050_000, true},
		{"1.50m", 90_000_000, true},
		{"12", 0, false},
		{"-1.00ms", 0, false},
		{"fastus", 0, false},
	}
	for _, tt := range tests {
		got, err := parseWrkDuration(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseWrkDuration(%q): got %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestWrkScript compares the scripts for churn-gbm's one-row bodies with the
// ones that produced testdata/wrk-*.txt.
func TestWrkScript(t *testing.T) {
	rows, err := loadRows(filepath.Join("..", "..", batchInputsPath))
	if err != nil {
		t.Fatal(err)
	}
	bodies := dataframePayload(rows, 1).Bodies
	golden(t, "wrk-check.golden.lua", wrkScript(bodies, true))
	golden(t, "wrk-measure.golden.lua", wrkScript(bodies, false))
}

func TestLuaLongString(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"a": 1}`, `[[{"a": 1}]]`},
		{`[[1]]`, `[=[[[1]]]=]`},
		{`]] and ]=]`, `[==[]] and ]=]]==]`},
		{"\nx", "[[\n\nx]]"},
	}
	for _, tt := range tests {
		if got := luaLongString(tt.in); got != tt.want {
			t.Errorf("luaLongString(%q): got %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestWrkArgs(t *testing.T) {
	r := wrkRun{bin: "wrk", url: "http://127.0.0.1:1/invocations", script: "s.lua", threads: 1, connections: 32, seconds: wholeSeconds(2500e6)}
	want := []string{"-t1", "-c32", "-d3s", "--timeout", wrkTimeout, "--latency", "-s", "s.lua", "http://127.0.0.1:1/invocations"}
	if got := r.args(); !reflect.DeepEqual(got, want) {
		t.Errorf("args: got %q; want %q", got, want)
	}
	for d, want := range map[int64]int{0: 1, 1: 1, 1e9: 1, 1e9 + 1: 2, 3e9: 3} {
		if got := wholeSeconds(time.Duration(d)); got != want {
			t.Errorf("wholeSeconds(%v): got %d; want %d", time.Duration(d), got, want)
		}
	}
}
