package kubernetes_test

import (
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlgate/mlgate/infer"
)

// repoRoot is the repository root relative to this package.
const repoRoot = "../.."

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line    int    // first line, 1-based
	keyword string // upper case: FROM, RUN, COPY...
	args    string
}

// stage is one FROM and the instructions after it.
type stage struct {
	image    string // with the global ARGs' defaults substituted
	platform string // FROM --platform=..., as written
	name     string // "" without AS
	body     []instruction
}

// dockerfile is a parsed Dockerfile: its stages, the last one being the
// image, and the global ARGs (declared before the first FROM) with their
// defaults.
type dockerfile struct {
	stages []stage
	args   map[string]string
}

// argRef matches ${NAME} and $NAME.
var argRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// expand substitutes the global ARGs' defaults into s, as a FROM line sees
// them; unknown names are left as written.
func (df dockerfile) expand(s string) string {
	return argRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := argRef.FindStringSubmatch(m)
		name := sub[1] + sub[2]
		if v, ok := df.args[name]; ok {
			return v
		}
		return m
	})
}

// parseDockerfile splits the Dockerfile at path into instructions, joining
// lines that end in a backslash and dropping comments and blank lines. It
// substitutes global ARGs into FROM lines only and does not parse heredocs;
// these tests do not need more.
func parseDockerfile(t *testing.T, file string) dockerfile {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("read Dockerfile: %v", err)
	}
	var (
		df      = dockerfile{args: map[string]string{}}
		pending strings.Builder
		start   int
	)
	for i, raw := range strings.Split(string(data), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if pending.Len() == 0 {
			start = i + 1
		}
		cont := strings.HasSuffix(line, "\\")
		pending.WriteString(strings.TrimSuffix(line, "\\"))
		pending.WriteString(" ")
		if cont {
			continue
		}
		keyword, args, _ := strings.Cut(strings.TrimSpace(pending.String()), " ")
		pending.Reset()
		in := instruction{line: start, keyword: strings.ToUpper(keyword), args: strings.TrimSpace(args)}
		if in.keyword == "FROM" {
			st := stage{}
			fields := strings.Fields(in.args)
			for _, f := range fields {
				if v, ok := strings.CutPrefix(f, "--platform="); ok {
					st.platform = v
				}
			}
			fields = slices.DeleteFunc(fields, func(f string) bool { return strings.HasPrefix(f, "--") })
			if len(fields) == 0 {
				t.Fatalf("Dockerfile:%d: FROM without an image", in.line)
			}
			st.image = df.expand(fields[0])
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				st.name = fields[2]
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			if in.keyword != "ARG" {
				t.Fatalf("Dockerfile:%d: %s before the first FROM", in.line, in.keyword)
			}
			name, value, _ := strings.Cut(in.args, "=")
			df.args[name] = value
			continue
		}
		df.stages[len(df.stages)-1].body = append(df.stages[len(df.stages)-1].body, in)
	}
	if pending.Len() > 0 {
		t.Fatalf("Dockerfile ends inside a continued line")
	}
	return df
}

func (df dockerfile) final() stage { return df.stages[len(df.stages)-1] }

// stageNamed returns the stage called name.
func (df dockerfile) stageNamed(name string) (stage, bool) {
	for _, s := range df.stages {
		if s.name == name {
			return s, true
		}
	}
	return stage{}, false
}

// all returns the stage's instructions with keyword.
func (s stage) all(keyword string) []instruction {
	var out []instruction
	for _, in := range s.body {
		if in.keyword == keyword {
			out = append(out, in)
		}
	}
	return out
}

// last returns the stage's last instruction with keyword.
func (s stage) last(t *testing.T, keyword string) instruction {
	t.Helper()
	all := s.all(keyword)
	if len(all) == 0 {
		t.Fatalf("stage %s (%s) has no %s", s.name, s.image, keyword)
	}
	return all[len(all)-1]
}

// execForm decodes a JSON-array instruction argument (ENTRYPOINT ["mlgate"]).
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil {
		t.Fatalf("Dockerfile:%d: %s %s: want exec (JSON array) form: %v", in.line, in.keyword, in.args, err)
	}
	return argv
}

// copyInstr is a parsed COPY: its flags, sources and destination.
type copyInstr struct {
	line  int
	flags map[string]string
	srcs  []string
	dest  string
}

func (s stage) copies(t *testing.T) []copyInstr {
	t.Helper()
	var out []copyInstr
	for _, in := range s.all("COPY") {
		c := copyInstr{line: in.line, flags: map[string]string{}}
		var rest []string
		for _, f := range strings.Fields(in.args) {
			if k, ok := strings.CutPrefix(f, "--"); ok {
				name, value, _ := strings.Cut(k, "=")
				c.flags[name] = value
				continue
			}
			rest = append(rest, f)
		}
		if len(rest) < 2 {
			t.Fatalf("Dockerfile:%d: COPY needs a source and a destination", in.line)
		}
		c.srcs, c.dest = rest[:len(rest)-1], rest[len(rest)-1]
		out = append(out, c)
	}
	return out
}

// keyValues parses LABEL and ENV arguments: key=value pairs, values
// optionally double-quoted.
var keyValueRE = regexp.MustCompile(`([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|\S+)`)

func keyValues(args string) map[string]string {
	out := map[string]string{}
	for _, m := range keyValueRE.FindAllStringSubmatch(args, -1) {
		v := m[2]
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		out[m[1]] = v
	}
	return out
}

// debianRelease maps Debian code names used in golang image tags to the
// release numbers used in distroless image names.
var debianRelease = map[string]string{"bookworm": "12", "trixie": "13"}

func TestDockerfileStages(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(df.stages) < 2 {
		t.Fatalf("got %d stages; want a multi-stage build", len(df.stages))
	}
	names := map[string]bool{}
	for _, s := range df.stages[:len(df.stages)-1] {
		if s.name == "" {
			t.Errorf("stage FROM %s has no name; want FROM image AS name for COPY --from", s.image)
		}
		names[s.name] = true
	}
	for _, s := range df.stages {
		for _, c := range s.copies(t) {
			if from, ok := c.flags["from"]; ok && !names[from] {
				t.Errorf("Dockerfile:%d: COPY --from=%s names no earlier stage", c.line, from)
			}
		}
	}

	build, ok := df.stageNamed("build")
	if !ok {
		t.Fatalf("no stage named build")
	}
	goVersion := goModVersion(t)
	buildRef := parseImageRef(build.image)
	tag := buildRef.tag
	if buildRef.repo != "golang" || !strings.HasPrefix(tag, goVersion+"-") && tag != goVersion {
		t.Errorf("build stage FROM %s; want golang:%s-<debian> (go.mod says go %s)", build.image, goVersion, goVersion)
	}
	run := strings.Join(instructionArgs(build.all("RUN")), "\n")
	for _, want := range []string{"CGO_ENABLED=1", "go build", "-trimpath", "-X main.version=", "./cmd/mlgate"} {
		if !strings.Contains(run, want) {
			t.Errorf("build stage RUN has no %q", want)
		}
	}
	// A stripped binary: no symbol table (-s) and no DWARF (-w). Panics
	// still carry function names and lines, from the pclntab.
	m := regexp.MustCompile(`-ldflags[= ]"([^"]*)"`).FindStringSubmatch(run)
	if m == nil {
		t.Fatalf("build stage go build has no -ldflags \"...\"")
	}
	for _, flag := range []string{"-s", "-w"} {
		if !slices.Contains(strings.Fields(m[1]), flag) {
			t.Errorf("build stage -ldflags %q has no %s; want a stripped binary", m[1], flag)
		}
	}

	// The binary is linked against the build stage's glibc: the runtime
	// image must be glibc (ONNX Runtime needs it, and libstdc++) of the
	// same Debian release.
	runtime := df.final()
	for _, bad := range []string{"alpine", "scratch", "static", "musl"} {
		if strings.Contains(runtime.image, bad) {
			t.Errorf("runtime FROM %s; want a glibc image with libstdc++", runtime.image)
		}
	}
	codename := tag[strings.LastIndex(tag, "-")+1:]
	release, ok := debianRelease[codename]
	if !ok {
		t.Fatalf("build stage FROM %s: unknown Debian code name %q", build.image, codename)
	}
	if !strings.Contains(runtime.image, "debian"+release) && !strings.Contains(runtime.image, codename) {
		t.Errorf("runtime FROM %s; want Debian %s (%s) like the build stage %s", runtime.image, release, codename, build.image)
	}
}

// TestDockerfileONNXRuntime checks that the image gets ONNX Runtime from
// scripts/install-onnxruntime.sh (no second copy of its pins) and puts it
// where mlgate looks: lib/ or ../lib/ next to the binary.
func TestDockerfileONNXRuntime(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))

	const script = "scripts/install-onnxruntime.sh"
	data, err := os.ReadFile(filepath.Join(repoRoot, script))
	if err != nil {
		t.Fatalf("read %s: %v", script, err)
	}
	m := regexp.MustCompile(`(?m)^version=(\S+)$`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("%s: no version= line", script)
	}
	if got := string(m[1]); got != infer.ORTVersion {
		t.Errorf("%s installs ONNX Runtime %s; want infer.ORTVersion %s", script, got, infer.ORTVersion)
	}

	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatalf("read Dockerfile: %v", err)
	}
	// Image digests (name@sha256:...) belong in the Dockerfile; any other
	// sum would be a second copy of the script's ONNX Runtime pins.
	rest := imageDigestRE.ReplaceAll(raw, nil)
	if sum := regexp.MustCompile(`\b[0-9a-f]{64}\b`).Find(rest); sum != nil {
		t.Errorf("Dockerfile holds a sha256 %s; want the pins only in %s", sum, script)
	}
	runsScript := false
	for _, s := range df.stages {
		for _, in := range s.all("RUN") {
			if strings.Contains(in.args, script) {
				runsScript = true
			}
		}
	}
	if !runsScript {
		t.Errorf("no RUN invokes %s", script)
	}

	runtime := df.final()
	var binary, library string
	for _, c := range runtime.copies(t) {
		if len(c.srcs) != 1 {
			continue
		}
		dest := c.dest
		if strings.HasSuffix(dest, "/") {
			dest += path.Base(c.srcs[0])
		}
		switch {
		case path.Base(c.srcs[0]) == "mlgate" && path.Base(dest) == "mlgate":
			binary = dest
		case path.Base(dest) == infer.LibraryName:
			library = dest
		}
	}
	if binary == "" || library == "" {
		t.Fatalf("runtime stage copies binary %q, library %q; want both (COPY ... /dir/mlgate, COPY ... /dir/%s)", binary, library, infer.LibraryName)
	}
	dir := path.Dir(binary)
	if want := []string{path.Join(dir, "lib", infer.LibraryName), path.Join(dir, "..", "lib", infer.LibraryName)}; !slices.Contains(want, library) {
		t.Errorf("library at %s; want one of %q, where mlgate at %s looks", library, want, binary)
	}
	if _, ok := keyValues(strings.Join(instructionArgs(runtime.all("ENV")), " "))[infer.LibraryEnv]; ok {
		t.Errorf("runtime ENV sets %s; want the library found next to the binary", infer.LibraryEnv)
	}
	// ENTRYPOINT ["mlgate"] is looked up in PATH, which the image does not
	// change from the distroless default.
	if !slices.Contains([]string{"/usr/local/bin", "/usr/bin", "/bin"}, dir) {
		t.Errorf("binary at %s; want it in a directory on the default PATH", binary)
	}
}

// TestDockerfileRuntime checks the runtime stage's user, entry point, health
// check, port, cache volume and labels, and that the Deployment agrees.
func TestDockerfileRuntime(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	runtime := df.final()

	user := runtime.last(t, "USER").args
	uid, gid, _ := strings.Cut(user, ":")
	uidN, err := strconv.ParseInt(uid, 10, 64)
	if err != nil || uidN == 0 {
		t.Errorf("USER %s; want a numeric non-root uid", user)
	}
	if gid != "" {
		if n, err := strconv.ParseInt(gid, 10, 64); err != nil || n == 0 {
			t.Errorf("USER %s; want a numeric non-root gid", user)
		}
	}

	if got := execForm(t, runtime.last(t, "ENTRYPOINT")); !slices.Equal(got, []string{"mlgate"}) {
		t.Errorf("ENTRYPOINT %q; want [mlgate]", got)
	}
	cmd := execForm(t, runtime.last(t, "CMD"))
	if want := []string{"serve", "--config", "/etc/mlgate/mlgate.yaml"}; !slices.Equal(cmd, want) {
		t.Errorf("CMD %q; want %q", cmd, want)
	}

	env := keyValues(strings.Join(instructionArgs(runtime.all("ENV")), " "))
	_, listenPort, err := net.SplitHostPort(env["MLGATE_LISTEN"])
	if err != nil {
		t.Fatalf("ENV MLGATE_LISTEN=%q: %v", env["MLGATE_LISTEN"], err)
	}
	if host, _, _ := net.SplitHostPort(env["MLGATE_LISTEN"]); host != "0.0.0.0" && host != "" {
		t.Errorf("ENV MLGATE_LISTEN=%s; want all interfaces in a container", env["MLGATE_LISTEN"])
	}
	if expose := strings.Fields(runtime.last(t, "EXPOSE").args); !slices.Contains(expose, listenPort) && !slices.Contains(expose, listenPort+"/tcp") {
		t.Errorf("EXPOSE %q; want the listen port %s", expose, listenPort)
	}

	// The admin endpoints stay inside the container: the image sets no
	// token, and mlgate refuses a non-loopback admin address without one.
	if admin := env["MLGATE_ADMIN_LISTEN"]; !isLoopbackAddr(admin) {
		t.Errorf("ENV MLGATE_ADMIN_LISTEN=%q; want a loopback address (the image carries no admin token)", admin)
	}

	// The health check reads the configuration serve reads, so it follows
	// the listener's port and scheme: no --url of its own.
	hc := runtime.last(t, "HEALTHCHECK").args
	i := strings.Index(hc, "CMD ")
	if i < 0 {
		t.Fatalf("HEALTHCHECK %s: want CMD [...]", hc)
	}
	probe := execForm(t, instruction{line: runtime.last(t, "HEALTHCHECK").line, keyword: "HEALTHCHECK", args: hc[i+len("CMD "):]})
	if want := []string{"mlgate", "healthcheck", "--config", cmd[2]}; !slices.Equal(probe, want) {
		t.Errorf("HEALTHCHECK CMD %q; want %q (the config file the CMD serves)", probe, want)
	}

	cacheDir := env["MLGATE_CACHE_DIR"]
	if cacheDir == "" {
		t.Errorf("runtime ENV has no MLGATE_CACHE_DIR")
	}
	var volumes []string
	for _, in := range runtime.all("VOLUME") {
		var list []string
		if json.Unmarshal([]byte(in.args), &list) != nil {
			list = strings.Fields(in.args)
		}
		volumes = append(volumes, list...)
	}
	if !slices.Contains(volumes, cacheDir) {
		t.Errorf("VOLUME %q; want the cache dir %s", volumes, cacheDir)
	}
	ownedCache := false
	for _, c := range runtime.copies(t) {
		if c.dest == cacheDir && c.flags["chown"] == user {
			ownedCache = true
		}
	}
	if !ownedCache {
		t.Errorf("no COPY --chown=%s creates %s; the runtime user could not write its cache", user, cacheDir)
	}

	labels := keyValues(strings.Join(instructionArgs(runtime.all("LABEL")), " "))
	for _, key := range []string{"org.opencontainers.image.source", "org.opencontainers.image.title", "org.opencontainers.image.version", "org.opencontainers.image.revision"} {
		if labels[key] == "" {
			t.Errorf("LABEL %s is missing", key)
		}
	}
	if src := labels["org.opencontainers.image.source"]; !strings.HasPrefix(src, "https://") {
		t.Errorf("LABEL org.opencontainers.image.source=%q; want an https URL", src)
	}

	// The Deployment runs this image: same user, port, command and cache.
	var d deployment
	decodeOne(t, loadManifests(t), "Deployment", &d)
	c := mlgateContainer(t, &d)
	if u := d.Spec.Template.Spec.SecurityContext.RunAsUser; u == nil || *u != uidN {
		t.Errorf("Deployment runAsUser %v; want the image's USER %d", u, uidN)
	}
	if g := d.Spec.Template.Spec.SecurityContext.FSGroup; gid != "" && (g == nil || strconv.FormatInt(*g, 10) != gid) {
		t.Errorf("Deployment fsGroup %v; want the image's group %s", g, gid)
	}
	if _, port := c.httpPort(t); strconv.Itoa(port) != listenPort {
		t.Errorf("Deployment containerPort %d; want the image's port %s", port, listenPort)
	}
	if !slices.Equal(c.Args, cmd) {
		t.Errorf("Deployment args %q; want the image's CMD %q", c.Args, cmd)
	}
	if got := c.env(t, "MLGATE_CACHE_DIR"); got != cacheDir {
		t.Errorf("Deployment MLGATE_CACHE_DIR %s; want the image's %s", got, cacheDir)
	}
}

// TestDockerignore checks that the build context keeps what the Dockerfile
// copies and every Go source file the build compiles, and leaves out the
// repository metadata and local ONNX Runtime cache.
func TestDockerignore(t *testing.T) {
	patterns := readDockerignore(t)
	ignored := func(p string) bool { return dockerignored(patterns, p) }

	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	for _, s := range df.stages {
		for _, c := range s.copies(t) {
			if _, ok := c.flags["from"]; ok {
				continue
			}
			for _, src := range c.srcs {
				if src != "." && ignored(path.Clean(src)) {
					t.Errorf("Dockerfile:%d copies %s, which .dockerignore leaves out", c.line, src)
				}
			}
		}
	}

	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(repoRoot, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		name := d.Name()
		if d.IsDir() {
			// The go command skips these directories itself.
			if rel != "." && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go")) || name == "go.mod" || name == "go.sum" {
			if ignored(rel) {
				t.Errorf(".dockerignore leaves out %s, which go build needs", rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("walk repository: %v", err)
	}

	for _, p := range []string{".git/HEAD", ".cache/onnxruntime/" + infer.ORTVersion + "/" + infer.LibraryName, "bin/mlgate", "mlgate"} {
		if !ignored(p) {
			t.Errorf(".dockerignore keeps %s in the build context; want it left out", p)
		}
	}
}

func readDockerignore(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatalf("read .dockerignore: %v", err)
	}
	var patterns []string
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		patterns = append(patterns, line)
	}
	return patterns
}

// dockerignored reports whether the build context leaves out p (slash
// separated, relative to the context): the last pattern that matches p or
// one of its parent directories decides, and "!" patterns keep. Patterns
// follow Go's filepath.Match, with "**" for any number of directories.
func dockerignored(patterns []string, p string) bool {
	ignored := false
	for _, pat := range patterns {
		keep := strings.HasPrefix(pat, "!")
		re := dockerignoreRE(path.Clean(strings.TrimPrefix(strings.TrimPrefix(pat, "!"), "/")))
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if re.MatchString(q) {
				ignored = !keep
				break
			}
		}
	}
	return ignored
}

func dockerignoreRE(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(pat); i++ {
		switch {
		case strings.HasPrefix(pat[i:], "**/"):
			b.WriteString("(?:.*/)?")
			i += 2
		case strings.HasPrefix(pat[i:], "**"):
			b.WriteString(".*")
			i++
		case pat[i] == '*':
			b.WriteString("[^/]*")
		case pat[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

func TestDockerignoreMatcher(t *testing.T) {
	tests := []struct {
		patterns []string
		path     string
		want     bool
	}{
		{[]string{".git"}, ".git/HEAD", true},
		{[]string{".git"}, "x/.git", false},
		{[]string{"**/testdata"}, "testdata/a.json", true},
		{[]string{"**/testdata"}, "resolver/testdata/rest/a.json", true},
		{[]string{"**/*_test.go"}, "serve/serve_test.go", true},
		{[]string{"**/*_test.go"}, "serve/server.go", false},
		{[]string{"*.md"}, "README.md", true},
		{[]string{"*.md"}, "docs/README.md", false},
		{[]string{"docs"}, "docs/a/b.md", true},
		{[]string{"scripts", "!scripts/install-onnxruntime.sh"}, "scripts/install-onnxruntime.sh", false},
		{[]string{"scripts", "!scripts/install-onnxruntime.sh"}, "scripts/bench.sh", true},
		{[]string{"/bin"}, "bin/mlgate", true},
		{[]string{"cmd/*/main.go"}, "cmd/mlgate/main.go", true},
	}
	for _, tt := range tests {
		if got := dockerignored(tt.patterns, tt.path); got != tt.want {
			t.Errorf("dockerignored(%q, %q) = %v; want %v", tt.patterns, tt.path, got, tt.want)
		}
	}
}

func instructionArgs(ins []instruction) []string {
	out := make([]string, len(ins))
	for i, in := range ins {
		out[i] = in.args
	}
	return out
}

// goModVersion returns go.mod's language version as major.minor ("1.26").
func goModVersion(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatalf("read go.mod: %v", err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(data)
	if m == nil {
		t.Fatalf("go.mod: no go directive")
	}
	return string(m[1])
}

// isLoopbackAddr reports whether addr (host:port) is on a loopback
// address, as mlgate decides whether its admin listener needs a token.
func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
