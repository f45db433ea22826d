package kserve_test

import (
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// example is the example InferenceService, its runtime, and the container
// KServe builds from the two.
type example struct {
	all     []manifest
	meta    manifest
	isvc    inferenceService
	runtime servingRuntime
	merged  container
	volumes []volume // the pod's: the runtime's and the InferenceService's
}

func loadExample(t *testing.T) example {
	t.Helper()
	var ex example
	ex.all = loadManifests(t)
	ex.meta = decodeOne(t, ex.all, "InferenceService", &ex.isvc)
	rtMeta := decodeOne(t, ex.all, "ServingRuntime", &ex.runtime)
	m := ex.isvc.Spec.Predictor.Model
	if m == nil {
		t.Fatalf("InferenceService %s has no predictor.model; want the runtime's model spec", ex.meta.Metadata.Name)
	}
	if m.Runtime != rtMeta.Metadata.Name {
		t.Fatalf("predictor.model.runtime %q; want the ServingRuntime %q", m.Runtime, rtMeta.Metadata.Name)
	}
	ex.merged = mergeContainers(*runtimeContainer(t, &ex.runtime), m.container)
	ex.volumes = append(slices.Clone(ex.runtime.Spec.Volumes), ex.isvc.Spec.Predictor.Volumes...)
	return ex
}

// TestInferenceServiceModel checks the fields KServe matches against the
// runtime, and that no storage initializer is asked for.
func TestInferenceServiceModel(t *testing.T) {
	ex := loadExample(t)
	m := ex.isvc.Spec.Predictor.Model

	supported := false
	for _, f := range ex.runtime.Spec.SupportedModelFormats {
		if strings.EqualFold(f.Name, m.ModelFormat.Name) {
			supported = true
			if m.ModelFormat.Version != nil && (f.Version == nil || *f.Version != *m.ModelFormat.Version) {
				t.Errorf("modelFormat %s version %s; the runtime supports %s without it", m.ModelFormat.Name, *m.ModelFormat.Version, f.Name)
			}
		}
	}
	if !supported {
		t.Errorf("modelFormat %q is not among the runtime's supportedModelFormats", m.ModelFormat.Name)
	}
	// KServe assumes v1 when protocolVersion is unset, and refuses a
	// runtime that does not list the protocol.
	if !slices.Contains(ex.runtime.Spec.ProtocolVersions, m.ProtocolVersion) {
		t.Errorf("protocolVersion %q; want one of the runtime's %q", m.ProtocolVersion, ex.runtime.Spec.ProtocolVersions)
	}
	// KServe's storage initializer cannot fetch models:/ URIs, and a copy
	// made at pod start would pin one version; mlgate resolves and follows
	// the alias itself.
	if m.StorageURI != nil {
		t.Errorf("storageUri %q: want none; the models:/ URI goes to mlgate's routes", *m.StorageURI)
	}
	if len(ex.isvc.Spec.Predictor.Containers) != 0 {
		t.Errorf("predictor.containers set beside predictor.model; KServe would not use the runtime")
	}
	mode := ex.meta.Metadata.Annotations["serving.kserve.io/deploymentMode"]
	if mode != "RawDeployment" && mode != "Standard" {
		t.Errorf("annotation serving.kserve.io/deploymentMode %q; want RawDeployment: Knative allows one container port, and the runtime has REST and gRPC", mode)
	}
}

// TestInferenceServiceRoutes checks how the models:/ URI reaches mlgate:
// a config file from a ConfigMap, whose route carries the
// InferenceService's name (the V2 model name clients use), and the
// tracking server from the Secret rather than the file.
func TestInferenceServiceRoutes(t *testing.T) {
	ex := loadExample(t)
	c := ex.merged

	configFile := c.literal(t, "MLGATE_CONFIG")
	var mount *volumeMount
	for i := range c.VolumeMounts {
		if c.VolumeMounts[i].MountPath == path.Dir(configFile) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("MLGATE_CONFIG=%s: nothing is mounted at %s", configFile, path.Dir(configFile))
	}
	vi := slices.IndexFunc(ex.volumes, func(v volume) bool { return v.Name == mount.Name })
	if vi < 0 || ex.volumes[vi].ConfigMap == nil {
		t.Fatalf("%s is mounted from %q, not a ConfigMap volume of the pod", mount.MountPath, mount.Name)
	}
	var cm configMap
	cmName := ex.volumes[vi].ConfigMap.Name
	if !decodeNamed(t, ex.all, "ConfigMap", cmName, &cm) {
		t.Fatalf("ConfigMap %s is not in %s", cmName, modelFile)
	}
	text, ok := cm.Data[path.Base(configFile)]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s for MLGATE_CONFIG %s", cmName, path.Base(configFile), configFile)
	}
	var cfg mlgateConfig
	dec := yaml.NewDecoder(strings.NewReader(text))
	if err := dec.Decode(&cfg); err != nil {
		t.Fatalf("ConfigMap %s %s: %v", cmName, path.Base(configFile), err)
	}

	name := ex.meta.Metadata.Name
	var served []string
	named := false
	for _, r := range cfg.Routes {
		uris := []string{r.Model}
		for _, tg := range r.Targets {
			uris = append(uris, tg.Model)
		}
		if r.Shadow != nil {
			uris = append(uris, r.Shadow.Model)
		}
		for _, u := range uris {
			if u != "" && !strings.HasPrefix(u, "models:/") {
				t.Errorf("route %q model %q: want a models:/ URI", r.Name, u)
			}
		}
		if r.Name == name {
			named = true
			served = append(served, uris...)
		}
	}
	if !named {
		t.Errorf("no route named %q: V2 clients call /v2/models/<InferenceService name>/infer, and {model} is a route name", name)
	}
	if !slices.Contains(served, "models:/churn-gbm@champion") {
		t.Errorf("route %q serves %q; the example serves models:/churn-gbm@champion", name, served)
	}

	if cfg.TrackingURI != "" {
		t.Errorf("%s sets tracking_uri %q; want it only in the Secret, next to the credentials for it", cmName, cfg.TrackingURI)
	}
	for _, v := range []string{"MLFLOW_TRACKING_URI", "MLGATE_TRACKING_URI"} {
		if e, ok := c.env(v); ok && e.Value != "" {
			t.Errorf("env %s has a literal value; want it from the Secret", v)
		}
	}
	var s secret
	sMeta := decodeOne(t, ex.all, "Secret", &s)
	if !s.has("MLFLOW_TRACKING_URI") || !fromSecret(c, sMeta.Metadata.Name) {
		t.Errorf("the tracking URI does not come from Secret %s: want MLFLOW_TRACKING_URI among its keys and the Secret in envFrom", sMeta.Metadata.Name)
	}
}

// fromSecret reports whether c takes every key of Secret name as a
// variable, and waits for it to exist.
func fromSecret(c container, name string) bool {
	for _, ef := range c.EnvFrom {
		if ef.SecretRef != nil && ef.SecretRef.Name == name && (ef.SecretRef.Optional == nil || !*ef.SecretRef.Optional) {
			return true
		}
	}
	return false
}

// TestInferenceServiceCredentials checks that secrets reach mlgate only
// from the Secret, that the admin token is required, and that the Secret
// example holds nothing else.
func TestInferenceServiceCredentials(t *testing.T) {
	ex := loadExample(t)
	c := ex.merged
	var s secret
	sMeta := decodeOne(t, ex.all, "Secret", &s)
	if !strings.HasSuffix(sMeta.file, exampleSuffix) {
		t.Errorf("Secret is in %s; want a *%s file", sMeta.file, exampleSuffix)
	}

	for _, e := range c.Env {
		if slices.Contains(credentialVars, e.Name) && e.Value != "" {
			t.Errorf("env %s has a literal value; want it from Secret %s", e.Name, sMeta.Metadata.Name)
		}
	}
	e, ok := c.env("MLGATE_ADMIN_TOKEN")
	if !ok || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Fatalf("MLGATE_ADMIN_TOKEN is not taken from a Secret key")
	}
	ref := e.ValueFrom.SecretKeyRef
	if ref.Name != sMeta.Metadata.Name || !s.has(ref.Key) || (ref.Optional != nil && *ref.Optional) {
		t.Errorf("MLGATE_ADMIN_TOKEN from %s/%s (optional %v); want a required key of Secret %s", ref.Name, ref.Key, ref.Optional, sMeta.Metadata.Name)
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

// TestInferenceServicePod checks the pod-level settings KServe takes from
// the predictor: shutdown budget, rollout, scaling and security.
func TestInferenceServicePod(t *testing.T) {
	ex := loadExample(t)
	p := ex.isvc.Spec.Predictor
	c := ex.merged

	pre := c.Lifecycle.PreStop
	if pre == nil || pre.Sleep == nil || pre.Sleep.Seconds <= 0 {
		t.Fatalf("preStop: want a sleep action with positive seconds")
	}
	preStop := time.Duration(pre.Sleep.Seconds) * time.Second
	drain := duration(t, &c, "MLGATE_DRAIN_DELAY")
	shutdown := duration(t, &c, "MLGATE_SHUTDOWN_TIMEOUT")
	if preStop != drain {
		t.Errorf("preStop sleep %s; want it equal to MLGATE_DRAIN_DELAY %s", preStop, drain)
	}
	if p.TerminationGracePeriodSeconds == nil {
		t.Fatalf("predictor.terminationGracePeriodSeconds is not set")
	}
	if grace, need := time.Duration(*p.TerminationGracePeriodSeconds)*time.Second, preStop+drain+shutdown; grace <= need {
		t.Errorf("terminationGracePeriodSeconds %s; want more than preStop %s + drain %s + shutdown %s = %s", grace, preStop, drain, shutdown, need)
	}

	ds := p.DeploymentStrategy
	if ds == nil || ds.Type != "RollingUpdate" || ds.RollingUpdate == nil {
		t.Errorf("deploymentStrategy: want RollingUpdate, so a new pod is ready before an old one goes")
	} else {
		if u := ds.RollingUpdate.MaxUnavailable; u != "0" && u != "0%" {
			t.Errorf("rollingUpdate.maxUnavailable %q; want 0", u)
		}
		if u := ds.RollingUpdate.MaxSurge; u == "" || u == "0" || u == "0%" {
			t.Errorf("rollingUpdate.maxSurge %q; want at least 1", u)
		}
	}
	if p.MinReplicas == nil || *p.MinReplicas < 2 || *p.MinReplicas > p.MaxReplicas {
		t.Errorf("minReplicas %v maxReplicas %d; want 2 <= minReplicas <= maxReplicas (no scale to zero: a cold start downloads its models again)", p.MinReplicas, p.MaxReplicas)
	}
	if p.ScaleMetric == "cpu" && c.Resources.Requests["cpu"] == "" {
		t.Errorf("scaleMetric cpu needs a cpu request")
	}
	if p.ScaleTarget != nil && (*p.ScaleTarget <= 0 || *p.ScaleTarget > 100) {
		t.Errorf("scaleTarget %d; want 1..100", *p.ScaleTarget)
	}
	if p.EnableServiceLinks == nil || *p.EnableServiceLinks {
		t.Errorf("enableServiceLinks is not false")
	}
	if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken is not false; mlgate does not call the Kubernetes API")
	}
	rt := runtimeContainer(t, &ex.runtime)
	if u := p.SecurityContext.RunAsUser; u == nil || rt.SecurityContext == nil || rt.SecurityContext.RunAsUser == nil || *u != *rt.SecurityContext.RunAsUser {
		t.Errorf("predictor securityContext.runAsUser %v; want the runtime container's user", u)
	}
}
