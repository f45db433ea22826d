package main

import (
	"fmt"
	"math"
)

// registryBench writes the registry-route benchmark's section: a registry
// route's warm latency against a configured route's, and the cold starts'
// p50 and p99.
func (r *renderer) registryBench() {
	rb := r.s.Registry
	if rb == nil {
		return
	}
	r.p("### Registry routes: warm latency and cold starts\n\n")
	r.p("%s (`cmd/mlgate/registry_bench_test.go`) starts one mlgate in the test process on a copy of the\n", registryBenchmark)
	r.p("example SQLite store, with the configured route `gen` (`models:/gen-000@champion`) and a registry\n")
	r.p("route over the same registered model, and sends it requests over loopback HTTP from one keep-alive\n")
	r.p("client, one at a time.\n\n")

	conf, reg := rb.metric("warm/route=configured", "ns/op"), rb.metric("warm/route=registry", "ns/op")
	ratio := rb.metric("warm-paired", "p50-ratio")
	r.p("- **Warm, registry route against configured route**: a one-row request took %s through the\n", usEstimate(reg))
	r.p("  registry route (`/models/gen-000@champion/invocations`) and %s through the configured\n", usEstimate(conf))
	r.p("  route (`/routes/gen/invocations`), which serve the same loaded version (ns/op, median over\n")
	r.p("  the runs; benchstat's comparison below). Sent in turn within each run (`warm-paired`), the\n")
	r.p("  registry route's p50 was **%s** the configured route's.\n", ratioEstimate(ratio))
	for _, k := range []struct{ sub, what string }{
		{"small", "small model** (labelprobs, 541 B)"},
		{"larger", "larger model** (mlp256, 1.5 MB of weights)"},
	} {
		r.p("- **Cold start, %s: p50 %s, p99 %s per request; the first load, download\n", k.what,
			msEstimate(rb.metric("cold/model="+k.sub, "p50-ms")), msEstimate(rb.metric("cold/model="+k.sub, "p99-ms")))
		r.p("  included: p50 %s, p99 %s.\n",
			msEstimate(rb.metric("first/model="+k.sub, "p50-ms")), msEstimate(rb.metric("first/model="+k.sub, "p99-ms")))
	}
	r.p("\nIn the cold benchmarks every request loads its model: `max_loaded_models` is 1 and the requests\n")
	r.p("cycle through four registered models of the kind, each unloading the one before, so a request\n")
	r.p("resolves the alias, loads the files from mlgate's download cache (filled by a first round)\n")
	r.p("into ONNX Runtime, warms the model up and answers. In the first-load benchmarks the model's\n")
	r.p("download cache entry is removed before each request (untimed), so the request also downloads\n")
	r.p("it, here by copying from the store's local artifact root. The benchmark fails unless every\n")
	r.p("request loaded a model. p50 and p99 are each run's percentiles of the request times the client\n")
	r.p("measured, as medians over the runs; a run's p99 rests on the tens of cold starts it made, so it\n")
	r.p("is close to that run's slowest.\n\n")
	if rb.Compare != "" {
		r.p("benchstat, the configured and the registry route side by side (`-col /route`):\n\n")
		r.p("```text\n%s\n```\n\n", rb.Compare)
	}
	r.goTestStep(&rb.GoTest, r.s.Plan.RegistryCount)
}

// usEstimate writes an estimate in ns as µs: "**61.2 µs** (95% CI
// 58.0–64.1)", the interval left out when there are too few runs.
func usEstimate(e Estimate) string { return timeEstimate(e, 1e-3, "µs") }

// msEstimate writes an estimate in ms: "**9.83 ms** (95% CI 8.1–11.2)".
func msEstimate(e Estimate) string { return timeEstimate(e, 1, "ms") }

func timeEstimate(e Estimate, scale float64, unit string) string {
	if !e.known() {
		return "n/a (see the output)"
	}
	s := fmt.Sprintf("**%s %s**", sig3(e.Median*scale), unit)
	if e.hasCI() {
		s += fmt.Sprintf(" (95%% CI %s–%s)", sig3(e.Lo*scale), sig3(e.Hi*scale))
	}
	return s
}

// ratioEstimate writes a ratio over runs: "1.02× (95% CI 0.99–1.04×, 6
// runs)".
func ratioEstimate(e Estimate) string { return ratioOver(e, "run") }

// sig3 writes v with three significant digits: "61.2", "9.83", "128".
func sig3(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}
