package serve

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/internal/testutil"
)

// poolCalibration is more requests than fasthttp's byte-buffer pools
// (bytebufferpool) serve between two recalibrations (42,000), after which
// they drop buffers larger than the sizes they have mostly seen.
const poolCalibration = 50_000

// TestHandlerAllocationsAfterSizeChange serves many one-row requests, then
// checks that 16-row requests, and one-row requests again, allocate
// nothing: pools that size themselves by what they have seen (fasthttp's,
// mlgate's batch and response pools, the workers' tensor plans) must not
// start allocating when the size of requests changes. A count over a few
// hundred warm requests cannot see that; benchmarks that run a larger body
// after a smaller one for seconds did.
func TestHandlerAllocationsAfterSizeChange(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	s, ctx := inMemory(t, 1, champion)
	one := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [[37, 36.0, 1306.52, 1]]}}`
	sixteen := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [` +
		rowsOf(16, `[37, 36.0, 1306.52, 1]`) + `]}}`
	serve := func(body string) func() {
		return func() {
			setRequest(ctx, "/invocations", "application/json", body)
			ctx.Response.Reset()
			s.Handler(ctx)
			if ctx.Response.StatusCode() != 200 {
				t.Fatalf("status %d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	for range poolCalibration {
		serve(one)()
	}
	serve(sixteen)()
	if n := testing.AllocsPerRun(2000, serve(sixteen)); n != 0 {
		t.Errorf("16 rows after %d one-row requests: %v allocations per request; want 0", poolCalibration, n)
	}
	if n := testing.AllocsPerRun(2000, serve(one)); n != 0 {
		t.Errorf("one row after 16 rows: %v allocations per request; want 0", n)
	}
}

// TestLoopbackAllocations counts every allocation of the process while a
// kept-alive loopback connection sends scoring requests of one and 16 rows,
// alternating, to a listening server: fasthttp's connection loop, the
// listener and the handler together allocate nothing per request once
// warm. The client writes prepared bytes and reads each response into a
// fixed buffer, so that it allocates nothing itself.
func TestLoopbackAllocations(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("allocation counts are meaningless under -race; make test runs this test again without it")
	}
	ts := championServer(t, Config{})
	c, err := net.Dial("tcp", ts.url[len("http://"):])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var reqs [][]byte
	for _, rows := range []int{1, 16} {
		body := `{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [` +
			rowsOf(rows, `[37, 36.0, 1306.52, 1]`) + `]}}`
		reqs = append(reqs, []byte("POST /invocations HTTP/1.1\r\nHost: mlgate\r\nContent-Type: application/json\r\n"+
			"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body))
	}
	r := rawClient{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	exchange := func(n int) {
		for i := range n {
			if status := r.do(reqs[i%len(reqs)]); status != 200 {
				t.Fatalf("request %d: status %d", i, status)
			}
		}
	}
	// On one P a pool's objects stay reachable through the collection the
	// profile needs: sync.Pool hands out another P's victim objects only
	// from that P's shared list, so on two Ps a request that moved could
	// find none and make a new one, as it may once per P in any steady
	// state.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	exchange(1000)
	const requests = 20_000
	allocs := connectionAllocations(t, func() { exchange(requests) })
	for _, a := range allocs {
		t.Errorf("%d allocations in %d requests over a loopback connection at:\n%s", a.n, requests, a.stack)
	}
}

// pathAllocation is where the request path allocated, and how often.
type pathAllocation struct {
	n     int64
	stack string
}

// connectionAllocations runs f and returns the allocations that goroutines
// serving connections (under fasthttp's serveConn) made meanwhile, by
// stack, from a memory profile that records every allocation. Left out
// are allocations elsewhere (fasthttp renews its Date header once a second
// on its own goroutine, so their number depends on how long f takes) and
// those of sync.Pool's own storage, which a pool makes anew after each
// garbage collection: the profile needs one before f, and that is per
// collection, not per request.
func connectionAllocations(t *testing.T, f func()) []pathAllocation {
	t.Helper()
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()
	before := connectionProfile()
	f()
	after := connectionProfile()
	var out []pathAllocation
	for stack, n := range after {
		if d := n - before[stack]; d > 0 {
			out = append(out, pathAllocation{d, stack})
		}
	}
	return out
}

// connectionProfile returns the allocations so far under fasthttp's
// serveConn, but for sync.Pool's storage, by stack. It collects garbage
// first, which publishes the allocations made until then. One collection
// moves what pools hold to their victim caches, from which they still
// hand it out; only a second would drop it.
func connectionProfile() map[string]int64 {
	runtime.GC()
	var recs []runtime.MemProfileRecord
	for {
		n, ok := runtime.MemProfile(nil, true)
		recs = make([]runtime.MemProfileRecord, n+50)
		if n, ok = runtime.MemProfile(recs, true); ok {
			recs = recs[:n]
			break
		}
	}
	out := map[string]int64{}
	for _, r := range recs {
		var b strings.Builder
		under, pool := false, false
		frames := runtime.CallersFrames(r.Stack())
		for {
			fr, more := frames.Next()
			b.WriteString("\t" + fr.Function + "\n")
			under = under || strings.HasSuffix(fr.Function, "fasthttp.(*Server).serveConn")
			pool = pool || fr.Function == "sync.(*Pool).pinSlow" || fr.Function == "sync.(*poolChain).pushHead"
			if !more {
				break
			}
		}
		if under && !pool {
			out[b.String()] += r.AllocObjects
		}
	}
	return out
}

// rawClient sends prepared HTTP/1.1 requests on one connection and reads
// each response's status and body without allocating.
type rawClient struct {
	c    net.Conn
	br   *bufio.Reader
	body [64 << 10]byte
}

// do sends req and returns the response's status code, or -1 when the
// response cannot be read.
func (r *rawClient) do(req []byte) int {
	if _, err := r.c.Write(req); err != nil {
		return -1
	}
	status, length := -1, -1
	for first := true; ; first = false {
		line, err := r.br.ReadSlice('\n')
		if err != nil {
			return -1
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		if first {
			if len(line) < 12 {
				return -1
			}
			status = atoi(line[9:12])
			continue
		}
		if k, v, ok := bytes.Cut(line, []byte(": ")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			length = atoi(v)
		}
	}
	if length < 0 || length > len(r.body) {
		return -1
	}
	if _, err := io.ReadFull(r.br, r.body[:length]); err != nil {
		return -1
	}
	return status
}

// atoi parses a decimal number, -1 when b is not one.
func atoi(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}
