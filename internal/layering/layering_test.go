package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

const (
	module = "github.com/mlgate/mlgate"
	ort    = "github.com/yalue/onnxruntime_go"
	fast   = "github.com/valyala/fasthttp"
	grpc   = "google.golang.org/grpc"
)

// pkg is what the rules read of one package of the module.
type pkg struct {
	ImportPath   string
	Imports      []string // direct, without tests
	Deps         []string // transitive, without tests
	TestImports  []string
	XTestImports []string
}

// rel returns a module package's path relative to the module
// ("serve", "internal/fakemlflow"), or the path unchanged outside it.
func rel(path string) string {
	if path == module {
		return "."
	}
	if r, ok := strings.CutPrefix(path, module+"/"); ok {
		return r
	}
	return path
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// graph is the module's packages by relative path.
type graph map[string]*pkg

// chain returns the import path from "from" to "to" through the module's
// packages, without tests: "serve -> x -> infer".
func (g graph) chain(from, to string) string {
	prev := map[string]string{from: ""}
	queue := []string{from}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		p := g[cur]
		if p == nil {
			continue
		}
		for _, imp := range p.Imports {
			next := rel(imp)
			if _, seen := prev[next]; seen {
				continue
			}
			prev[next] = cur
			if next == to || under(next, to) {
				path := []string{next}
				for at := cur; at != ""; at = prev[at] {
					path = append(path, at)
				}
				slices.Reverse(path)
				return strings.Join(path, " -> ")
			}
			queue = append(queue, next)
		}
	}
	return from + " -> … -> " + to
}

// rule is one import rule; check returns its violations.
type rule struct {
	name  string
	check func(g graph) []string
}

// noDeps forbids pkg, transitively and without its tests, every import
// under one of forbidden (relative module paths or full external paths).
func noDeps(p string, forbidden ...string) rule {
	return rule{p + " imports none of " + strings.Join(forbidden, ", "), func(g graph) []string {
		pk := g[p]
		if pk == nil {
			return []string{fmt.Sprintf("package %s does not exist; update the rule", p)}
		}
		var out []string
		for _, d := range pk.Deps {
			for _, f := range forbidden {
				if under(rel(d), f) {
					out = append(out, fmt.Sprintf("%s imports %s (%s)", p, d, g.chain(p, rel(d))))
				}
			}
		}
		return out
	}}
}

// pure forbids pkg every other package of the module.
func pure(p string) rule {
	return rule{p + " imports no mlgate package", func(g graph) []string {
		pk := g[p]
		if pk == nil {
			return []string{fmt.Sprintf("package %s does not exist; update the rule", p)}
		}
		var out []string
		for _, d := range pk.Deps {
			if d == module || strings.HasPrefix(d, module+"/") {
				out = append(out, fmt.Sprintf("%s imports %s (%s)", p, d, g.chain(p, rel(d))))
			}
		}
		return out
	}}
}

// onlyIn allows a direct import of target (tests included) only in the
// packages under allowed.
func onlyIn(target string, allowed ...string) rule {
	return rule{target + " is imported only in " + strings.Join(allowed, ", "), func(g graph) []string {
		var out []string
		for name, p := range g {
			if slices.ContainsFunc(allowed, func(a string) bool { return under(name, a) }) {
				continue
			}
			for what, imps := range map[string][]string{"": p.Imports, " (tests)": slices.Concat(p.TestImports, p.XTestImports)} {
				for _, imp := range imps {
					if under(imp, target) || under(rel(imp), target) {
						out = append(out, fmt.Sprintf("%s%s imports %s", name, what, imp))
					}
				}
			}
		}
		return out
	}}
}

// testOnly allows target in tests anywhere, and outside tests only in the
// packages under allowed (and in target's own tree).
func testOnly(target string, allowed ...string) rule {
	return rule{target + " is imported only by tests and " + strings.Join(allowed, ", "), func(g graph) []string {
		var out []string
		for name, p := range g {
			if under(name, target) || slices.ContainsFunc(allowed, func(a string) bool { return under(name, a) }) {
				continue
			}
			for _, d := range p.Deps {
				if under(rel(d), target) {
					out = append(out, fmt.Sprintf("%s imports %s (%s)", name, d, g.chain(name, rel(d))))
				}
			}
		}
		return out
	}}
}

// rules are mlgate's import rules (DEVELOPERS.md).
// bench/naive, a baseline nothing imports, calls ONNX Runtime directly on
// purpose: it measures what mlgate adds; bench/modelcost's tests time bare
// ONNX Runtime calls on the benchmark models.
var rules = []rule{
	pure("signature"),
	pure("telemetry"),
	onlyIn(ort, "infer", "bench/naive", "bench/modelcost"),
	noDeps("serve", "resolver", "infer", ort),
	noDeps("resolver", "serve", "infer"),
	noDeps("loadtest", "serve", "infer"),
	onlyIn(fast, "serve", "loadtest", "bench"),
	onlyIn(grpc, "serve", "bench", "cmd/mlgate"),
	testOnly("internal/fakemlflow", "bench", "internal/registrygen"),
	testOnly("internal/onnxgen", "bench", "internal/registrygen"),
	testOnly("internal/registrygen", "bench"),
}

func check(g graph) []string {
	var out []string
	for _, r := range rules {
		for _, v := range r.check(g) {
			out = append(out, r.name+": "+v)
		}
	}
	sort.Strings(out)
	return out
}

// TestImportRules reads the module's import graph with `go list` and fails
// with every import that breaks a rule.
func TestImportRules(t *testing.T) {
	g, err := load()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"serve", "infer", "resolver", "signature", "telemetry", "loadtest", "cmd/mlgate"} {
		if g[want] == nil {
			t.Fatalf("go list found no package %s among %d; the rules would check nothing", want, len(g))
		}
	}
	for _, v := range check(g) {
		t.Error(v)
	}
}

// TestImportRulesCatchViolations feeds the rules a graph that breaks each of
// them, so that a rule that stopped checking would show.
func TestImportRulesCatchViolations(t *testing.T) {
	m := func(p string) string { return module + "/" + p }
	g := graph{
		"signature":           {ImportPath: m("signature"), Imports: []string{m("telemetry")}, Deps: []string{m("telemetry")}},
		"telemetry":           {ImportPath: m("telemetry")},
		"infer":               {ImportPath: m("infer"), Imports: []string{ort}, Deps: []string{ort}},
		"serve":               {ImportPath: m("serve"), Imports: []string{m("serve/codec")}, Deps: []string{m("serve/codec"), m("infer"), ort, m("internal/registrygen")}},
		"serve/codec":         {ImportPath: m("serve/codec"), Imports: []string{m("infer")}, Deps: []string{m("infer"), ort}},
		"resolver":            {ImportPath: m("resolver"), TestImports: []string{m("internal/fakemlflow")}},
		"loadtest":            {ImportPath: m("loadtest"), Imports: []string{fast}, Deps: []string{fast}},
		"cmd/mlgate":          {ImportPath: m("cmd/mlgate"), Imports: []string{m("internal/fakemlflow"), fast, ort}, Deps: []string{m("internal/fakemlflow"), fast, ort}},
		"internal/fakemlflow": {ImportPath: m("internal/fakemlflow")},
		"bench/naive":         {ImportPath: m("bench/naive"), Imports: []string{ort}, Deps: []string{ort}},
		"bench/run":           {ImportPath: m("bench/run"), Imports: []string{m("internal/fakemlflow")}, Deps: []string{m("internal/fakemlflow")}},
		"internal/registrygen": {ImportPath: m("internal/registrygen"), Imports: []string{m("internal/fakemlflow"), m("internal/onnxgen")},
			Deps: []string{m("internal/fakemlflow"), m("internal/onnxgen")}},
	}
	got := strings.Join(check(g), "\n")
	for _, want := range []string{
		"signature imports no mlgate package: signature imports " + m("telemetry") + " (signature -> telemetry)",
		"serve imports none of resolver, infer, " + ort + ": serve imports " + m("infer") + " (serve -> serve/codec -> infer)",
		ort + " is imported only in infer, bench/naive, bench/modelcost: cmd/mlgate imports " + ort,
		fast + " is imported only in serve, loadtest, bench: cmd/mlgate imports " + fast,
		"internal/fakemlflow is imported only by tests and bench, internal/registrygen: cmd/mlgate imports " + m("internal/fakemlflow"),
		"internal/registrygen is imported only by tests and bench: serve imports " + m("internal/registrygen"),
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations:\n%s\nwant one containing %q", got, want)
		}
	}
	for _, allowed := range []string{"bench/naive", "resolver", "bench/run", "loadtest imports", "internal/registrygen imports"} {
		for _, line := range strings.Split(got, "\n") {
			if strings.Contains(line, ": "+allowed) {
				t.Errorf("violation %q for an allowed import", line)
			}
		}
	}
}

// load runs `go list -json ./...` at the module root.
func load() (graph, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(goTool(), "list", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.Bytes())
	}
	g := graph{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("go list output: %w", err)
		}
		g[rel(p.ImportPath)] = &p
	}
	return g, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == "/dev/null" {
		return "", errors.New("not inside the mlgate module")
	}
	return filepath.Dir(mod), nil
}

// goTool is the go command of the toolchain running the test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}
