package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/registrygen"
)

// benchColdModels is how many registered models of each kind the cold
// starts cycle through. With max_loaded_models 1, each request addresses a
// model other than the one loaded, which it unloads: every request is a
// cold start, and the setup stays a handful of models however many
// iterations run.
const benchColdModels = 4

// benchRuns counts BenchmarkRegistryRoute's runs.
var benchRuns atomic.Int64

// benchOneRow is a one-row request the Small fixture (labelprobs) answers.
const benchOneRow = `{"dataframe_split": {"columns": ["x0", "x1", "x2"], "data": [[0.92, -0.05, 0.41]]}}`

// BenchmarkRegistryRoute measures registry routes over real loopback HTTP
// with a keep-alive client, on one mlgate serving a SQLite store:
//
//   - warm/route=configured and warm/route=registry: one-row requests, one
//     at a time, to the configured route gen (models:/gen-000@champion) and
//     to the registry route's /models/gen-000@champion/invocations, which
//     serve the same loaded version. benchstat -col /route compares them.
//   - warm-paired: both in turn, the order alternating, reporting each
//     one's p50 and their ratio (registry over configured), which a busy
//     machine shifts less than it shifts runs made one after the other.
//   - cold/model=small and cold/model=larger: every request a cold start
//     (resolve, load into ONNX Runtime, warm up, answer) of a Small
//     (labelprobs) or Larger (mlp256) model, its files already in mlgate's
//     download cache: max_loaded_models is 1 and the requests cycle through
//     benchColdModels models of the kind, each unloading the previous one.
//   - first/model=small and first/model=larger: the same with the model's
//     download cache entry removed before each request (untimed), so that
//     each is a first load, download from the store's artifact root
//     included.
//
// The cold and first benchmarks report the client-measured p50 and p99
// per request (p50-ms, p99-ms) beside ns/op, and fail unless every
// request loaded a model.
func BenchmarkRegistryRoute(b *testing.B) {
	kinds := []struct {
		name string
		kind registrygen.Kind
	}{{"small", registrygen.Small}, {"larger", registrygen.Larger}}
	reg := []registrygen.Model{{Name: "gen-000", Versions: []registrygen.Version{{Kind: registrygen.Small}},
		Aliases: map[string]int{"champion": 1}}}
	for _, k := range kinds {
		for i := range benchColdModels {
			reg = append(reg, registrygen.Model{Name: fmt.Sprintf("%s-%03d", k.name, i),
				Versions: []registrygen.Version{{Kind: k.kind}}, Aliases: map[string]int{"champion": 1}})
		}
	}
	uri, root := registrygen.SQLiteStore(b, b.TempDir(), reg)
	cfg := testConfig(b, uri, RouteConfig{Name: "gen", Model: "models:/gen-000@champion"})
	cfg.ArtifactsRoot = root
	cfg.PollInterval = defaultConfig().PollInterval // the default, not the tests' fast polling
	cfg.RegistryRoutes = []RegistryRouteConfig{{Allow: []string{"gen-*", "small-*", "larger-*"}, Aliases: []string{"champion"}}}
	cfg.MaxLoadedModels = 1
	r := startApp(b, cfg)
	c := &benchClient{c: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	defer c.c.CloseIdleConnections()

	configured, registry := r.url+"/routes/gen/invocations", r.url+"/models/gen-000@champion/invocations"
	for _, u := range []string{configured, registry} {
		c.must(b, u, benchOneRow)
	}
	// Which goes first alternates from run to run (-count), so that
	// neither always has the other's after-effects.
	warm := []struct{ name, url string }{{"configured", configured}, {"registry", registry}}
	if benchRuns.Add(1)%2 == 0 {
		slices.Reverse(warm)
	}
	for _, w := range warm {
		b.Run("warm/route="+w.name, func(b *testing.B) {
			d := make([]time.Duration, 0, 1<<16)
			for b.Loop() {
				d = append(d, c.must(b, w.url, benchOneRow))
			}
			reportPercentiles(b, d, time.Microsecond, "µs")
		})
	}
	// Both routes in turn, the order alternating, so that a busy machine
	// weighs on both alike: a ratio from one run.
	b.Run("warm-paired", func(b *testing.B) {
		var dc, dr []time.Duration
		i := 0
		for b.Loop() {
			if i++; i%2 == 0 {
				dc = append(dc, c.must(b, configured, benchOneRow))
				dr = append(dr, c.must(b, registry, benchOneRow))
			} else {
				dr = append(dr, c.must(b, registry, benchOneRow))
				dc = append(dc, c.must(b, configured, benchOneRow))
			}
		}
		pc, pr := percentile(dc, 0.50), percentile(dr, 0.50)
		b.ReportMetric(float64(pc)/float64(time.Microsecond), "p50-µs-configured")
		b.ReportMetric(float64(pr)/float64(time.Microsecond), "p50-µs-registry")
		b.ReportMetric(float64(pr)/float64(pc), "p50-ratio")
	})
	// Each kind's models, requested in turn; next is the one to request,
	// never the one loaded.
	next := map[string]int{}
	path := func(kind string) (name, url string) {
		name = fmt.Sprintf("%s-%03d", kind, next[kind]%benchColdModels)
		next[kind]++
		return name, r.url + "/models/" + name + "@champion/invocations"
	}
	bodies := map[string]string{}
	for _, k := range kinds {
		bodies[k.name] = string(registrygen.Files(b, k.kind)["serving_input_example.json"])
		// A first round downloads every model into the cache.
		for range benchColdModels {
			name, u := path(k.name)
			c.must(b, u, bodies[k.name])
			if _, err := os.Stat(filepath.Join(cfg.CacheDir, name)); err != nil {
				b.Fatalf("%s is not in the download cache after its first request: %v", name, err)
			}
		}
	}
	for _, first := range []bool{false, true} {
		for _, k := range kinds {
			what := map[bool]string{false: "cold", true: "first"}[first]
			b.Run(what+"/model="+k.name, func(b *testing.B) {
				loads := registryFigures(b, r)["loads"]
				d := make([]time.Duration, 0, 1024)
				for b.Loop() {
					name, u := path(k.name)
					if first {
						b.StopTimer()
						if err := os.RemoveAll(filepath.Join(cfg.CacheDir, name)); err != nil {
							b.Fatal(err)
						}
						b.StartTimer()
					}
					d = append(d, c.must(b, u, bodies[k.name]))
				}
				b.StopTimer()
				if first {
					// The last request downloaded its model again.
					name := fmt.Sprintf("%s-%03d", k.name, (next[k.name]-1)%benchColdModels)
					if _, err := os.Stat(filepath.Join(cfg.CacheDir, name)); err != nil {
						b.Fatalf("%s is not back in the download cache: %v", name, err)
					}
				}
				if got := registryFigures(b, r)["loads"] - loads; got != float64(len(d)) {
					b.Fatalf("%d requests loaded %v models; want a load each", len(d), got)
				}
				reportPercentiles(b, d, time.Millisecond, "ms")
			})
		}
	}
}

// benchClient posts requests over keep-alive connections.
type benchClient struct{ c *http.Client }

// post sends body to url and reads the whole answer, returning how long
// that took; an answer other than 200 is an error.
func (c *benchClient) post(url, body string) (time.Duration, error) {
	start := time.Now()
	resp, err := c.c.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		return 0, err
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != 200 {
		return 0, fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, data)
	}
	return took, nil
}

// must is post, failing the benchmark on an error.
func (c *benchClient) must(b *testing.B, url, body string) time.Duration {
	b.Helper()
	d, err := c.post(url, body)
	if err != nil {
		b.Fatal(err)
	}
	return d
}

// reportPercentiles reports the median and the 99th percentile of d in
// unit (named name: "p50-<name>", "p99-<name>").
func reportPercentiles(b *testing.B, d []time.Duration, unit time.Duration, name string) {
	if len(d) == 0 {
		return
	}
	b.ReportMetric(float64(percentile(d, 0.50))/float64(unit), "p50-"+name)
	b.ReportMetric(float64(percentile(d, 0.99))/float64(unit), "p99-"+name)
}

// percentile returns the q-quantile of d by nearest rank, sorting d; 0
// when d is empty.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := max(int(q*float64(len(d))+0.5)-1, 0)
	return d[min(i, len(d)-1)]
}
