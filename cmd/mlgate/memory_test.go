package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
)

// bigSplit is a valid dataframe_split request of rows rows for churn-gbm
// v1, about 20 bytes a row: 700k rows are 14 MB, under the 16 MiB body
// limit.
func bigSplit(rows int) []byte {
	var b bytes.Buffer
	b.Grow(rows * 21)
	b.WriteString(`{"dataframe_split": {"columns": ["tenure", "monthly_charges", "total_charges", "contract_months"], "data": [`)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "[%d,%d.5,%d.25,%d]", i%72, i%100, i%5000, 1+i%24)
	}
	b.WriteString("]}}")
	return b.Bytes()
}

// procStatus returns a field of /proc/<pid>/status in bytes (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				t.Fatalf("%s: %q", field, line)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// postAll sends body n times at once and returns the responses.
func postAll(t *testing.T, url string, body []byte, n int) []reply {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Minute}
	out := make([]reply, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			resp, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			data, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Error(err)
			}
			out[i] = reply{resp.StatusCode, resp.Header, data}
		})
	}
	wg.Wait()
	client.CloseIdleConnections()
	return out
}

// waitReady waits until p reports ready.
// TestOversizedRequestsMemory sends a real mlgate process three valid 14 MB
// dataframe_split requests of 700k rows at once. With the default limits
// (max_elements 1048576: 262144 rows of churn-gbm's 4 columns) each gets
// 413 naming max_elements, refused by the first pass over the body, and the
// process's peak RSS stays within its baseline plus four times the bodies
// (no parsed tree was ever built). Before the limits, the same three
// requests took it from 64 MB to 5.5 GB.
func TestOversizedRequestsMemory(t *testing.T) {
	fake := fakemlflow.New(t)
	p := startProcess(t, fake.URL())
	waitReady(t, p)
	pid := p.cmd.Process.Pid
	baseline := procStatus(t, pid, "VmHWM")
	body := bigSplit(700_000)
	const n = 3
	for i, r := range postAll(t, p.url+"/invocations", body, n) {
		var e struct {
			Code    string `json:"error_code"`
			Message string `json:"message"`
		}
		json.Unmarshal(r.body, &e)
		if r.status != 413 || e.Code != "BAD_REQUEST" || !strings.Contains(e.Message, "more than 1048576 values (max_elements)") ||
			!strings.Contains(e.Message, "raise the max_elements setting") {
			t.Errorf("request %d: %d %s; want 413 naming max_elements and how to raise it", i, r.status, r.body)
		}
	}
	st := adminModels(t, p.adminURL).Admission
	if st.RejectedLimits != n || st.PeakInflightBytes != 0 {
		t.Errorf("admission %+v; want %d requests refused for limits and none admitted", st, n)
	}
	peak := procStatus(t, pid, "VmHWM")
	bound := baseline + 4*n*int64(len(body))
	t.Logf("%d requests of %d bytes refused; VmHWM %d MiB at start, %d MiB after; bound %d MiB", n, len(body), baseline>>20, peak>>20, bound>>20)
	if testutil.RaceEnabled {
		return // the race detector's shadow memory is not mlgate's; make test checks RSS without it
	}
	if peak > bound {
		t.Errorf("peak RSS %d MiB; want at most %d MiB (the baseline and four times the bodies)", peak>>20, bound>>20)
	}
}

// TestAdmittedLargeRequestsMemory raises max_elements so that the three
// 700k-row requests are served: they are admitted by the memory they will
// hold, and the process's peak RSS stays within its baseline, the model
// and four times the most bytes in flight (peak_inflight_bytes, the
// estimates of the requests admitted at once) and the bodies read. Then
// their memory is returned to the operating system.
func TestAdmittedLargeRequestsMemory(t *testing.T) {
	if testutil.RaceEnabled {
		t.Skip("RSS under the race detector is mostly its shadow memory, and decoding 2.1M rows under it takes minutes; make test runs this test again without -race")
	}
	fake := fakemlflow.New(t)
	p := startProcess(t, fake.URL(), "--max-elements", "4000000", "--queue-timeout", "5m", "--request-timeout", "5m")
	waitReady(t, p)
	pid := p.cmd.Process.Pid
	baseline := procStatus(t, pid, "VmHWM")
	body := bigSplit(700_000)
	const n, rows = 3, 700_000
	start := time.Now()
	responses := 0
	for i, r := range postAll(t, p.url+"/invocations", body, n) {
		if r.status != 200 || bytes.Count(r.body, []byte(`{"probability": `)) != rows {
			t.Errorf("request %d: %d %.200s; want 200 with %d predictions", i, r.status, r.body, rows)
		}
		responses += len(r.body)
	}
	elapsed := time.Since(start)
	st := adminModels(t, p.adminURL)
	adm := st.Admission
	model := target(t, st, "churn").Model.Bytes
	peak := procStatus(t, pid, "VmHWM")
	bound := baseline + model + 4*(adm.PeakInflightBytes+n*int64(len(body)))
	t.Logf("%d requests of %d rows (%d bytes) served in %s; peak in flight %d MiB (max %d MiB); VmHWM %d MiB at start, %d MiB after; bound %d MiB; model %d bytes",
		n, rows, len(body), elapsed.Round(time.Millisecond), adm.PeakInflightBytes>>20, adm.MaxInflightBytes>>20, baseline>>20, peak>>20, bound>>20, model)
	if adm.PeakInflightBytes <= 0 || adm.InflightBytes != 0 || adm.RejectedBytes != 0 {
		t.Errorf("admission %+v; want the requests counted in flight while served, none refused", adm)
	}
	if peak > bound {
		t.Errorf("peak RSS %d MiB; want at most %d MiB", peak>>20, bound>>20)
	}
	// Once the last large request is done, its memory goes back to the
	// operating system instead of waiting for the next collection; what
	// stays is the server's buffers for the connections' requests and
	// responses.
	deadline := time.Now().Add(30 * time.Second)
	for adminModels(t, p.adminURL).Admission.MemoryReturns == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the memory of the large requests was not returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
	after := procStatus(t, pid, "VmRSS")
	kept := baseline + 2*(n*int64(len(body))+int64(responses))
	t.Logf("VmRSS %d MiB once their memory was returned; bound %d MiB", after>>20, kept>>20)
	if after > kept {
		t.Errorf("RSS %d MiB after the requests; want at most %d MiB (the baseline and twice the bodies and responses)", after>>20, kept>>20)
	}
}
