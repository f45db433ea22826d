package main

import (
	"reflect"
	"testing"
)

func TestBenchAllocs(t *testing.T) {
	out := []byte(`goos: linux
goarch: amd64
pkg: github.com/mlgate/mlgate/serve
cpu: AMD EPYC
BenchmarkHandler/rows=1-2         	  543210	      4502 ns/op	  35.98 MB/s	       0 B/op	       0 allocs/op
BenchmarkHandler/rows=1-2         	  550000	      4490 ns/op	  36.01 MB/s	       0 B/op	       0 allocs/op
BenchmarkLoopback/tokens=off-2    	   30000	     33630 ns/op	    1549 B/op	      26 allocs/op
BenchmarkLoopback/tokens=off-2    	   30000	     33630 ns/op	    1549 B/op	      24 allocs/op
BenchmarkLoopback/tokens=off-2    	   30000	     33630 ns/op	    1549 B/op	      25 allocs/op
BenchmarkShadowOverhead/shadow=slow-2 	  100000	      6842 ns/op	       352 B/op	       3 allocs/op	  4.1 p50-µs
BenchmarkNoMem-2                  	  100000	      6842 ns/op
PASS
ok  	github.com/mlgate/mlgate/serve	12.3s
`)
	want := []BenchAllocs{
		{Name: "BenchmarkHandler/rows=1", Runs: 2, Max: 0, Median: 0},
		{Name: "BenchmarkLoopback/tokens=off", Runs: 3, Max: 26, Median: 25},
		{Name: "BenchmarkShadowOverhead/shadow=slow", Runs: 1, Max: 3, Median: 3},
	}
	if got := benchAllocs(out); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v; want %+v", got, want)
	}
}
