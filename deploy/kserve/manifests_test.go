// Package kserve_test checks the KServe manifests in this directory: the
// fields KServe reads from the mlgate ServingRuntime and the example
// InferenceService, what the pod KServe builds from the two will run (the
// runtime's container merged with the InferenceService's, as KServe merges
// them), and that they agree with mlgate's settings and the image
// (../../Dockerfile).
//
// It reads files only and imports no mlgate package.
package kserve_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// repoRoot is the repository root relative to this package.
const repoRoot = "../.."

const (
	kustomizationFile = "kustomization.yaml"
	// exampleSuffix marks templates to fill in (the Secret).
	exampleSuffix = ".example.yaml"
	// modelFile is the example InferenceService, copied per model rather
	// than installed with the runtime.
	modelFile = "inferenceservice.yaml"
	// kserveContainer is the name KServe finds the model server by.
	kserveContainer = "kserve-container"
)

// credentialVars are the variables through which mlgate takes secrets and
// the registry's address: MLflow and artifact-store credentials, the
// tracking URI, its admin token and its webhook secret.
var credentialVars = []string{
	"MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MLFLOW_S3_ENDPOINT_URL",
	"MLGATE_ADMIN_TOKEN", "MLGATE_WEBHOOK_SECRET",
}

// manifest is one YAML document of a manifest file.
type manifest struct {
	file       string
	node       *yaml.Node
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
}

// intOrString holds a Kubernetes IntOrString as written.
type intOrString string

func (s *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want an integer or a string", n.Line)
	}
	*s = intOrString(n.Value)
	return nil
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *struct {
			Name     string `yaml:"name"`
			Key      string `yaml:"key"`
			Optional *bool  `yaml:"optional"`
		} `yaml:"secretKeyRef"`
	} `yaml:"valueFrom"`
}

type envFrom struct {
	SecretRef *struct {
		Name     string `yaml:"name"`
		Optional *bool  `yaml:"optional"`
	} `yaml:"secretRef"`
}

type containerPort struct {
	Name          string `yaml:"name"`
	ContainerPort int    `yaml:"containerPort"`
	Protocol      string `yaml:"protocol"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	ReadOnly  bool   `yaml:"readOnly"`
}

type probe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	TimeoutSeconds   int `yaml:"timeoutSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

// container is the part of a Kubernetes container these tests read, in a
// ServingRuntime or an InferenceService's predictor.model.
type container struct {
	Name           string          `yaml:"name"`
	Image          string          `yaml:"image"`
	Args           []string        `yaml:"args"`
	Ports          []containerPort `yaml:"ports"`
	Env            []envVar        `yaml:"env"`
	EnvFrom        []envFrom       `yaml:"envFrom"`
	StartupProbe   *probe          `yaml:"startupProbe"`
	ReadinessProbe *probe          `yaml:"readinessProbe"`
	LivenessProbe  *probe          `yaml:"livenessProbe"`
	Lifecycle      struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *struct {
		RunAsNonRoot             *bool  `yaml:"runAsNonRoot"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []volumeMount `yaml:"volumeMounts"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
	EmptyDir *struct {
		Medium    string `yaml:"medium"`
		SizeLimit string `yaml:"sizeLimit"`
	} `yaml:"emptyDir"`
}

type servingRuntime struct {
	Spec struct {
		Annotations           map[string]string `yaml:"annotations"`
		MultiModel            *bool             `yaml:"multiModel"`
		SupportedModelFormats []struct {
			Name       string  `yaml:"name"`
			Version    *string `yaml:"version"`
			AutoSelect *bool   `yaml:"autoSelect"`
		} `yaml:"supportedModelFormats"`
		ProtocolVersions []string    `yaml:"protocolVersions"`
		Containers       []container `yaml:"containers"`
		Volumes          []volume    `yaml:"volumes"`
	} `yaml:"spec"`
}

type modelSpec struct {
	Runtime     string `yaml:"runtime"`
	ModelFormat struct {
		Name    string  `yaml:"name"`
		Version *string `yaml:"version"`
	} `yaml:"modelFormat"`
	ProtocolVersion string  `yaml:"protocolVersion"`
	StorageURI      *string `yaml:"storageUri"`
	container       `yaml:",inline"`
}

type inferenceService struct {
	Spec struct {
		Predictor struct {
			MinReplicas        *int   `yaml:"minReplicas"`
			MaxReplicas        int    `yaml:"maxReplicas"`
			ScaleMetric        string `yaml:"scaleMetric"`
			ScaleTarget        *int   `yaml:"scaleTarget"`
			DeploymentStrategy *struct {
				Type          string `yaml:"type"`
				RollingUpdate *struct {
					MaxUnavailable intOrString `yaml:"maxUnavailable"`
					MaxSurge       intOrString `yaml:"maxSurge"`
				} `yaml:"rollingUpdate"`
			} `yaml:"deploymentStrategy"`
			TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
			AutomountServiceAccountToken  *bool `yaml:"automountServiceAccountToken"`
			EnableServiceLinks            *bool `yaml:"enableServiceLinks"`
			SecurityContext               struct {
				RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
				RunAsUser    *int64 `yaml:"runAsUser"`
			} `yaml:"securityContext"`
			Model      *modelSpec  `yaml:"model"`
			Containers []container `yaml:"containers"`
			Volumes    []volume    `yaml:"volumes"`
		} `yaml:"predictor"`
	} `yaml:"spec"`
}

type configMap struct {
	Data map[string]string `yaml:"data"`
}

type secret struct {
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

func (s secret) has(key string) bool {
	_, inData := s.Data[key]
	_, inStringData := s.StringData[key]
	return inData || inStringData
}

// mlgateConfig is the part of mlgate serve's config file these tests read.
type mlgateConfig struct {
	TrackingURI string `yaml:"tracking_uri"`
	Routes      []struct {
		Name    string `yaml:"name"`
		Model   string `yaml:"model"`
		Targets []struct {
			Model string `yaml:"model"`
		} `yaml:"targets"`
		Shadow *struct {
			Model string `yaml:"model"`
		} `yaml:"shadow"`
	} `yaml:"routes"`
}

// manifestFiles returns the YAML files of this directory, sorted.
func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatalf("list manifests: %v", err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no *.yaml files in deploy/kserve")
	}
	return files
}

// loadManifests parses every document of every manifest file except the
// kustomization.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	var all []manifest
	for _, file := range manifestFiles(t) {
		if file == kustomizationFile {
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("read %s: %v", file, err)
		}
		dec := yaml.NewDecoder(strings.NewReader(string(data)))
		for i := 0; ; i++ {
			var node yaml.Node
			err := dec.Decode(&node)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			if len(node.Content) == 0 || node.Content[0].Kind == yaml.ScalarNode && node.Content[0].Tag == "!!null" {
				continue
			}
			m := manifest{file: file, node: &node}
			if err := node.Decode(&m); err != nil {
				t.Fatalf("%s document %d: %v", file, i, err)
			}
			all = append(all, m)
		}
	}
	return all
}

// decodeOne decodes the one manifest of kind into v and returns it.
func decodeOne(t *testing.T, all []manifest, kind string, v any) manifest {
	t.Helper()
	var found []manifest
	for _, m := range all {
		if m.Kind == kind {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("got %d %s manifests; want 1", len(found), kind)
	}
	if err := found[0].node.Decode(v); err != nil {
		t.Fatalf("%s %s: %v", found[0].file, kind, err)
	}
	return found[0]
}

// decodeNamed decodes the manifest of kind called name into v.
func decodeNamed(t *testing.T, all []manifest, kind, name string, v any) bool {
	t.Helper()
	for _, m := range all {
		if m.Kind == kind && m.Metadata.Name == name {
			if err := m.node.Decode(v); err != nil {
				t.Fatalf("%s %s %s: %v", m.file, kind, name, err)
			}
			return true
		}
	}
	return false
}

// runtimeContainer returns the ServingRuntime's model server container.
func runtimeContainer(t *testing.T, sr *servingRuntime) *container {
	t.Helper()
	if n := len(sr.Spec.Containers); n != 1 {
		t.Fatalf("ServingRuntime has %d containers; want 1, the model server", n)
	}
	c := &sr.Spec.Containers[0]
	if c.Name != kserveContainer {
		t.Fatalf("ServingRuntime container %q; want %q, the name KServe finds the model server by", c.Name, kserveContainer)
	}
	return c
}

// env returns the container's variable name and whether it is set.
func (c *container) env(name string) (envVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return envVar{}, false
}

// literal returns the literal value of the container's variable name.
func (c *container) literal(t *testing.T, name string) string {
	t.Helper()
	e, ok := c.env(name)
	if !ok || e.Value == "" {
		t.Fatalf("container %s: env %s has no literal value", c.Name, name)
	}
	return e.Value
}

// port returns the container port named name.
func (c *container) port(t *testing.T, name string) containerPort {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("container %s: no port named %s", c.Name, name)
	return containerPort{}
}

// listenPort returns the port of the container's host:port variable name
// and fails unless its host is all interfaces.
func (c *container) listenPort(t *testing.T, name string) int {
	t.Helper()
	addr := c.literal(t, name)
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, addr, err)
	}
	if host != "0.0.0.0" && host != "" && host != "::" {
		t.Errorf("%s=%s; want all interfaces, so the Service and the kubelet reach it", name, addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("%s=%q: port: %v", name, addr, err)
	}
	return n
}

func refersToPort(ref intOrString, p containerPort) bool {
	return string(ref) == p.Name || string(ref) == strconv.Itoa(p.ContainerPort)
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

// dockerfileSetting returns the first submatch of re in the Dockerfile.
func dockerfileSetting(t *testing.T, re string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatalf("read Dockerfile: %v", err)
	}
	m := regexp.MustCompile(re).FindSubmatch(data)
	if m == nil {
		t.Fatalf("Dockerfile: nothing matches %s", re)
	}
	return string(m[1])
}

func duration(t *testing.T, c *container, name string) time.Duration {
	t.Helper()
	v := c.literal(t, name)
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("env %s=%q: %v", name, v, err)
	}
	return d
}

// parseBytes parses a Kubernetes quantity with a binary or decimal suffix
// ("384Mi", "1Gi", "500M") or none.
func parseBytes(q string) (int64, error) {
	return parseSuffixed(q, []suffix{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	})
}

// parseGoBytes parses a GOMEMLIMIT value ("700MiB", "1GiB", "123456").
func parseGoBytes(q string) (int64, error) {
	return parseSuffixed(q, []suffix{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1},
	})
}

type suffix struct {
	s string
	n int64
}

func parseSuffixed(q string, suffixes []suffix) (int64, error) {
	mult := int64(1)
	num := q
	for _, s := range suffixes {
		if n, ok := strings.CutSuffix(q, s.s); ok {
			num, mult = n, s.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("quantity %q: %w", q, err)
	}
	return n * mult, nil
}

func TestManifestsIdentifyThemselves(t *testing.T) {
	wantAPIVersion := map[string]string{
		"ServingRuntime":   "serving.kserve.io/v1alpha1",
		"InferenceService": "serving.kserve.io/v1beta1",
		"ConfigMap":        "v1",
		"Secret":           "v1",
	}
	count := map[string]int{}
	for _, m := range loadManifests(t) {
		if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
			t.Errorf("%s: apiVersion %q, kind %q, metadata.name %q; want all three set", m.file, m.APIVersion, m.Kind, m.Metadata.Name)
			continue
		}
		want, ok := wantAPIVersion[m.Kind]
		if !ok {
			t.Errorf("%s: kind %s is not one these tests check", m.file, m.Kind)
			continue
		}
		if m.APIVersion != want {
			t.Errorf("%s: %s apiVersion %q; want %q", m.file, m.Kind, m.APIVersion, want)
		}
		if m.Metadata.Labels["app.kubernetes.io/name"] != "mlgate" {
			t.Errorf("%s: %s %s label app.kubernetes.io/name = %q; want mlgate", m.file, m.Kind, m.Metadata.Name, m.Metadata.Labels["app.kubernetes.io/name"])
		}
		count[m.Kind]++
	}
	for _, kind := range []string{"ServingRuntime", "InferenceService", "Secret"} {
		if count[kind] != 1 {
			t.Errorf("got %d %s manifests; want 1", count[kind], kind)
		}
	}
}

func TestKustomizationInstallsTheRuntime(t *testing.T) {
	data, err := os.ReadFile(kustomizationFile)
	if err != nil {
		t.Fatalf("read %s: %v", kustomizationFile, err)
	}
	var k struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Resources  []string `yaml:"resources"`
		Images     []struct {
			Name    string `yaml:"name"`
			NewName string `yaml:"newName"`
			NewTag  string `yaml:"newTag"`
		} `yaml:"images"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("%s: %v", kustomizationFile, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s: apiVersion %q kind %q; want kustomize.config.k8s.io/v1beta1 Kustomization", kustomizationFile, k.APIVersion, k.Kind)
	}
	var want []string
	for _, f := range manifestFiles(t) {
		if f != kustomizationFile && f != modelFile && !strings.HasSuffix(f, exampleSuffix) {
			want = append(want, f)
		}
	}
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s resources = %q; want %q (the runtime: not the per-model %s, not *%s)", kustomizationFile, got, want, modelFile, exampleSuffix)
	}

	var sr servingRuntime
	decodeOne(t, loadManifests(t), "ServingRuntime", &sr)
	image := runtimeContainer(t, &sr).Image
	found := false
	for _, img := range k.Images {
		if img.Name == image {
			found = img.NewTag != ""
		}
	}
	if !found {
		t.Errorf("%s images has no entry with a newTag for the runtime's image %q", kustomizationFile, image)
	}
}
