package kserve_test

import (
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestServingRuntimeFormats checks what KServe matches an
// InferenceService against: the model formats and protocols the runtime
// claims, and nothing it does not serve.
func TestServingRuntimeFormats(t *testing.T) {
	var sr servingRuntime
	decodeOne(t, loadManifests(t), "ServingRuntime", &sr)

	var names []string
	for _, f := range sr.Spec.SupportedModelFormats {
		names = append(names, f.Name)
		// mlgate reads models:/ URIs from a registry, never the files a
		// storageUri puts in /mnt/models: picked by itself for an
		// InferenceService that names no runtime, it would serve nothing.
		if f.AutoSelect != nil && *f.AutoSelect {
			t.Errorf("supportedModelFormats %s: autoSelect true; want false, the InferenceService names runtime: mlgate", f.Name)
		}
	}
	for _, want := range []string{"mlflow", "onnx"} {
		if !slices.Contains(names, want) {
			t.Errorf("supportedModelFormats %q: want %s", names, want)
		}
	}
	// mlgate serves KServe's V1 (/v1/models/<name>:predict, serve/v1.go),
	// the Open Inference Protocol over REST (v2) and over gRPC (grpc-v2).
	for _, want := range []string{"v1", "v2", "grpc-v2"} {
		if !slices.Contains(sr.Spec.ProtocolVersions, want) {
			t.Errorf("protocolVersions %q: want %s", sr.Spec.ProtocolVersions, want)
		}
	}
	for _, p := range sr.Spec.ProtocolVersions {
		if p != "v1" && p != "v2" && p != "grpc-v2" {
			t.Errorf("protocolVersions lists %s; mlgate speaks v1, v2 and grpc-v2 (and MLflow's /invocations)", p)
		}
	}
	if sr.Spec.MultiModel != nil && *sr.Spec.MultiModel {
		t.Errorf("multiModel true; mlgate is not a ModelMesh runtime")
	}
}

// TestServingRuntimePorts checks the ports KServe routes to and mlgate's
// listeners behind them: REST first (KServe's Service port 80 goes to the
// first container port), gRPC on 8081 as KServe's runtimes have it, and the
// admin listener on the pod's loopback, on neither.
func TestServingRuntimePorts(t *testing.T) {
	var sr servingRuntime
	decodeOne(t, loadManifests(t), "ServingRuntime", &sr)
	c := runtimeContainer(t, &sr)

	if !slices.Equal(c.Args, []string{"serve"}) {
		t.Errorf("args %q; want [serve] (the image's ENTRYPOINT is mlgate; the InferenceService says what to serve)", c.Args)
	}
	if ep := dockerfileSetting(t, `(?m)^ENTRYPOINT (\["mlgate"\])$`); ep != `["mlgate"]` {
		t.Errorf("Dockerfile ENTRYPOINT %s; want [\"mlgate\"], which args [serve] complete", ep)
	}
	if len(c.Ports) == 0 {
		t.Fatalf("container has no ports")
	}
	http, grpc := c.port(t, "http"), c.port(t, "grpc")
	if c.Ports[0] != http {
		t.Errorf("first port %s; want http: KServe's Service sends port 80 to the first container port", c.Ports[0].Name)
	}
	if http.ContainerPort != 8080 {
		t.Errorf("http port %d; want 8080, KServe's default HTTP port", http.ContainerPort)
	}
	if grpc.ContainerPort != 8081 {
		t.Errorf("grpc port %d; want 8081, the gRPC port of KServe's runtimes", grpc.ContainerPort)
	}
	for _, p := range c.Ports {
		if p.Protocol != "" && p.Protocol != "TCP" {
			t.Errorf("port %s protocol %s; want TCP", p.Name, p.Protocol)
		}
	}
	if got := c.listenPort(t, "MLGATE_LISTEN"); got != http.ContainerPort {
		t.Errorf("MLGATE_LISTEN port %d; want the http container port %d", got, http.ContainerPort)
	}
	if got := c.listenPort(t, "MLGATE_GRPC_LISTEN"); got != grpc.ContainerPort {
		t.Errorf("MLGATE_GRPC_LISTEN port %d; want the grpc container port %d", got, grpc.ContainerPort)
	}

	admin := c.literal(t, "MLGATE_ADMIN_LISTEN")
	if !isLoopbackAddr(admin) {
		t.Errorf("MLGATE_ADMIN_LISTEN=%s; want the pod's loopback", admin)
	}
	_, adminPort, _ := net.SplitHostPort(admin)
	for _, p := range c.Ports {
		if strconv.Itoa(p.ContainerPort) == adminPort {
			t.Errorf("MLGATE_ADMIN_LISTEN=%s shares port %s with container port %s", admin, adminPort, p.Name)
		}
	}
	// The image's own admin address must not take the gRPC port either:
	// in the image, gRPC on 8081 is one variable away.
	imageAdmin := dockerfileSetting(t, `MLGATE_ADMIN_LISTEN=(\S+)`)
	if _, p, _ := net.SplitHostPort(imageAdmin); p == strconv.Itoa(grpc.ContainerPort) {
		t.Errorf("Dockerfile MLGATE_ADMIN_LISTEN=%s takes the gRPC port %d", imageAdmin, grpc.ContainerPort)
	}

	ann := sr.Spec.Annotations
	if ann["prometheus.kserve.io/port"] != strconv.Itoa(http.ContainerPort) || ann["prometheus.kserve.io/path"] != "/metrics" {
		t.Errorf("annotations prometheus.kserve.io/port=%q path=%q; want %d and /metrics, where mlgate serves its metrics",
			ann["prometheus.kserve.io/port"], ann["prometheus.kserve.io/path"], http.ContainerPort)
	}
}

// TestServingRuntimeProbes checks the health checks: the Open Inference
// Protocol's ready and live endpoints on the REST port.
func TestServingRuntimeProbes(t *testing.T) {
	var sr servingRuntime
	decodeOne(t, loadManifests(t), "ServingRuntime", &sr)
	c := runtimeContainer(t, &sr)
	http := c.port(t, "http")
	tests := []struct {
		name  string
		probe *probe
		path  string
	}{
		{"startupProbe", c.StartupProbe, "/v2/health/ready"},
		{"readinessProbe", c.ReadinessProbe, "/v2/health/ready"},
		{"livenessProbe", c.LivenessProbe, "/v2/health/live"},
	}
	for _, tt := range tests {
		if tt.probe == nil || tt.probe.HTTPGet == nil {
			t.Errorf("%s: missing or not httpGet", tt.name)
			continue
		}
		if tt.probe.HTTPGet.Path != tt.path {
			t.Errorf("%s path %q; want %q", tt.name, tt.probe.HTTPGet.Path, tt.path)
		}
		if !refersToPort(tt.probe.HTTPGet.Port, http) {
			t.Errorf("%s port %q; want the http port", tt.name, tt.probe.HTTPGet.Port)
		}
		if tt.probe.PeriodSeconds <= 0 || tt.probe.TimeoutSeconds <= 0 || tt.probe.FailureThreshold <= 0 {
			t.Errorf("%s periodSeconds %d timeoutSeconds %d failureThreshold %d; want all positive",
				tt.name, tt.probe.PeriodSeconds, tt.probe.TimeoutSeconds, tt.probe.FailureThreshold)
		}
	}
}

// TestServingRuntimeSecurity checks that the container runs as the image's
// non-root user with nothing writable but its emptyDir volumes.
func TestServingRuntimeSecurity(t *testing.T) {
	var sr servingRuntime
	decodeOne(t, loadManifests(t), "ServingRuntime", &sr)
	c := runtimeContainer(t, &sr)

	sc := c.SecurityContext
	if sc == nil {
		t.Fatalf("container has no securityContext")
	}
	uid, err := strconv.ParseInt(dockerfileSetting(t, `(?m)^USER (\d+)`), 10, 64)
	if err != nil {
		t.Fatalf("Dockerfile USER: %v", err)
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != uid {
		t.Errorf("securityContext runAsNonRoot %v runAsUser %v; want true and the image's USER %d", sc.RunAsNonRoot, sc.RunAsUser, uid)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("securityContext.readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("securityContext.allowPrivilegeEscalation is not false")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("capabilities.drop %q; want [ALL]", sc.Capabilities.Drop)
	}

	cacheDir := c.literal(t, "MLGATE_CACHE_DIR")
	if image := dockerfileSetting(t, `MLGATE_CACHE_DIR=(\S+)`); cacheDir != image {
		t.Errorf("MLGATE_CACHE_DIR %s; want the image's %s", cacheDir, image)
	}
	for _, dir := range []string{cacheDir, "/tmp"} {
		i := slices.IndexFunc(c.VolumeMounts, func(m volumeMount) bool { return m.MountPath == dir })
		if i < 0 {
			t.Errorf("%s is not mounted; the root filesystem is read-only", dir)
			continue
		}
		v := slices.IndexFunc(sr.Spec.Volumes, func(v volume) bool { return v.Name == c.VolumeMounts[i].Name })
		if v < 0 || sr.Spec.Volumes[v].EmptyDir == nil {
			t.Errorf("%s is mounted from %s, not an emptyDir the runtime declares", dir, c.VolumeMounts[i].Name)
		}
	}
}

// TestServingRuntimeResources checks the requests and limits, and that the
// memory and disk settings fit inside them.
func TestServingRuntimeResources(t *testing.T) {
	var sr servingRuntime
	decodeOne(t, loadManifests(t), "ServingRuntime", &sr)
	c := runtimeContainer(t, &sr)

	for _, r := range []string{"cpu", "memory", "ephemeral-storage"} {
		if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
			t.Errorf("resources %s: request %q limit %q; want both", r, c.Resources.Requests[r], c.Resources.Limits[r])
		}
	}
	memLimit, err := parseBytes(c.Resources.Limits["memory"])
	if err != nil {
		t.Fatalf("limits.memory: %v", err)
	}
	goLimit, err := parseGoBytes(c.literal(t, "GOMEMLIMIT"))
	if err != nil {
		t.Fatalf("GOMEMLIMIT: %v", err)
	}
	if goLimit >= memLimit {
		t.Errorf("GOMEMLIMIT %d >= memory limit %d; ONNX Runtime's allocations need room outside the Go heap", goLimit, memLimit)
	}

	diskLimit, err := parseBytes(c.Resources.Limits["ephemeral-storage"])
	if err != nil {
		t.Fatalf("limits.ephemeral-storage: %v", err)
	}
	if req, err := parseBytes(c.Resources.Requests["ephemeral-storage"]); err != nil || req > diskLimit {
		t.Errorf("requests.ephemeral-storage %q: want a quantity no larger than the limit", c.Resources.Requests["ephemeral-storage"])
	}
	var volumes, cacheSize int64
	cacheDir := c.literal(t, "MLGATE_CACHE_DIR")
	for _, v := range sr.Spec.Volumes {
		if v.EmptyDir == nil || v.EmptyDir.Medium == "Memory" {
			continue
		}
		size, err := parseBytes(v.EmptyDir.SizeLimit)
		if err != nil || size <= 0 {
			t.Errorf("emptyDir %s sizeLimit %q: want a positive quantity", v.Name, v.EmptyDir.SizeLimit)
			continue
		}
		volumes += size
		if slices.ContainsFunc(c.VolumeMounts, func(m volumeMount) bool { return m.Name == v.Name && m.MountPath == cacheDir }) {
			cacheSize = size
		}
	}
	if volumes > diskLimit {
		t.Errorf("emptyDir sizeLimits add up to %d bytes, more than limits.ephemeral-storage %d: the kubelet would evict the pod first", volumes, diskLimit)
	}
	maxModel, err := parseBytes(c.literal(t, "MLGATE_MAX_MODEL_BYTES"))
	if err != nil {
		t.Fatalf("MLGATE_MAX_MODEL_BYTES: %v", err)
	}
	if cacheSize == 0 || 2*maxModel > cacheSize {
		t.Errorf("cache volume %d bytes; want room for two versions of MLGATE_MAX_MODEL_BYTES %d (the one serving and the next)", cacheSize, maxModel)
	}
	budget, err := parseBytes(c.literal(t, "MLGATE_CACHE_MAX_BYTES"))
	if err != nil || budget <= 0 || budget+maxModel > cacheSize {
		t.Errorf("MLGATE_CACHE_MAX_BYTES %d (%v): want a budget that, with a download of MLGATE_MAX_MODEL_BYTES %d in progress, fits the %d-byte cache volume", budget, err, maxModel, cacheSize)
	}
	if strings.TrimSpace(c.Image) == "" {
		t.Errorf("container has no image")
	}
}
