package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mlgate/mlgate/loadtest"
)

// loadtestEnvPrefix prefixes the environment variable of each loadtest
// flag: --max-inflight is read from MLGATE_LOADTEST_MAX_INFLIGHT.
const loadtestEnvPrefix = "MLGATE_LOADTEST_"

// loadtestFlags is mlgate loadtest's command line.
type loadtestFlags struct {
	url, route                    string
	rate                          float64
	connections, maxInFlight      int
	duration, warmup, timeout     time.Duration
	grace, lateAfter, idleTimeout time.Duration
	requests                      int64
	example, body, contentType    string
	mlmodel, modelDir             string
	rows, distinct                int
	seed                          uint64
	headers                       []string
	keys                          int
	keyOrder                      string
	expectSplit                   string
	confidence                    float64
	jsonOut, htmlOut, benchName   string
}

// loadtestEnv returns the environment variable of a loadtest flag.
func loadtestEnv(flag string) []string {
	return []string{loadtestEnvPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

type lf = loadtestFlags

// loadtestOptions are mlgate loadtest's flags, each also read from its
// MLGATE_LOADTEST_* variable.
var loadtestOptions = []option[lf]{
	{"url", loadtestEnv("url"), "mlgate base `URL` (default " + loadtest.DefaultURL + ")", str(func(f *lf) *string { return &f.url })},
	{"route", loadtestEnv("route"), "send to /routes/`NAME`/invocations instead of /invocations", str(func(f *lf) *string { return &f.route })},
	{"rate", loadtestEnv("rate"), "open loop: send `R` requests per second (latency counts from each intended send time)",
		number(func(f *lf) *float64 { return &f.rate })},
	{"connections", loadtestEnv("connections"), fmt.Sprintf("closed loop: `N` connections sending back to back (default %d)", loadtest.DefaultConnections),
		integer(func(f *lf) *int { return &f.connections })},
	{"max-inflight", loadtestEnv("max-inflight"), fmt.Sprintf("open loop: at most `N` requests in flight (default %d)", loadtest.DefaultMaxInFlight),
		integer(func(f *lf) *int { return &f.maxInFlight })},
	{"duration", loadtestEnv("duration"), fmt.Sprintf("measured window (default %v unless --requests)", loadtest.DefaultDuration),
		dur(func(f *lf) *time.Duration { return &f.duration })},
	{"requests", loadtestEnv("requests"), "stop after `N` measured requests", int64s(func(f *lf) *int64 { return &f.requests })},
	{"warmup", loadtestEnv("warmup"), "send for this long before measuring", dur(func(f *lf) *time.Duration { return &f.warmup })},
	{"timeout", loadtestEnv("timeout"), fmt.Sprintf("per-request timeout (default %v)", loadtest.DefaultTimeout),
		dur(func(f *lf) *time.Duration { return &f.timeout })},
	{"grace", loadtestEnv("grace"), "time allowed after the window before in-flight requests are abandoned (default --timeout)",
		dur(func(f *lf) *time.Duration { return &f.grace })},
	{"late-after", loadtestEnv("late-after"), fmt.Sprintf("open loop: a request sent more than this behind schedule is late (default %v)", loadtest.DefaultLateAfter),
		dur(func(f *lf) *time.Duration { return &f.lateAfter })},
	{"idle-timeout", loadtestEnv("idle-timeout"), fmt.Sprintf("close keep-alive connections idle for longer (default %v)", loadtest.DefaultIdleConnTimeout),
		dur(func(f *lf) *time.Duration { return &f.idleTimeout })},
	{"example", loadtestEnv("example"), "send this serving_input_example.json `FILE` byte for byte", str(func(f *lf) *string { return &f.example })},
	{"body", loadtestEnv("body"), "send this request body `FILE` byte for byte (see --content-type)", str(func(f *lf) *string { return &f.body })},
	{"content-type", loadtestEnv("content-type"), "request Content-Type (default application/json)", str(func(f *lf) *string { return &f.contentType })},
	{"mlmodel", loadtestEnv("mlmodel"), "generate bodies from the signature in this MLmodel `FILE`", str(func(f *lf) *string { return &f.mlmodel })},
	{"model-dir", loadtestEnv("model-dir"), "generate bodies from the signature of the model in `DIR`", str(func(f *lf) *string { return &f.modelDir })},
	{"rows", loadtestEnv("rows"), "generated bodies: `N` rows per request (default 1)", integer(func(f *lf) *int { return &f.rows })},
	{"distinct", loadtestEnv("distinct"), "generated bodies: build `K` different bodies (default 8)", integer(func(f *lf) *int { return &f.distinct })},
	{"seed", loadtestEnv("seed"), "seed for generated values and random key order", uint64s(func(f *lf) *uint64 { return &f.seed })},
	{"header", loadtestEnv("header"), "add a request header `'Name: value'` (repeatable, or one per line in the variable; {{key}} in the value is replaced by a cohort key)",
		repeated[lf](addHeaders)},
	{"keys", loadtestEnv("keys"), fmt.Sprintf("number of distinct {{key}} values (default %d)", loadtest.DefaultKeys), integer(func(f *lf) *int { return &f.keys })},
	{"key-order", loadtestEnv("key-order"), "how requests pick a key: cycle or random (default cycle)", str(func(f *lf) *string { return &f.keyOrder })},
	{"expect-split", loadtestEnv("expect-split"), "check the observed split, e.g. `'champion=90,challenger=10'` or '1=90,2=10'",
		str(func(f *lf) *string { return &f.expectSplit })},
	{"confidence", loadtestEnv("confidence"), fmt.Sprintf("confidence of the split check, in `percent` (default %v)", 100*loadtest.DefaultConfidence),
		number(func(f *lf) *float64 { return &f.confidence })},
	{"json", loadtestEnv("json"), "write the JSON report to `FILE`", str(func(f *lf) *string { return &f.jsonOut })},
	{"html", loadtestEnv("html"), "write the HTML report with charts to `FILE`", str(func(f *lf) *string { return &f.htmlOut })},
	{"bench-name", loadtestEnv("bench-name"), "also print benchstat lines named BenchmarkLoad/`NAME`", str(func(f *lf) *string { return &f.benchName })},
}

// addHeaders adds the headers in v, one per line, checking each.
func addHeaders(f *lf, v string) error {
	for line := range strings.SplitSeq(v, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if _, err := loadtest.ParseHeader(line); err != nil {
				return err
			}
			f.headers = append(f.headers, line)
		}
	}
	return nil
}

const loadtestUsage = `Usage: mlgate loadtest [flags]

Sends MLflow scoring requests to mlgate, open loop (--rate) or closed loop
(--connections), and reports latency, throughput, errors and which model
version and alias served each response. Every flag can also be set with
` + loadtestEnvPrefix + `<FLAG> (upper case, "-" as "_"); the flag wins.

Flags:
`

// cmdLoadtest is `mlgate loadtest`: parse the flags, run the load test
// until it ends or ctx is cancelled (SIGINT, SIGTERM), write the text
// report to stdout (followed by benchstat lines with --bench-name) and the
// --json and --html files. It exits 0, 1 when the run failed, was
// interrupted or the split check failed, and 2 for bad flags or inputs.
func cmdLoadtest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, f, code := loadtestConfig(args, os.Getenv, stderr)
	if cfg == nil {
		return code
	}
	files, err := createReports(f)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "loadtest: %s\n", cfg.Describe())
	rep, err := loadtest.Run(ctx, *cfg)
	if rep == nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", flagError(err))
		files.remove()
		return 1
	}
	return writeReports(rep, f, files, stdout, stderr)
}

// loadtestConfig reads the command line into a load test configuration
// with its defaults applied, or returns nil and the exit code, having said
// why on stderr.
func loadtestConfig(args []string, getenv func(string) string, stderr io.Writer) (*loadtest.Config, *loadtestFlags, int) {
	o := options[lf]{name: "loadtest", opts: loadtestOptions, usage: loadtestUsage,
		source: func(flag, env string) string { return "--" + flag + " (from " + env + ")" }}
	defaults := lf{url: loadtest.DefaultURL, keyOrder: "cycle", confidence: 100 * loadtest.DefaultConfidence}
	f, given, err := o.load(defaults, args, getenv, stderr)
	var printed *flagsError
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil, nil, 0
	case errors.As(err, &printed):
		return nil, nil, 2
	case err != nil:
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return nil, nil, 2
	}
	cfg, err := f.config(given)
	if err == nil {
		cfg, err = cfg.WithDefaults()
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", flagError(err))
		return nil, nil, 2
	}
	return &cfg, &f, 0
}

// config turns the flags into a load test configuration; given holds the
// flags given, by flag or environment.
func (f *lf) config(given map[string]bool) (loadtest.Config, error) {
	cfg := loadtest.Config{
		URL: f.url, Route: f.route, Rate: f.rate, Connections: f.connections, MaxInFlight: f.maxInFlight,
		Duration: f.duration, Requests: f.requests, Warmup: f.warmup, Timeout: f.timeout, Grace: f.grace,
		LateAfter: f.lateAfter, IdleConnTimeout: f.idleTimeout, Keys: f.keys, Seed: f.seed,
	}
	if err := checkLoop(f, given); err != nil {
		return cfg, err
	}
	var err error
	if cfg.Payload, err = f.payload(given); err != nil {
		return cfg, err
	}
	for _, h := range f.headers {
		hd, err := loadtest.ParseHeader(h)
		if err != nil {
			return cfg, fmt.Errorf("--header: %v", err)
		}
		cfg.Headers = append(cfg.Headers, hd)
	}
	if err := f.splitCheck(&cfg, given); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// checkLoop checks the open-loop and closed-loop flags go together.
func checkLoop(f *lf, given map[string]bool) error {
	switch {
	case given["rate"] && f.rate <= 0:
		return fmt.Errorf("--rate: must be > 0, got %v", f.rate)
	case given["connections"] && f.connections <= 0:
		return fmt.Errorf("--connections: must be > 0, got %d", f.connections)
	case given["rate"] && given["connections"]:
		return errors.New("--rate (open loop) and --connections (closed loop) are exclusive; bound the open loop with --max-inflight")
	case given["max-inflight"] && !given["rate"]:
		return errors.New("--max-inflight: only applies to the open loop (--rate)")
	case given["late-after"] && !given["rate"]:
		return errors.New("--late-after: only applies to the open loop (--rate)")
	}
	return nil
}

// payload builds the request bodies from the one body source given.
func (f *lf) payload(given map[string]bool) (loadtest.Payload, error) {
	var sources []string
	for _, name := range []string{"example", "body", "mlmodel", "model-dir"} {
		if given[name] {
			sources = append(sources, "--"+name)
		}
	}
	switch len(sources) {
	case 0:
		return loadtest.Payload{}, errors.New("no request body: set --example, --body, --mlmodel or --model-dir")
	case 1:
	default:
		return loadtest.Payload{}, fmt.Errorf("%s are exclusive: choose one request body source", strings.Join(sources, " and "))
	}
	generated := given["mlmodel"] || given["model-dir"]
	for _, name := range []string{"rows", "distinct"} {
		if given[name] && !generated {
			return loadtest.Payload{}, fmt.Errorf("--%s: only applies to bodies generated with --mlmodel or --model-dir", name)
		}
	}
	switch {
	case given["example"]:
		p, err := loadtest.ExamplePayload(f.example)
		if err != nil {
			return p, fmt.Errorf("--example: %v", err)
		}
		if f.contentType != "" {
			p.ContentType = f.contentType
		}
		return p, nil
	case given["body"]:
		p, err := loadtest.FilePayload(f.body, f.contentType)
		if err != nil {
			return p, fmt.Errorf("--body: %v", err)
		}
		return p, nil
	}
	return f.generated(given)
}

// generated builds bodies from the signature of --mlmodel or --model-dir.
func (f *lf) generated(given map[string]bool) (loadtest.Payload, error) {
	flagName, path := "--mlmodel", f.mlmodel
	if given["model-dir"] {
		flagName, path = "--model-dir", f.modelDir
		if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
			return loadtest.Payload{}, fmt.Errorf("--model-dir: %s is not a directory", path)
		}
	}
	sig, err := loadtest.SignatureFromMLmodel(path)
	if err != nil {
		return loadtest.Payload{}, fmt.Errorf("%s: %v", flagName, err)
	}
	p, err := loadtest.GeneratePayload(sig, loadtest.GenerateOptions{Rows: f.rows, Distinct: f.distinct, Seed: f.seed})
	if err != nil {
		return p, fmt.Errorf("%s: %v", flagName, err)
	}
	if f.contentType != "" {
		p.ContentType = f.contentType
	}
	return p, nil
}

// splitCheck sets the key order, the expected split and its confidence,
// and checks the benchmark name.
func (f *lf) splitCheck(cfg *loadtest.Config, given map[string]bool) error {
	switch f.keyOrder {
	case "cycle":
		cfg.KeyOrder = loadtest.KeysCycle
	case "random":
		cfg.KeyOrder = loadtest.KeysRandom
	default:
		return fmt.Errorf("--key-order: want cycle or random, got %q", f.keyOrder)
	}
	if f.expectSplit != "" {
		var err error
		if cfg.ExpectSplit, err = loadtest.ParseSplit(f.expectSplit); err != nil {
			return fmt.Errorf("--expect-split: %v", err)
		}
	}
	if given["bench-name"] && strings.TrimSpace(f.benchName) == "" {
		return errors.New("--bench-name: empty benchmark name")
	}
	if !(f.confidence > 0 && f.confidence < 100) {
		return fmt.Errorf("--confidence: want a percentage in (0, 100), got %v", f.confidence)
	}
	cfg.Confidence = f.confidence / 100
	return nil
}

// configFlags maps load test Config fields to the flags that set them.
var configFlags = map[string]string{
	"URL": "--url", "Route": "--route", "Rate": "--rate", "MaxInFlight": "--max-inflight",
	"Connections": "--connections", "Duration": "--duration", "Requests": "--requests",
	"Warmup": "--warmup", "Timeout": "--timeout", "Grace": "--grace", "LateAfter": "--late-after",
	"IdleConnTimeout": "--idle-timeout",
	"Payload":         "--example/--body/--mlmodel/--model-dir", "Headers": "--header", "Keys": "--keys",
	"KeyOrder": "--key-order", "ExpectSplit": "--expect-split", "Confidence": "--confidence",
}

// flagError rewords a *loadtest.ConfigError in terms of the flag that set
// the field.
func flagError(err error) error {
	var ce *loadtest.ConfigError
	if errors.As(err, &ce) {
		if fl, ok := configFlags[ce.Field]; ok {
			return fmt.Errorf("%s: %s", fl, ce.Msg)
		}
	}
	return err
}

// reportFiles are the --json and --html files, created before the run so
// that an unwritable path fails at once.
type reportFiles struct{ json, html *os.File }

func createReports(f *lf) (reportFiles, error) {
	var files reportFiles
	for _, o := range []struct {
		flag, path string
		file       **os.File
	}{{"--json", f.jsonOut, &files.json}, {"--html", f.htmlOut, &files.html}} {
		if o.path == "" {
			continue
		}
		fh, err := os.Create(o.path)
		if err != nil {
			files.remove()
			return reportFiles{}, fmt.Errorf("%s: %v", o.flag, err)
		}
		*o.file = fh
	}
	return files, nil
}

// remove closes and deletes the report files, for a run with no report.
func (r reportFiles) remove() {
	for _, fh := range []*os.File{r.json, r.html} {
		if fh != nil {
			fh.Close()
			os.Remove(fh.Name())
		}
	}
}

// writeReports writes rep as text (and benchstat lines) to stdout and to
// the report files, and returns the exit code.
func writeReports(rep *loadtest.Report, f *lf, files reportFiles, stdout, stderr io.Writer) int {
	code := 0
	if err := rep.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "loadtest: write report: %v\n", err)
		code = 1
	}
	if f.benchName != "" {
		fmt.Fprintln(stdout)
		if err := rep.WriteBenchstat(stdout, f.benchName); err != nil {
			fmt.Fprintf(stderr, "loadtest: --bench-name: %v\n", err)
			code = 1
		}
	}
	for _, o := range []struct {
		flag  string
		file  *os.File
		write func(io.Writer) error
	}{{"--json", files.json, rep.WriteJSON}, {"--html", files.html, rep.WriteHTML}} {
		if o.file == nil {
			continue
		}
		err := o.write(o.file)
		if cerr := o.file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: %s: %v\n", o.flag, err)
			code = 1
		}
	}
	switch {
	case rep.Interrupted:
		fmt.Fprintln(stderr, "loadtest: interrupted; the report covers the run so far")
		code = 1
	case rep.Split != nil && !rep.Split.Pass:
		fmt.Fprintln(stderr, "loadtest: the observed split does not match --expect-split")
		code = 1
	}
	return code
}
