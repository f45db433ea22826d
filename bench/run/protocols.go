package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/mlgate/mlgate/bench/fixture"
	"github.com/mlgate/mlgate/loadtest"
	"github.com/mlgate/mlgate/serve/oip"
)

// The scoring protocols the headline phase compares on mlgate, churn-gbm
// v1 on route churn, in interleaved rounds at the headline connection
// count: MLflow's /invocations (dataframe_split), the Open Inference
// Protocol over REST with JSON data and with binary tensor data, and over
// gRPC with raw_input_contents. The request holds the same rows in each.
const (
	protocolInvocations = "invocations"
	protocolV2JSON      = "v2-json"
	protocolV2Binary    = "v2-binary"
	protocolGRPC        = "v2-grpc"
)

// allProtocols lists the protocols in run order within a round.
var allProtocols = []string{protocolInvocations, protocolV2JSON, protocolV2Binary, protocolGRPC}

// phaseProtocol is a protocol round's RunResult.Phase.
const phaseProtocol = "protocol"

// v2InferPath is the Open Inference Protocol's inference path for the
// churn route.
const v2InferPath = "/v2/models/" + fixture.Route + "/infer"

// v1Datatypes are churn-gbm v1's column datatypes, in fixture.Columns
// order, as its model metadata gives them.
var v1Datatypes = [4]string{"INT64", "FP64", "FP64", "INT64"}

// v2Bodies are the requests of one protocol run: each body holds rows rows,
// one tensor per column.
type v2Bodies struct {
	json, binary [][]byte
	// header is the length of a binary body's JSON part: the same for
	// every body of one row count.
	header int
	grpc   []*oip.ModelInferRequest
}

// v2Payload builds the V2 requests for the rows of dataframePayload's
// bodies of n rows each, in the same rotation.
func v2Payload(rows [][]json.Number, n int) (v2Bodies, error) {
	var out v2Bodies
	bodies := max(1, len(rows)/n)
	next := 0
	for range bodies {
		cols := make([][]json.Number, len(fixture.Columns))
		for range n {
			for c, v := range rows[next%len(rows)] {
				cols[c] = append(cols[c], v)
			}
			next++
		}
		var js, header bytes.Buffer
		var tail []byte
		req := &oip.ModelInferRequest{ModelName: fixture.Route}
		js.WriteString(`{"inputs":[`)
		header.WriteString(`{"inputs":[`)
		for c, name := range fixture.Columns {
			if c > 0 {
				js.WriteByte(',')
				header.WriteByte(',')
			}
			fmt.Fprintf(&js, `{"name":%q,"shape":[%d],"datatype":%q,"data":[`, name, n, v1Datatypes[c])
			start := len(tail)
			for i, v := range cols[c] {
				if i > 0 {
					js.WriteByte(',')
				}
				js.WriteString(v.String())
				var err error
				if tail, err = appendLE(tail, v1Datatypes[c], v); err != nil {
					return out, err
				}
			}
			js.WriteString("]}")
			fmt.Fprintf(&header, `{"name":%q,"shape":[%d],"datatype":%q,"parameters":{"binary_data_size":%d}}`, name, n, v1Datatypes[c], len(tail)-start)
			req.Inputs = append(req.Inputs, &oip.ModelInferRequest_InferInputTensor{Name: name, Datatype: v1Datatypes[c], Shape: []int64{int64(n)}})
			req.RawInputContents = append(req.RawInputContents, tail[start:len(tail):len(tail)])
		}
		js.WriteString("]}")
		header.WriteString(`],"parameters":{"binary_data_output":true}}`)
		out.json = append(out.json, js.Bytes())
		out.header = header.Len()
		out.binary = append(out.binary, append(header.Bytes(), tail...))
		out.grpc = append(out.grpc, req)
	}
	return out, nil
}

// appendLE appends v as one little-endian element of datatype.
func appendLE(dst []byte, datatype string, v json.Number) ([]byte, error) {
	switch datatype {
	case "INT64":
		n, err := v.Int64()
		if err != nil {
			x, ferr := v.Float64()
			if ferr != nil || x != math.Trunc(x) {
				return dst, fmt.Errorf("value %s is not an integer", v)
			}
			n = int64(x)
		}
		return binary.LittleEndian.AppendUint64(dst, uint64(n)), nil
	case "FP64":
		x, err := v.Float64()
		if err != nil {
			return dst, err
		}
		return binary.LittleEndian.AppendUint64(dst, math.Float64bits(x)), nil
	}
	return dst, fmt.Errorf("no layout for %s", datatype)
}

// v2Bodies returns the V2 requests of rows rows each, built once.
func (h *harness) v2Bodies(rows int) (v2Bodies, error) {
	if b, ok := h.v2[rows]; ok {
		return b, nil
	}
	b, err := v2Payload(h.rows, rows)
	if err != nil {
		return b, err
	}
	if h.v2 == nil {
		h.v2 = map[int]v2Bodies{}
	}
	h.v2[rows] = b
	return b, nil
}

// runProtocols runs the protocol rounds against mlgate: in each round,
// every protocol at every row count of the plan, one after the other.
func (h *harness) runProtocols(ctx context.Context) error {
	p := h.plan
	for round := 1; round <= p.protocolRounds; round++ {
		for _, rows := range p.protocolRows {
			for _, proto := range allProtocols {
				if err := h.protocolRun(ctx, proto, rows, round); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// protocolID names a protocol round's run.
func protocolID(proto string, rows, round int) string {
	return fmt.Sprintf("protocol-%s-r%d-round%d", proto, rows, round)
}

// protocolRun makes one protocol round's run.
func (h *harness) protocolRun(ctx context.Context, proto string, rows, round int) error {
	p := h.plan
	run := RunResult{ID: protocolID(proto, rows, round), Server: serverMlgate, Phase: phaseProtocol, Protocol: proto,
		Round: round, Connections: p.headlineConns, Rows: rows}
	bench := fmt.Sprintf("protocol/rows=%d/protocol=%s", rows, proto)
	if proto == protocolInvocations {
		cfg := loadtest.Config{Connections: p.headlineConns, Warmup: p.protocolWarmup, Duration: p.protocolDuration, Payload: h.churnPayload(rows)}
		return h.load(ctx, run, cfg, bench, loadExtras{})
	}
	bodies, err := h.v2Bodies(rows)
	if err != nil {
		return err
	}
	switch proto {
	case protocolV2JSON:
		cfg := loadtest.Config{Connections: p.headlineConns, Warmup: p.protocolWarmup, Duration: p.protocolDuration, Path: v2InferPath,
			Payload: loadtest.Payload{ContentType: loadtest.ContentTypeJSON, Bodies: bodies.json}}
		return h.load(ctx, run, cfg, bench, loadExtras{})
	case protocolV2Binary:
		cfg := loadtest.Config{Connections: p.headlineConns, Warmup: p.protocolWarmup, Duration: p.protocolDuration, Path: v2InferPath,
			Payload: loadtest.Payload{ContentType: "application/octet-stream", Bodies: bodies.binary},
			Headers: []loadtest.Header{{Name: "Inference-Header-Content-Length", Value: strconv.Itoa(bodies.header)}}}
		return h.load(ctx, run, cfg, bench, loadExtras{})
	}
	return h.measure(ctx, run, bench, loadExtras{}, func(ctx context.Context, pr *process, mark func()) (outcome, error) {
		return grpcClosedLoop(ctx, pr.grpcAddr, p.headlineConns, p.protocolWarmup, p.protocolDuration, bodies.grpc, mark)
	})
}

// grpcStreamsPerConn is how many of the closed loop's concurrent calls
// share one gRPC connection: HTTP/2 multiplexes them, as gRPC clients do.
const grpcStreamsPerConn = 8

// grpcClosedLoop is the closed loop over gRPC: conns workers, each with
// one call in flight, over conns/grpcStreamsPerConn connections, send reqs
// in rotation for warmup, then for duration, which is measured. mark is
// called when the measured window starts.
func grpcClosedLoop(ctx context.Context, addr string, conns int, warmup, duration time.Duration, reqs []*oip.ModelInferRequest, mark func()) (outcome, error) {
	if addr == "" {
		return outcome{}, fmt.Errorf("mlgate has no gRPC listener")
	}
	clients := make([]oip.GRPCInferenceServiceClient, conns)
	for i := 0; i < conns; i += grpcStreamsPerConn {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return outcome{}, err
		}
		defer conn.Close()
		for k := i; k < min(i+grpcStreamsPerConn, conns); k++ {
			clients[k] = oip.NewGRPCInferenceServiceClient(conn)
		}
	}
	type tally struct {
		hist          *hdrhistogram.Histogram
		ok, errs, all int64
		codes         map[string]int64
	}
	tallies := make([]tally, conns)
	var measuring, stopping sync.WaitGroup
	measuring.Add(conns)
	start := make(chan struct{})
	var t0, t1 time.Time
	run := func(i int) {
		c := clients[i]
		tl := &tallies[i]
		tl.hist = hdrhistogram.New(1, 60_000_000, 3)
		tl.codes = map[string]int64{}
		warm := true
		end := time.Now().Add(warmup)
		for n := i; ; n++ {
			now := time.Now()
			if now.After(end) {
				if !warm {
					return
				}
				warm = false
				measuring.Done()
				<-start
				end = t1
			}
			if ctx.Err() != nil {
				return
			}
			begin := time.Now()
			_, err := c.ModelInfer(ctx, reqs[n%len(reqs)])
			if warm {
				continue
			}
			tl.all++
			if err != nil {
				tl.errs++
				tl.codes["gRPC "+status.Code(err).String()]++
				continue
			}
			tl.ok++
			tl.hist.RecordValue(max(time.Since(begin).Microseconds(), 1))
		}
	}
	for i := range conns {
		stopping.Add(1)
		go func() {
			defer stopping.Done()
			run(i)
		}()
	}
	measuring.Wait()
	mark()
	self0 := selfCPU()
	t0 = time.Now()
	t1 = t0.Add(duration)
	close(start)
	stopping.Wait()
	elapsed := time.Since(t0)
	hist := hdrhistogram.New(1, 60_000_000, 3)
	var ok, errs, all int64
	codes := map[string]int64{}
	for _, tl := range tallies {
		hist.Merge(tl.hist)
		ok, errs, all = ok+tl.ok, errs+tl.errs, all+tl.all
		for k, v := range tl.codes {
			codes[k] += v
		}
	}
	if ctx.Err() != nil {
		return outcome{}, ctx.Err()
	}
	sm := Summary{Scheduled: all, Responses: all, OK: ok, Errors: errs, Elapsed: elapsed.Seconds(),
		Throughput: float64(ok) / elapsed.Seconds(),
		P50:        hist.ValueAtQuantile(50), P90: hist.ValueAtQuantile(90), P99: hist.ValueAtQuantile(99),
		P999: hist.ValueAtQuantile(99.9), Max: hist.Max()}
	sm.ServiceP50, sm.ServiceP99 = sm.P50, sm.P99
	for k, v := range codes {
		sm.Failures = append(sm.Failures, fmt.Sprintf("%s ×%d", k, v))
	}
	return outcome{summary: sm, requests: all, clientCPU: selfCPU() - self0}, nil
}

// checkProtocols checks, before anything is measured, that mlgate answers
// the first example row alike on every protocol: churn-gbm v1's
// probability.
func (h *harness) checkProtocols(ctx context.Context, p *process) error {
	b, err := h.v2Bodies(1)
	if err != nil {
		return err
	}
	_, body, err := postJSON(ctx, p.url, v2InferPath, b.json[0])
	if err != nil {
		return fmt.Errorf("V2 REST: %w", err)
	}
	var resp struct {
		ModelVersion string `json:"model_version"`
		Outputs      []struct {
			Name string
			Data []float64
		}
	}
	if err := json.Unmarshal(body, &resp); err != nil || len(resp.Outputs) == 0 || len(resp.Outputs[0].Data) != 1 {
		return fmt.Errorf("V2 REST: answer %s: %v", body, err)
	}
	want := h.firstRowProbability(ctx, p)
	if got := resp.Outputs[0].Data[0]; math.Abs(got-want) > 1e-6 || resp.ModelVersion != fixture.ModelVersion {
		return fmt.Errorf("V2 REST: probability %v, version %s; /invocations answers %v, version %s", got, resp.ModelVersion, want, fixture.ModelVersion)
	}
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	gr, err := oip.NewGRPCInferenceServiceClient(conn).ModelInfer(cctx, b.grpc[0])
	if err != nil {
		return fmt.Errorf("gRPC: %w", err)
	}
	if len(gr.RawOutputContents) != 1 || len(gr.RawOutputContents[0]) != 4 {
		return fmt.Errorf("gRPC: answer %v; want one FP32 as raw_output_contents", gr)
	}
	got := float64(math.Float32frombits(binary.LittleEndian.Uint32(gr.RawOutputContents[0])))
	if math.Abs(got-want) > 1e-6 {
		return fmt.Errorf("gRPC: probability %v; /invocations answers %v", got, want)
	}
	return nil
}

// firstRowProbability is what /invocations answers for the first row of
// the V2 bodies (dataframePayload's first row).
func (h *harness) firstRowProbability(ctx context.Context, p *process) float64 {
	body := h.churnPayload(1).Bodies[0]
	_, resp, err := postJSON(ctx, p.url, "/invocations", body)
	if err != nil {
		return math.NaN()
	}
	var got struct {
		Predictions []struct {
			Probability float64 `json:"probability"`
		} `json:"predictions"`
	}
	if json.Unmarshal(resp, &got) != nil || len(got.Predictions) != 1 {
		return math.NaN()
	}
	return got.Predictions[0].Probability
}

// protocolRuns returns the protocol rounds' runs of proto at rows rows.
func (s *Suite) protocolRuns(proto string, rows int) []*RunResult {
	var out []*RunResult
	for i := range s.Runs {
		if r := &s.Runs[i]; r.Phase == phaseProtocol && r.Protocol == proto && r.Rows == rows {
			out = append(out, r)
		}
	}
	return out
}

// protocolRatio is the per-round ratio of protocol a's to b's f at rows.
func (s *Suite) protocolRatio(a, b string, rows int, f func(*RunResult) float64) Estimate {
	return estimate(pairedRatios(s.protocolRuns(a, rows), s.protocolRuns(b, rows), f))
}

// Protocol goals: V2 JSON within 10 % of /invocations' throughput; binary
// data and gRPC faster than JSON from goalProtocolRows rows on.
const (
	goalV2JSONRatio  = 0.90
	goalProtocolRows = 64
)

// protocolGoals evaluates the protocol goals on the suite.
func (s *Suite) protocolGoals() []Goal {
	var out []Goal
	for _, rows := range s.Plan.ProtocolRows {
		e := s.protocolRatio(protocolV2JSON, protocolInvocations, rows, throughput)
		out = append(out, Goal{7, fmt.Sprintf("V2 REST JSON / /invocations throughput ≥ %.2f×, %s per request", goalV2JSONRatio, plural(rows, "row")),
			clientLoadtest, fmtRatioEstimate(e), atLeast(e, goalV2JSONRatio)})
	}
	for _, rows := range s.Plan.ProtocolRows {
		if rows < goalProtocolRows {
			continue
		}
		for _, proto := range []string{protocolV2Binary, protocolGRPC} {
			e := s.protocolRatio(proto, protocolV2JSON, rows, throughput)
			client := clientLoadtest
			if proto == protocolGRPC {
				client = "grpc-go"
			}
			out = append(out, Goal{8, fmt.Sprintf("%s / V2 REST JSON throughput > 1×, %s per request", protocolLabel(proto), plural(rows, "row")),
				client, fmtRatioEstimate(e), verdict(e.known(), e.Median > 1)})
		}
	}
	return out
}

// protocolLabel names a protocol in tables.
func protocolLabel(proto string) string {
	switch proto {
	case protocolInvocations:
		return "MLflow /invocations"
	case protocolV2JSON:
		return "V2 REST, JSON"
	case protocolV2Binary:
		return "V2 REST, binary data"
	case protocolGRPC:
		return "V2 gRPC, raw contents"
	}
	return proto
}

// protocols renders the protocol rounds: median req/s and p99 per protocol
// and row count, and each one's throughput against /invocations.
func (r *renderer) protocols() {
	s := r.s
	if len(s.protocolRuns(protocolInvocations, firstOr(s.Plan.ProtocolRows, 1))) == 0 {
		return
	}
	r.p("### Protocols: closed loop, %d connections, mlgate\n\n", s.Plan.HeadlineConns)
	r.p("churn-gbm v1 on route churn, the same rows in every request, over MLflow's `/invocations`\n")
	r.p("(dataframe_split), the Open Inference Protocol over REST with JSON data and with binary tensor\n")
	r.p("data (`binary_data_output` too), and over gRPC (`raw_input_contents`, a grpc-go client with %d\n", grpcStreamsPerConn)
	r.p("calls on each connection); %d interleaved rounds of %s after %s of warmup; medians over the rounds,\n",
		s.Plan.ProtocolRounds, s.Plan.ProtocolDuration, s.Plan.ProtocolWarmup)
	r.p("ratios per round with their median.\n\n")
	r.p("| rows per request | protocol | req/s | rows/s | p50 | p99 | server CPU per request | errors | req/s / invocations |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n")
	var failed []*RunResult
	for _, rows := range s.Plan.ProtocolRows {
		for _, proto := range allProtocols {
			runs := s.protocolRuns(proto, rows)
			m := medianRun(runs)
			if m == nil {
				continue
			}
			for _, run := range runs {
				if run.Summary.Errors > 0 {
					failed = append(failed, run)
				}
			}
			rel := "1×"
			if proto != protocolInvocations {
				rel = fmtRatioEstimate(s.protocolRatio(proto, protocolInvocations, rows, throughput))
			}
			r.p("| %d | %s | %s | %s | %s | %s | %s | %d | %s |\n", rows, protocolLabel(proto), fmtRate(m.Summary.Throughput),
				fmtRate(m.Summary.Throughput*float64(rows)), fmtMicros(m.Summary.P50), fmtMicros(m.Summary.P99),
				fmtCPU(m.CPUMicrosPerRequest), m.Summary.Errors, rel)
		}
	}
	r.p("\n")
	r.failureNotes(failed)
}

func firstOr(xs []int, d int) int {
	if len(xs) == 0 {
		return d
	}
	return xs[0]
}
