package kubernetes_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// imageDigestRE matches the digest part of an image reference.
var imageDigestRE = regexp.MustCompile(`@sha256:[0-9a-f]{64}\b`)

// imageRef is an image reference split into its parts.
type imageRef struct {
	repo   string // registry and repository: gcr.io/distroless/cc-debian13
	tag    string // "" without one
	digest string // "sha256:..." or ""
}

// parseImageRef splits "registry/repo:tag@sha256:..." into its parts. A
// colon before the last slash belongs to a registry's port, not a tag.
func parseImageRef(ref string) imageRef {
	var r imageRef
	ref, r.digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref, r.tag = ref[:i], ref[i+1:]
	}
	r.repo = ref
	return r
}

// TestDockerfileBaseImagesPinned checks that every base image is named by
// tag, for people, and by digest, for the build: a rebuild cannot pick up a
// moved tag.
func TestDockerfileBaseImagesPinned(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	names := map[string]bool{}
	for _, s := range df.stages {
		if names[s.image] {
			continue // FROM an earlier stage
		}
		names[s.name] = true
		ref := parseImageRef(s.image)
		if ref.tag == "" {
			t.Errorf("stage %s FROM %s: want a tag beside the digest, saying what the digest is", s.name, s.image)
		}
		if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(ref.digest) {
			t.Errorf("stage %s FROM %s: want it pinned by digest (name:tag@sha256:<64 hex>)", s.name, s.image)
		}
	}
}

// TestDockerfileMultiPlatform checks that one build makes linux/amd64 and
// linux/arm64 images: the tools run on the build machine, mlgate and ONNX
// Runtime are for the target, and the runtime base is the target's.
func TestDockerfileMultiPlatform(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))

	const script = "scripts/install-onnxruntime.sh"
	data, err := os.ReadFile(filepath.Join(repoRoot, script))
	if err != nil {
		t.Fatalf("read %s: %v", script, err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if !regexp.MustCompile(`(?m)^lib_sha256_` + arch + `=[0-9a-f]{64}$`).Match(data) {
			t.Errorf("%s pins no lib_sha256_%s; the %s image would have no checked ONNX Runtime", script, arch, arch)
		}
	}

	var fetch *stage
	for i, s := range df.stages {
		for _, in := range s.all("RUN") {
			if strings.Contains(in.args, script) {
				fetch = &df.stages[i]
				if !strings.Contains(in.args, `--arch "$TARGETARCH"`) && !strings.Contains(in.args, "--arch $TARGETARCH") {
					t.Errorf("Dockerfile:%d runs %s without --arch $TARGETARCH; every platform would get the build machine's library", in.line, script)
				}
			}
		}
	}
	if fetch == nil {
		t.Fatalf("no RUN invokes %s", script)
	}

	build, ok := df.stageNamed("build")
	if !ok {
		t.Fatalf("no stage named build")
	}
	for _, s := range []stage{*fetch, build} {
		if s.platform != "$BUILDPLATFORM" {
			t.Errorf("stage %s FROM --platform=%q; want $BUILDPLATFORM, so it runs natively and builds for $TARGETARCH", s.name, s.platform)
		}
		if !declaresArg(s, "TARGETARCH") {
			t.Errorf("stage %s uses no ARG TARGETARCH; BuildKit sets it only where it is declared", s.name)
		}
	}
	run := strings.Join(instructionArgs(build.all("RUN")), "\n")
	for _, want := range []string{`GOARCH="$TARGETARCH"`, "CC=", "amd64)", "arm64)"} {
		if !strings.Contains(run, want) {
			t.Errorf("build stage RUN has no %q; want cgo cross-compiled for amd64 and arm64", want)
		}
	}
	if p := df.final().platform; p != "" {
		t.Errorf("runtime stage FROM --platform=%s; want the target platform's base image", p)
	}
}

// TestDockerfileMirrors checks that the module proxy and the npm registry
// are build arguments, declared before the steps that fetch from them.
func TestDockerfileMirrors(t *testing.T) {
	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	tests := []struct {
		arg   string
		fetch string // a RUN that must see it
	}{
		{"GOPROXY", "go mod download"},
		{"NPM_CONFIG_REGISTRY", "scripts/install-onnxruntime.sh"},
	}
	for _, tt := range tests {
		found := false
		for _, s := range df.stages {
			declared := false
			for _, in := range s.body {
				if in.keyword == "ARG" && argName(in.args) == tt.arg {
					declared = true
				}
				if in.keyword == "RUN" && strings.Contains(in.args, tt.fetch) {
					found = true
					if !declared {
						t.Errorf("Dockerfile:%d runs %q before ARG %s in stage %s; a mirror given with --build-arg would not reach it", in.line, tt.fetch, tt.arg, s.name)
					}
				}
			}
		}
		if !found {
			t.Errorf("no RUN %q", tt.fetch)
		}
	}
}

// TestMakefileImage checks that `make image` runs the multi-platform buildx
// build with build arguments the Dockerfile declares, and can push.
func TestMakefileImage(t *testing.T) {
	mk := readMakefile(t)
	recipe, ok := mk.recipes["image"]
	if !ok {
		t.Fatalf("Makefile has no image target")
	}
	if !strings.Contains(recipe, "docker buildx build") {
		t.Errorf("image recipe %q: want docker buildx build", recipe)
	}
	m := regexp.MustCompile(`--platform[= ]\$\(([A-Z_]+)\)`).FindStringSubmatch(recipe)
	if m == nil {
		t.Fatalf("image recipe: want --platform $(VARIABLE)")
	}
	platforms := strings.Split(mk.vars[m[1]], ",")
	for _, want := range []string{"linux/amd64", "linux/arm64"} {
		if !slices.Contains(platforms, want) {
			t.Errorf("%s = %q; want it to include %s", m[1], mk.vars[m[1]], want)
		}
	}

	df := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	declared := map[string]bool{}
	for name := range df.args {
		declared[name] = true
	}
	for _, s := range df.stages {
		for _, in := range s.all("ARG") {
			declared[argName(in.args)] = true
		}
	}
	var given []string
	for _, m := range regexp.MustCompile(`--build-arg ([A-Z_]+)=`).FindAllStringSubmatch(recipe, -1) {
		given = append(given, m[1])
		if !declared[m[1]] {
			t.Errorf("image recipe passes --build-arg %s, which the Dockerfile does not declare", m[1])
		}
	}
	for _, want := range []string{"GOPROXY", "NPM_CONFIG_REGISTRY", "VERSION", "REVISION"} {
		if !slices.Contains(given, want) {
			t.Errorf("image recipe passes no --build-arg %s", want)
		}
	}
	if !strings.Contains(mk.text, "--push") {
		t.Errorf("Makefile never passes --push; want make image to be able to push")
	}
	if !slices.Contains(mk.phony, "image") {
		t.Errorf(".PHONY does not list image")
	}
}

// declaresArg reports whether stage s has ARG name.
func declaresArg(s stage, name string) bool {
	for _, in := range s.all("ARG") {
		if argName(in.args) == name {
			return true
		}
	}
	return false
}

// argName returns the name of an ARG instruction's argument (NAME or
// NAME=default).
func argName(args string) string {
	name, _, _ := strings.Cut(strings.TrimSpace(args), "=")
	return name
}

// makefile is the part of the Makefile these tests read: simple variable
// definitions, recipes by target, and .PHONY.
type makefile struct {
	text    string
	vars    map[string]string // NAME ?= value, NAME := value, NAME = value
	recipes map[string]string // target -> its recipe lines, joined
	phony   []string
}

func readMakefile(t *testing.T) makefile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Makefile"))
	if err != nil {
		t.Fatalf("read Makefile: %v", err)
	}
	mk := makefile{text: string(data), vars: map[string]string{}, recipes: map[string]string{}}
	varRE := regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(\?=|:=|=)\s*(.*)$`)
	ruleRE := regexp.MustCompile(`^([A-Za-z0-9_.\-]+):([^=]|$)`)
	target := ""
	for _, line := range strings.Split(mk.text, "\n") {
		if strings.HasPrefix(line, "\t") {
			if target != "" {
				mk.recipes[target] += strings.TrimSuffix(strings.TrimSpace(line), "\\") + " "
			}
			continue
		}
		target = ""
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		if m := varRE.FindStringSubmatch(line); m != nil && !strings.Contains(m[1], ":") {
			mk.vars[m[1]] = strings.TrimSpace(m[3])
			continue
		}
		if m := ruleRE.FindStringSubmatch(line); m != nil {
			if m[1] == ".PHONY" {
				mk.phony = append(mk.phony, strings.Fields(strings.TrimPrefix(line, ".PHONY:"))...)
				continue
			}
			target = m[1]
		}
	}
	return mk
}
