package loadtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// EnvPrefix prefixes the environment variable that sets each flag:
// --max-inflight is read from MLGATE_LOADTEST_MAX_INFLIGHT. A flag given on
// the command line wins over its variable.
const EnvPrefix = "MLGATE_LOADTEST_"

// Exit codes of Command.
const (
	ExitOK    = 0
	ExitFail  = 1 // the run failed, was interrupted, or the split check failed
	ExitUsage = 2 // bad flags or inputs
)

// cliFlags holds the parsed command line.
type cliFlags struct {
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
	headers                       headerFlag
	keys                          int
	keyOrder                      string
	expectSplit                   string
	confidence                    float64
	jsonOut, htmlOut, benchName   string
}

type headerFlag []string

func (h *headerFlag) String() string { return strings.Join(*h, "\n") }

func (h *headerFlag) Set(v string) error {
	for line := range strings.SplitSeq(v, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			if _, err := ParseHeader(line); err != nil {
				return err
			}
			*h = append(*h, line)
		}
	}
	return nil
}

// usageError is a problem with the command line; its message names the
// flag.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{msg: fmt.Sprintf(format, args...)} }

// Command runs "mlgate loadtest" with args (without the subcommand name):
// it parses its flags (each also read from EnvPrefix + the flag name in
// upper snake case), runs the load test until it ends or ctx is cancelled
// or SIGINT/SIGTERM arrives, writes the text report to stdout (followed by
// benchstat lines with --bench-name) and the --json and --html files, and
// returns ExitOK, ExitFail or ExitUsage. Messages go to stderr.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f cliFlags
	fs := newFlagSet(&f, stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage // flag has printed the error and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadtest: unexpected argument %q\n", fs.Arg(0))
		return ExitUsage
	}
	set, err := applyEnv(fs, os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", err)
		return ExitUsage
	}
	cfg, err := f.config(set)
	if err == nil {
		cfg, err = cfg.withDefaults()
	}
	if err != nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", flagError(err))
		return ExitUsage
	}

	var jsonFile, htmlFile *os.File
	for _, o := range []struct {
		flag, path string
		file       **os.File
	}{{"--json", f.jsonOut, &jsonFile}, {"--html", f.htmlOut, &htmlFile}} {
		if o.path == "" {
			continue
		}
		fh, err := os.Create(o.path)
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: %s: %v\n", o.flag, err)
			return ExitUsage
		}
		defer fh.Close()
		*o.file = fh
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Fprintf(stderr, "loadtest: %s -> POST %s\n", describe(&cfg), mustEndpoint(&cfg))
	rep, err := Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintf(stderr, "loadtest: %v\n", flagError(err))
		for _, fh := range []*os.File{jsonFile, htmlFile} {
			if fh != nil {
				fh.Close()
				os.Remove(fh.Name())
			}
		}
		return ExitFail
	}

	code := ExitOK
	if err := rep.WriteText(stdout); err != nil {
		fmt.Fprintf(stderr, "loadtest: write report: %v\n", err)
		code = ExitFail
	}
	if f.benchName != "" {
		fmt.Fprintln(stdout)
		if err := rep.WriteBenchstat(stdout, f.benchName); err != nil {
			fmt.Fprintf(stderr, "loadtest: --bench-name: %v\n", err)
			code = ExitFail
		}
	}
	for _, o := range []struct {
		flag  string
		file  *os.File
		write func(io.Writer) error
	}{{"--json", jsonFile, rep.WriteJSON}, {"--html", htmlFile, rep.WriteHTML}} {
		if o.file == nil {
			continue
		}
		err := o.write(o.file)
		if cerr := o.file.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			fmt.Fprintf(stderr, "loadtest: %s: %v\n", o.flag, err)
			code = ExitFail
		}
	}
	switch {
	case rep.Interrupted:
		fmt.Fprintln(stderr, "loadtest: interrupted; the report covers the run so far")
		code = ExitFail
	case rep.Split != nil && !rep.Split.Pass:
		fmt.Fprintln(stderr, "loadtest: the observed split does not match --expect-split")
		code = ExitFail
	}
	return code
}

func newFlagSet(f *cliFlags, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: mlgate loadtest [flags]

Sends MLflow scoring requests to mlgate, open loop (--rate) or closed loop
(--connections), and reports latency, throughput, errors and which model
version and alias served each response. Every flag can also be set with
`+EnvPrefix+`<FLAG> (upper case, "-" as "_"); the flag wins.

Flags:
`)
		fs.PrintDefaults()
	}
	fs.StringVar(&f.url, "url", DefaultURL, "mlgate base `URL`")
	fs.StringVar(&f.route, "route", "", "send to /routes/`NAME`/invocations instead of /invocations")
	fs.Float64Var(&f.rate, "rate", 0, "open loop: send `R` requests per second (latency counts from each intended send time)")
	fs.IntVar(&f.connections, "connections", 0, fmt.Sprintf("closed loop: `N` connections sending back to back (default %d)", DefaultConnections))
	fs.IntVar(&f.maxInFlight, "max-inflight", 0, fmt.Sprintf("open loop: at most `N` requests in flight (default %d)", DefaultMaxInFlight))
	fs.DurationVar(&f.duration, "duration", 0, fmt.Sprintf("measured window (default %v unless --requests)", DefaultDuration))
	fs.Int64Var(&f.requests, "requests", 0, "stop after `N` measured requests")
	fs.DurationVar(&f.warmup, "warmup", 0, "send for this long before measuring")
	fs.DurationVar(&f.timeout, "timeout", 0, fmt.Sprintf("per-request timeout (default %v)", DefaultTimeout))
	fs.DurationVar(&f.grace, "grace", 0, "time allowed after the window before in-flight requests are abandoned (default --timeout)")
	fs.DurationVar(&f.lateAfter, "late-after", 0, fmt.Sprintf("open loop: a request sent more than this behind schedule is late (default %v)", DefaultLateAfter))
	fs.DurationVar(&f.idleTimeout, "idle-timeout", 0, fmt.Sprintf("close keep-alive connections idle for longer (default %v)", DefaultIdleConnTimeout))
	fs.StringVar(&f.example, "example", "", "send this serving_input_example.json `FILE` byte for byte")
	fs.StringVar(&f.body, "body", "", "send this request body `FILE` byte for byte (see --content-type)")
	fs.StringVar(&f.contentType, "content-type", "", "request Content-Type (default application/json)")
	fs.StringVar(&f.mlmodel, "mlmodel", "", "generate bodies from the signature in this MLmodel `FILE`")
	fs.StringVar(&f.modelDir, "model-dir", "", "generate bodies from the signature of the model in `DIR`")
	fs.IntVar(&f.rows, "rows", 0, "generated bodies: `N` rows per request (default 1)")
	fs.IntVar(&f.distinct, "distinct", 0, "generated bodies: build `K` different bodies (default 8)")
	fs.Uint64Var(&f.seed, "seed", 0, "seed for generated values and random key order")
	fs.Var(&f.headers, "header", "add a request header `'Name: value'` (repeatable; {{key}} in the value is replaced by a cohort key)")
	fs.IntVar(&f.keys, "keys", 0, fmt.Sprintf("number of distinct {{key}} values (default %d)", DefaultKeys))
	fs.StringVar(&f.keyOrder, "key-order", "cycle", "how requests pick a key: cycle or random")
	fs.StringVar(&f.expectSplit, "expect-split", "", "check the observed split, e.g. `'champion=90,challenger=10'` or '1=90,2=10'")
	fs.Float64Var(&f.confidence, "confidence", 100*DefaultConfidence, "confidence of the split check, in `percent`")
	fs.StringVar(&f.jsonOut, "json", "", "write the JSON report to `FILE`")
	fs.StringVar(&f.htmlOut, "html", "", "write the HTML report with charts to `FILE`")
	fs.StringVar(&f.benchName, "bench-name", "", "also print benchstat lines named BenchmarkLoad/`NAME`")
	return fs
}

// envName returns the environment variable for a flag.
func envName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets every flag not given on the command line from its
// environment variable, and returns the names of the flags set either way.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) (map[string]bool, error) {
	set := make(map[string]bool)
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var err error
	fs.VisitAll(func(fl *flag.Flag) {
		if err != nil || set[fl.Name] {
			return
		}
		v, ok := lookup(envName(fl.Name))
		if !ok {
			return
		}
		if serr := fs.Set(fl.Name, v); serr != nil {
			err = fmt.Errorf("--%s (from %s): %v", fl.Name, envName(fl.Name), serr)
			return
		}
		set[fl.Name] = true
	})
	return set, err
}

// config turns the flags into a Config; set holds the flags given.
func (f *cliFlags) config(set map[string]bool) (Config, error) {
	cfg := Config{
		URL: f.url, Route: f.route, Rate: f.rate, Connections: f.connections, MaxInFlight: f.maxInFlight,
		Duration: f.duration, Requests: f.requests, Warmup: f.warmup, Timeout: f.timeout, Grace: f.grace,
		LateAfter: f.lateAfter, IdleConnTimeout: f.idleTimeout, Keys: f.keys, Seed: f.seed,
	}
	if set["rate"] && f.rate <= 0 {
		return cfg, usagef("--rate: must be > 0, got %v", f.rate)
	}
	if set["connections"] && f.connections <= 0 {
		return cfg, usagef("--connections: must be > 0, got %d", f.connections)
	}
	if set["rate"] && set["connections"] {
		return cfg, usagef("--rate (open loop) and --connections (closed loop) are exclusive; bound the open loop with --max-inflight")
	}
	if set["max-inflight"] && !set["rate"] {
		return cfg, usagef("--max-inflight: only applies to the open loop (--rate)")
	}
	if set["late-after"] && !set["rate"] {
		return cfg, usagef("--late-after: only applies to the open loop (--rate)")
	}

	sources := []string{}
	for _, name := range []string{"example", "body", "mlmodel", "model-dir"} {
		if set[name] {
			sources = append(sources, "--"+name)
		}
	}
	switch len(sources) {
	case 0:
		return cfg, usagef("no request body: set --example, --body, --mlmodel or --model-dir")
	case 1:
	default:
		return cfg, usagef("%s are exclusive: choose one request body source", strings.Join(sources, " and "))
	}
	generated := set["mlmodel"] || set["model-dir"]
	for _, name := range []string{"rows", "distinct"} {
		if set[name] && !generated {
			return cfg, usagef("--%s: only applies to bodies generated with --mlmodel or --model-dir", name)
		}
	}
	var err error
	switch {
	case set["example"]:
		cfg.Payload, err = ExamplePayload(f.example)
		if err != nil {
			return cfg, usagef("--example: %v", err)
		}
		if f.contentType != "" {
			cfg.Payload.ContentType = f.contentType
		}
	case set["body"]:
		if cfg.Payload, err = FilePayload(f.body, f.contentType); err != nil {
			return cfg, usagef("--body: %v", err)
		}
	default:
		flagName, path := "--mlmodel", f.mlmodel
		if set["model-dir"] {
			flagName, path = "--model-dir", f.modelDir
			if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
				return cfg, usagef("--model-dir: %s is not a directory", path)
			}
		}
		sig, err := SignatureFromMLmodel(path)
		if err != nil {
			return cfg, usagef("%s: %v", flagName, err)
		}
		if cfg.Payload, err = GeneratePayload(sig, GenerateOptions{Rows: f.rows, Distinct: f.distinct, Seed: f.seed}); err != nil {
			return cfg, usagef("%s: %v", flagName, err)
		}
		if f.contentType != "" {
			cfg.Payload.ContentType = f.contentType
		}
	}

	for _, h := range f.headers {
		hd, err := ParseHeader(h)
		if err != nil {
			return cfg, usagef("--header: %v", err)
		}
		cfg.Headers = append(cfg.Headers, hd)
	}
	switch f.keyOrder {
	case "cycle":
		cfg.KeyOrder = KeysCycle
	case "random":
		cfg.KeyOrder = KeysRandom
	default:
		return cfg, usagef("--key-order: want cycle or random, got %q", f.keyOrder)
	}
	if f.expectSplit != "" {
		if cfg.ExpectSplit, err = ParseSplit(f.expectSplit); err != nil {
			return cfg, usagef("--expect-split: %v", err)
		}
	}
	if set["bench-name"] && benchToken(f.benchName) == "" {
		return cfg, usagef("--bench-name: empty benchmark name")
	}
	if !(f.confidence > 0 && f.confidence < 100) {
		return cfg, usagef("--confidence: want a percentage in (0, 100), got %v", f.confidence)
	}
	cfg.Confidence = f.confidence / 100
	return cfg, nil
}

// configFlags maps Config fields to the flags that set them.
var configFlags = map[string]string{
	"URL": "--url", "Route": "--route", "Rate": "--rate", "MaxInFlight": "--max-inflight",
	"Connections": "--connections", "Duration": "--duration", "Requests": "--requests",
	"Warmup": "--warmup", "Timeout": "--timeout", "Grace": "--grace", "LateAfter": "--late-after",
	"IdleConnTimeout": "--idle-timeout",
	"Payload":         "--example/--body/--mlmodel/--model-dir", "Headers": "--header", "Keys": "--keys",
	"KeyOrder": "--key-order", "ExpectSplit": "--expect-split", "Confidence": "--confidence",
}

// flagError rewords a *ConfigError in terms of the flag that set the field.
func flagError(err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		if fl, ok := configFlags[ce.Field]; ok {
			return fmt.Errorf("%s: %s", fl, ce.Msg)
		}
	}
	return err
}

func describe(c *Config) string {
	var b strings.Builder
	if c.openLoop() {
		fmt.Fprintf(&b, "open loop at %s req/s (at most %d in flight)", fmtFloat(c.Rate), c.MaxInFlight)
	} else {
		fmt.Fprintf(&b, "closed loop with %d connections", c.Connections)
	}
	if c.Duration > 0 {
		fmt.Fprintf(&b, " for %v", c.Duration)
	}
	if c.Requests > 0 {
		fmt.Fprintf(&b, ", at most %d requests", c.Requests)
	}
	if c.Warmup > 0 {
		fmt.Fprintf(&b, " after %v warmup", c.Warmup)
	}
	return b.String()
}

func mustEndpoint(c *Config) string {
	ep, err := parseEndpoint(c.URL, c.Route)
	if err != nil {
		return c.URL
	}
	return ep.uri
}
