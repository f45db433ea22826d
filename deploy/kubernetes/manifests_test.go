// Package kubernetes_test checks the Kubernetes manifests in this directory
// and the container image recipe they run (../../Dockerfile, .dockerignore):
// that each is complete and that they agree with each other and with mlgate
// (ports, paths, user, shutdown budget, ONNX Runtime location).
//
// It reads files only; it imports no mlgate package except infer, for the
// ONNX Runtime library name and version the binary expects.
package kubernetes_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// manifest is one YAML document of a manifest file.
type manifest struct {
	file       string
	node       *yaml.Node
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

type objectMeta struct {
	Name        string            `yaml:"name"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

type labelSelector struct {
	MatchLabels map[string]string `yaml:"matchLabels"`
}

// intOrString holds a Kubernetes IntOrString (a port, maxUnavailable) as
// written.
type intOrString string

func (s *intOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want an integer or a string", n.Line)
	}
	*s = intOrString(n.Value)
	return nil
}

type deployment struct {
	Spec struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate struct {
				MaxUnavailable intOrString `yaml:"maxUnavailable"`
				MaxSurge       intOrString `yaml:"maxSurge"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

type podSpec struct {
	TerminationGracePeriodSeconds *int  `yaml:"terminationGracePeriodSeconds"`
	EnableServiceLinks            *bool `yaml:"enableServiceLinks"`
	SecurityContext               struct {
		RunAsNonRoot *bool  `yaml:"runAsNonRoot"`
		RunAsUser    *int64 `yaml:"runAsUser"`
		RunAsGroup   *int64 `yaml:"runAsGroup"`
		FSGroup      *int64 `yaml:"fsGroup"`
	} `yaml:"securityContext"`
	Containers []container `yaml:"containers"`
	Volumes    []struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name string `yaml:"name"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string `yaml:"secretName"`
		} `yaml:"secret"`
		EmptyDir *struct {
			Medium    string `yaml:"medium"`
			SizeLimit string `yaml:"sizeLimit"`
		} `yaml:"emptyDir"`
	} `yaml:"volumes"`
}

type container struct {
	Name  string   `yaml:"name"`
	Image string   `yaml:"image"`
	Args  []string `yaml:"args"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	Env []struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name     string `yaml:"name"`
				Key      string `yaml:"key"`
				Optional *bool  `yaml:"optional"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	} `yaml:"env"`
	EnvFrom []struct {
		SecretRef *struct {
			Name     string `yaml:"name"`
			Optional *bool  `yaml:"optional"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	StartupProbe   *probe `yaml:"startupProbe"`
	ReadinessProbe *probe `yaml:"readinessProbe"`
	LivenessProbe  *probe `yaml:"livenessProbe"`
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
	SecurityContext struct {
		AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
		ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
		RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
		Capabilities             struct {
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"volumeMounts"`
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

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type hpa struct {
	Spec struct {
		ScaleTargetRef struct {
			APIVersion string `yaml:"apiVersion"`
			Kind       string `yaml:"kind"`
			Name       string `yaml:"name"`
		} `yaml:"scaleTargetRef"`
		MinReplicas *int `yaml:"minReplicas"`
		MaxReplicas int  `yaml:"maxReplicas"`
		Metrics     []struct {
			Type     string `yaml:"type"`
			Resource *struct {
				Name   string `yaml:"name"`
				Target struct {
					Type               string `yaml:"type"`
					AverageUtilization *int   `yaml:"averageUtilization"`
				} `yaml:"target"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
	} `yaml:"spec"`
}

type pdb struct {
	Spec struct {
		MinAvailable   *intOrString  `yaml:"minAvailable"`
		MaxUnavailable *intOrString  `yaml:"maxUnavailable"`
		Selector       labelSelector `yaml:"selector"`
	} `yaml:"spec"`
}

type configMap struct {
	Data map[string]string `yaml:"data"`
}

type secret struct {
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
}

type kustomization struct {
	APIVersion string   `yaml:"apiVersion"`
	Kind       string   `yaml:"kind"`
	Resources  []string `yaml:"resources"`
	Images     []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
	} `yaml:"images"`
}

// mlgateConfig is the part of mlgate serve's config file the manifests rely
// on.
type mlgateConfig struct {
	PollInterval string `yaml:"poll_interval"`
	Routes       []struct {
		Name    string `yaml:"name"`
		Model   string `yaml:"model"`
		Targets []struct {
			Model  string  `yaml:"model"`
			Weight float64 `yaml:"weight"`
		} `yaml:"targets"`
	} `yaml:"routes"`
}

const kustomizationFile = "kustomization.yaml"

// exampleSuffix marks manifests that are templates to fill in (the Secret):
// they are parsed and checked, but never listed in the kustomization.
const exampleSuffix = ".example.yaml"

// outsideKustomization are manifests checked here but applied on their own,
// and why.
var outsideKustomization = map[string]string{
	"servicemonitor.yaml": "needs the Prometheus Operator's CRDs, which not every cluster has",
}

// credentialVars are the variables through which mlgate takes secrets:
// MLflow and artifact-store credentials (and the S3 endpoint that goes with
// them), its admin token and its webhook secret.
var credentialVars = []string{
	"MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "MLFLOW_S3_ENDPOINT_URL",
	"MLGATE_ADMIN_TOKEN", "MLGATE_WEBHOOK_SECRET",
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
		t.Fatalf("no *.yaml files in deploy/kubernetes")
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
				continue // an empty document between two "---"
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

// mlgateContainer returns the Deployment's mlgate container.
func mlgateContainer(t *testing.T, d *deployment) *container {
	t.Helper()
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "mlgate" {
			return c
		}
	}
	t.Fatalf("deployment has no container named mlgate")
	return nil
}

// env returns the literal value of the container's variable name.
func (c *container) env(t *testing.T, name string) string {
	t.Helper()
	for _, e := range c.Env {
		if e.Name == name {
			if e.Value == "" {
				t.Fatalf("container %s: env %s has no literal value", c.Name, name)
			}
			return e.Value
		}
	}
	t.Fatalf("container %s: env %s is not set", c.Name, name)
	return ""
}

// envDuration returns the container's variable name parsed as a duration.
func (c *container) envDuration(t *testing.T, name string) time.Duration {
	t.Helper()
	v := c.env(t, name)
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("container %s: env %s=%q: %v", c.Name, name, v, err)
	}
	return d
}

// httpPort returns the container port named http.
func (c *container) httpPort(t *testing.T) (name string, number int) {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == "http" {
			return p.Name, p.ContainerPort
		}
	}
	t.Fatalf("container %s: no port named http", c.Name)
	return "", 0
}

// refersToPort reports whether ref (a probe or Service targetPort) names
// the port by name or number.
func refersToPort(ref intOrString, name string, number int) bool {
	return string(ref) == name || string(ref) == strconv.Itoa(number)
}

// selects reports whether selector is non-empty and every one of its labels
// is among labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestManifestsIdentifyThemselves(t *testing.T) {
	wantAPIVersion := map[string]string{
		"Deployment":              "apps/v1",
		"Service":                 "v1",
		"ConfigMap":               "v1",
		"Secret":                  "v1",
		"HorizontalPodAutoscaler": "autoscaling/v2",
		"PodDisruptionBudget":     "policy/v1",
		"ServiceMonitor":          "monitoring.coreos.com/v1",
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
	for kind := range wantAPIVersion {
		if count[kind] != 1 {
			t.Errorf("got %d %s manifests; want 1", count[kind], kind)
		}
	}
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	data, err := os.ReadFile(kustomizationFile)
	if err != nil {
		t.Fatalf("read %s: %v", kustomizationFile, err)
	}
	var k kustomization
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("%s: %v", kustomizationFile, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s: apiVersion %q kind %q; want kustomize.config.k8s.io/v1beta1 Kustomization", kustomizationFile, k.APIVersion, k.Kind)
	}
	var want []string
	for _, f := range manifestFiles(t) {
		if _, outside := outsideKustomization[f]; f != kustomizationFile && !strings.HasSuffix(f, exampleSuffix) && !outside {
			want = append(want, f)
		}
	}
	got := slices.Clone(k.Resources)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s resources = %q; want %q (every manifest except *%s and %v)", kustomizationFile, got, want, exampleSuffix, outsideKustomization)
	}

	var d deployment
	decodeOne(t, loadManifests(t), "Deployment", &d)
	image := mlgateContainer(t, &d).Image
	found := false
	for _, img := range k.Images {
		if img.Name == image {
			found = true
			if img.NewTag == "" {
				t.Errorf("%s images[%s]: newTag is empty; want the image tag to deploy", kustomizationFile, img.Name)
			}
		}
	}
	if !found {
		t.Errorf("%s images has no entry for the Deployment's image %q", kustomizationFile, image)
	}
}

func TestDeploymentProbes(t *testing.T) {
	var d deployment
	decodeOne(t, loadManifests(t), "Deployment", &d)
	c := mlgateContainer(t, &d)
	portName, port := c.httpPort(t)

	tests := []struct {
		name  string
		probe *probe
		path  string
	}{
		{"startupProbe", c.StartupProbe, "/ready"},
		{"readinessProbe", c.ReadinessProbe, "/ready"},
		{"livenessProbe", c.LivenessProbe, "/live"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.probe == nil || tt.probe.HTTPGet == nil {
				t.Fatalf("%s: missing or not httpGet", tt.name)
			}
			if got := tt.probe.HTTPGet.Path; got != tt.path {
				t.Errorf("%s path = %q; want %q", tt.name, got, tt.path)
			}
			if got := tt.probe.HTTPGet.Port; !refersToPort(got, portName, port) {
				t.Errorf("%s port = %q; want %q or %d", tt.name, got, portName, port)
			}
			if tt.probe.PeriodSeconds <= 0 || tt.probe.TimeoutSeconds <= 0 || tt.probe.FailureThreshold <= 0 {
				t.Errorf("%s periodSeconds %d timeoutSeconds %d failureThreshold %d; want all set and positive",
					tt.name, tt.probe.PeriodSeconds, tt.probe.TimeoutSeconds, tt.probe.FailureThreshold)
			}
		})
	}

	_, listenPort, err := net.SplitHostPort(c.env(t, "MLGATE_LISTEN"))
	if err != nil {
		t.Fatalf("MLGATE_LISTEN: %v", err)
	}
	if listenPort != strconv.Itoa(port) {
		t.Errorf("MLGATE_LISTEN port = %s; want the container port %d", listenPort, port)
	}
	ann := d.Spec.Template.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(port) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("pod annotations scrape=%q port=%q path=%q; want true, %d, /metrics",
			ann["prometheus.io/scrape"], ann["prometheus.io/port"], ann["prometheus.io/path"], port)
	}
}

// TestDeploymentShutdownBudget checks that the pod is not killed while mlgate
// drains: the grace period must cover the preStop sleep, mlgate's own drain
// delay after SIGTERM and the shutdown timeout, and the preStop sleep
// matches the drain delay.
func TestDeploymentShutdownBudget(t *testing.T) {
	var d deployment
	decodeOne(t, loadManifests(t), "Deployment", &d)
	c := mlgateContainer(t, &d)

	pre := c.Lifecycle.PreStop
	if pre == nil || pre.Sleep == nil || pre.Sleep.Seconds <= 0 {
		t.Fatalf("preStop: want a sleep action with positive seconds")
	}
	preStop := time.Duration(pre.Sleep.Seconds) * time.Second
	drain := c.envDuration(t, "MLGATE_DRAIN_DELAY")
	shutdown := c.envDuration(t, "MLGATE_SHUTDOWN_TIMEOUT")
	if preStop != drain {
		t.Errorf("preStop sleep %s; want it equal to MLGATE_DRAIN_DELAY %s", preStop, drain)
	}
	gp := d.Spec.Template.Spec.TerminationGracePeriodSeconds
	if gp == nil {
		t.Fatalf("terminationGracePeriodSeconds is not set")
	}
	grace := time.Duration(*gp) * time.Second
	if need := preStop + drain + shutdown; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %s; want more than preStop %s + drain %s + shutdown %s = %s",
			grace, preStop, drain, shutdown, need)
	}
}

func TestDeploymentRollout(t *testing.T) {
	var d deployment
	decodeOne(t, loadManifests(t), "Deployment", &d)
	s := d.Spec.Strategy
	if s.Type != "RollingUpdate" {
		t.Errorf("strategy.type = %q; want RollingUpdate", s.Type)
	}
	if u := s.RollingUpdate.MaxUnavailable; u != "0" && u != "0%" {
		t.Errorf("rollingUpdate.maxUnavailable = %q; want 0", u)
	}
	if u := s.RollingUpdate.MaxSurge; u == "" || u == "0" || u == "0%" {
		t.Errorf("rollingUpdate.maxSurge = %q; want at least 1", u)
	}
	if d.Spec.Replicas != nil {
		t.Errorf("spec.replicas = %d; want it unset, the HorizontalPodAutoscaler owns it", *d.Spec.Replicas)
	}
	if !selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("selector %v does not select the pod template's labels %v", d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
}

func TestDeploymentResources(t *testing.T) {
	var d deployment
	decodeOne(t, loadManifests(t), "Deployment", &d)
	c := mlgateContainer(t, &d)
	const nodeMilliCPU = 2000 // the 2-core nodes these manifests are sized for

	for _, res := range []struct {
		name  string
		parse func(string) (int64, error)
	}{
		{"cpu", parseMilliCPU},
		{"memory", parseBytes},
	} {
		req, errReq := res.parse(c.Resources.Requests[res.name])
		lim, errLim := res.parse(c.Resources.Limits[res.name])
		if errReq != nil || errLim != nil {
			t.Errorf("%s request %q, limit %q: %v", res.name, c.Resources.Requests[res.name], c.Resources.Limits[res.name], errors.Join(errReq, errLim))
			continue
		}
		if req <= 0 || req > lim {
			t.Errorf("%s request %d, limit %d; want 0 < request <= limit", res.name, req, lim)
		}
		if res.name == "cpu" && req > nodeMilliCPU {
			t.Errorf("cpu request %dm; want it to fit a %dm node", req, nodeMilliCPU)
		}
	}

	memLimit, err := parseBytes(c.Resources.Limits["memory"])
	if err != nil {
		t.Fatalf("memory limit: %v", err)
	}
	goMemLimit, err := parseGoBytes(c.env(t, "GOMEMLIMIT"))
	if err != nil {
		t.Fatalf("GOMEMLIMIT: %v", err)
	}
	if goMemLimit >= memLimit {
		t.Errorf("GOMEMLIMIT %d bytes; want less than the memory limit %d, leaving room for ONNX Runtime", goMemLimit, memLimit)
	}
	// Versions kept loaded for a flip back count against the same limit as
	// the versions being served.
	if kept, err := parseBytes(c.env(t, "MLGATE_MODEL_CACHE_BYTES")); err != nil || kept <= 0 || kept > memLimit/2 {
		t.Errorf("MLGATE_MODEL_CACHE_BYTES %q; want a positive byte count at most half the memory limit %d (%v)",
			c.env(t, "MLGATE_MODEL_CACHE_BYTES"), memLimit, err)
	}
}

func TestDeploymentSecurity(t *testing.T) {
	var d deployment
	decodeOne(t, loadManifests(t), "Deployment", &d)
	pod := d.Spec.Template.Spec
	c := mlgateContainer(t, &d)

	if sc := pod.SecurityContext; sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Errorf("pod securityContext.runAsNonRoot is not true")
	}
	if u := pod.SecurityContext.RunAsUser; u == nil || *u == 0 {
		t.Errorf("pod securityContext.runAsUser = %v; want a non-zero uid", u)
	}
	sc := c.SecurityContext
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext.readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Errorf("container securityContext.allowPrivilegeEscalation is not false")
	}
	if !slices.Equal(sc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container capabilities.drop = %q; want [ALL]", sc.Capabilities.Drop)
	}
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("enableServiceLinks is not false; a Service named mlgate would inject MLGATE_* variables")
	}
}

// TestDeploymentVolumes checks that mlgate can write where it must with a
// read-only root filesystem, and that its config file comes from the
// ConfigMap.
func TestDeploymentVolumes(t *testing.T) {
	all := loadManifests(t)
	var d deployment
	decodeOne(t, all, "Deployment", &d)
	var cm configMap
	cmMeta := decodeOne(t, all, "ConfigMap", &cm)
	c := mlgateContainer(t, &d)

	mounts := map[string]string{} // mount path -> volume name
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	volume := func(name string) int {
		for i, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == name {
				return i
			}
		}
		return -1
	}

	i := slices.Index(c.Args, "--config")
	if i < 0 || i+1 >= len(c.Args) {
		t.Fatalf("args %q: want --config <file>", c.Args)
	}
	configFile := c.Args[i+1]
	configDir := path.Dir(configFile)
	v := volume(mounts[configDir])
	if v < 0 || d.Spec.Template.Spec.Volumes[v].ConfigMap == nil || d.Spec.Template.Spec.Volumes[v].ConfigMap.Name != cmMeta.Metadata.Name {
		t.Errorf("%s is not mounted from ConfigMap %s", configDir, cmMeta.Metadata.Name)
	}
	if _, ok := cm.Data[path.Base(configFile)]; !ok {
		t.Errorf("ConfigMap %s has no key %s for --config %s", cmMeta.Metadata.Name, path.Base(configFile), configFile)
	}

	for _, dir := range []string{c.env(t, "MLGATE_CACHE_DIR"), "/tmp"} {
		v := volume(mounts[dir])
		if v < 0 || d.Spec.Template.Spec.Volumes[v].EmptyDir == nil {
			t.Errorf("%s is not an emptyDir mount; the root filesystem is read-only", dir)
		}
	}
}

// TestDeploymentCredentials checks that MLflow and artifact-store
// credentials reach mlgate from the Secret, never as literals.
func TestDeploymentCredentials(t *testing.T) {
	all := loadManifests(t)
	var d deployment
	decodeOne(t, all, "Deployment", &d)
	var s secret
	sMeta := decodeOne(t, all, "Secret", &s)
	c := mlgateContainer(t, &d)

	if !strings.HasSuffix(sMeta.file, exampleSuffix) {
		t.Errorf("Secret is in %s; want a *%s file, kept out of the kustomization", sMeta.file, exampleSuffix)
	}
	fromSecret := false
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil && ef.SecretRef.Name == sMeta.Metadata.Name {
			fromSecret = true
			if ef.SecretRef.Optional != nil && *ef.SecretRef.Optional {
				t.Errorf("envFrom secretRef %s is optional; want the pod to wait for its credentials", ef.SecretRef.Name)
			}
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == sMeta.Metadata.Name {
			fromSecret = true
		}
		if slices.Contains(credentialVars, e.Name) && e.Value != "" {
			t.Errorf("env %s has a literal value; want it from Secret %s", e.Name, sMeta.Metadata.Name)
		}
	}
	if !fromSecret {
		t.Errorf("container %s takes no variables from Secret %s", c.Name, sMeta.Metadata.Name)
	}

	keys := 0
	for _, data := range []map[string]string{s.Data, s.StringData} {
		for k := range data {
			keys++
			if !slices.Contains(credentialVars, k) {
				t.Errorf("Secret %s key %s: want one of %q", sMeta.Metadata.Name, k, credentialVars)
			}
		}
	}
	if keys == 0 {
		t.Errorf("Secret %s has no keys", sMeta.Metadata.Name)
	}
}

// TestDeploymentAdminAccess checks that the admin endpoints are not
// reachable by the Service, the probes or the network without the token:
// the admin listener is on the pod's loopback (or, if moved, has the
// token), the token comes from the Secret and is required, and neither
// the Service, a container port nor a probe points at the admin port.
func TestDeploymentAdminAccess(t *testing.T) {
	all := loadManifests(t)
	var d deployment
	decodeOne(t, all, "Deployment", &d)
	c := mlgateContainer(t, &d)
	var s secret
	sMeta := decodeOne(t, all, "Secret", &s)

	admin := c.env(t, "MLGATE_ADMIN_LISTEN")
	_, adminPort, err := net.SplitHostPort(admin)
	if err != nil {
		t.Fatalf("MLGATE_ADMIN_LISTEN=%q: %v", admin, err)
	}
	if _, listenPort, _ := net.SplitHostPort(c.env(t, "MLGATE_LISTEN")); listenPort == adminPort {
		t.Errorf("MLGATE_ADMIN_LISTEN %s shares the main port; want the admin endpoints on their own listener", admin)
	}
	tokenFromSecret := false
	for _, e := range c.Env {
		if e.Name == "MLGATE_ADMIN_TOKEN" && e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			_, inSecret := s.StringData[ref.Key]
			if _, ok := s.Data[ref.Key]; ok {
				inSecret = true
			}
			tokenFromSecret = ref.Name == sMeta.Metadata.Name && inSecret && (ref.Optional == nil || !*ref.Optional)
		}
	}
	if !tokenFromSecret {
		t.Errorf("MLGATE_ADMIN_TOKEN is not taken, required, from a key of Secret %s", sMeta.Metadata.Name)
	}
	if !isLoopbackAddr(admin) && !tokenFromSecret {
		t.Errorf("MLGATE_ADMIN_LISTEN=%s is reachable from the network without a token", admin)
	}
	for _, p := range c.Ports {
		if strconv.Itoa(p.ContainerPort) == adminPort {
			t.Errorf("container port %s exposes the admin listener", p.Name)
		}
	}
	for name, pr := range map[string]*probe{"startup": c.StartupProbe, "readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		if pr == nil || pr.HTTPGet == nil {
			continue
		}
		if string(pr.HTTPGet.Port) == adminPort || strings.HasPrefix(pr.HTTPGet.Path, "/admin") {
			t.Errorf("%s probe %s on port %s uses the admin listener; probes are on the main one", name, pr.HTTPGet.Path, pr.HTTPGet.Port)
		}
	}
	var svc service
	decodeOne(t, all, "Service", &svc)
	for _, p := range svc.Spec.Ports {
		if string(p.TargetPort) == adminPort {
			t.Errorf("Service port %s targets the admin port %s", p.Name, adminPort)
		}
	}
}

func TestServiceTargetsDeployment(t *testing.T) {
	all := loadManifests(t)
	var d deployment
	decodeOne(t, all, "Deployment", &d)
	var s service
	decodeOne(t, all, "Service", &s)
	portName, port := mlgateContainer(t, &d).httpPort(t)

	if !selects(s.Spec.Selector, d.Spec.Template.Metadata.Labels) {
		t.Errorf("Service selector %v does not select the pod labels %v", s.Spec.Selector, d.Spec.Template.Metadata.Labels)
	}
	if len(s.Spec.Ports) == 0 {
		t.Fatalf("Service has no ports")
	}
	for _, p := range s.Spec.Ports {
		if !refersToPort(p.TargetPort, portName, port) {
			t.Errorf("Service port %s targetPort = %q; want %q or %d", p.Name, p.TargetPort, portName, port)
		}
	}
}

func TestHorizontalPodAutoscaler(t *testing.T) {
	all := loadManifests(t)
	var d deployment
	dMeta := decodeOne(t, all, "Deployment", &d)
	var h hpa
	decodeOne(t, all, "HorizontalPodAutoscaler", &h)

	ref := h.Spec.ScaleTargetRef
	if ref.APIVersion != dMeta.APIVersion || ref.Kind != "Deployment" || ref.Name != dMeta.Metadata.Name {
		t.Errorf("scaleTargetRef = %s %s %s; want %s Deployment %s", ref.APIVersion, ref.Kind, ref.Name, dMeta.APIVersion, dMeta.Metadata.Name)
	}
	if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || *h.Spec.MinReplicas > h.Spec.MaxReplicas {
		t.Errorf("minReplicas %v, maxReplicas %d; want 2 <= minReplicas <= maxReplicas", h.Spec.MinReplicas, h.Spec.MaxReplicas)
	}
	cpu := false
	for _, m := range h.Spec.Metrics {
		if m.Type == "Resource" && m.Resource != nil && m.Resource.Name == "cpu" &&
			m.Resource.Target.Type == "Utilization" && m.Resource.Target.AverageUtilization != nil {
			cpu = true
			if u := *m.Resource.Target.AverageUtilization; u <= 0 || u > 100 {
				t.Errorf("cpu averageUtilization = %d; want 1..100", u)
			}
		}
	}
	if !cpu {
		t.Errorf("metrics: no cpu Utilization target")
	}
	if _, ok := mlgateContainer(t, &d).Resources.Requests["cpu"]; !ok {
		t.Errorf("cpu utilization needs a cpu request on the container")
	}
}

func TestPodDisruptionBudget(t *testing.T) {
	all := loadManifests(t)
	var d deployment
	decodeOne(t, all, "Deployment", &d)
	var p pdb
	decodeOne(t, all, "PodDisruptionBudget", &p)

	if !selects(p.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels) {
		t.Errorf("PDB selector %v does not select the pod labels %v", p.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels)
	}
	if (p.Spec.MinAvailable == nil) == (p.Spec.MaxUnavailable == nil) {
		t.Errorf("PDB: want exactly one of minAvailable and maxUnavailable")
	}
}

func TestConfigMapRoutes(t *testing.T) {
	var cm configMap
	decodeOne(t, loadManifests(t), "ConfigMap", &cm)
	text, ok := cm.Data["mlgate.yaml"]
	if !ok {
		t.Fatalf("ConfigMap has no mlgate.yaml")
	}
	var cfg mlgateConfig
	if err := yaml.Unmarshal([]byte(text), &cfg); err != nil {
		t.Fatalf("mlgate.yaml: %v", err)
	}
	if _, err := time.ParseDuration(cfg.PollInterval); err != nil {
		t.Errorf("mlgate.yaml poll_interval %q: %v", cfg.PollInterval, err)
	}
	if len(cfg.Routes) == 0 {
		t.Fatalf("mlgate.yaml has no routes")
	}
	canary := false
	for i, r := range cfg.Routes {
		if r.Name == "" {
			t.Errorf("routes[%d]: empty name", i)
		}
		if (r.Model == "") == (len(r.Targets) == 0) {
			t.Errorf("route %q: want either model or targets", r.Name)
		}
		for _, uri := range append([]string{r.Model}, targetModels(r.Targets)...) {
			if uri != "" && !strings.HasPrefix(uri, "models:/") {
				t.Errorf("route %q model %q: want a models:/ URI", r.Name, uri)
			}
		}
		positive := 0
		for _, tg := range r.Targets {
			if tg.Model == "" || tg.Weight < 0 {
				t.Errorf("route %q target %q weight %g: want a model and a non-negative weight", r.Name, tg.Model, tg.Weight)
			}
			if tg.Weight > 0 {
				positive++
			}
		}
		if positive >= 2 {
			canary = true
		}
	}
	if !canary {
		t.Errorf("mlgate.yaml: no route splits traffic between two weighted targets (the canary example)")
	}
}

func targetModels(targets []struct {
	Model  string  `yaml:"model"`
	Weight float64 `yaml:"weight"`
}) []string {
	var out []string
	for _, tg := range targets {
		out = append(out, tg.Model)
	}
	return out
}

// parseMilliCPU parses a Kubernetes CPU quantity ("750m", "1.5", "2") into
// millicores.
func parseMilliCPU(q string) (int64, error) {
	if m, ok := strings.CutSuffix(q, "m"); ok {
		return strconv.ParseInt(m, 10, 64)
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil {
		return 0, fmt.Errorf("cpu quantity %q: %w", q, err)
	}
	return int64(f * 1000), nil
}

// parseBytes parses a Kubernetes memory quantity with a binary or decimal
// suffix ("384Mi", "1Gi", "500M") or none.
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
