package kubernetes_test

import (
	"testing"
	"time"
)

type serviceMonitor struct {
	Spec struct {
		Selector  labelSelector `yaml:"selector"`
		Endpoints []struct {
			Port          string `yaml:"port"`
			TargetPort    string `yaml:"targetPort"`
			Path          string `yaml:"path"`
			Scheme        string `yaml:"scheme"`
			Interval      string `yaml:"interval"`
			ScrapeTimeout string `yaml:"scrapeTimeout"`
		} `yaml:"endpoints"`
	} `yaml:"spec"`
}

// TestServiceMonitor checks that the ServiceMonitor finds the Service and
// scrapes /metrics on the port that reaches mlgate's main listener, where
// /metrics is served without a token.
func TestServiceMonitor(t *testing.T) {
	all := loadManifests(t)
	var sm serviceMonitor
	smMeta := decodeOne(t, all, "ServiceMonitor", &sm)
	var svc service
	svcMeta := decodeOne(t, all, "Service", &svc)
	var d deployment
	decodeOne(t, all, "Deployment", &d)
	portName, port := mlgateContainer(t, &d).httpPort(t)

	if !selects(sm.Spec.Selector.MatchLabels, svcMeta.Metadata.Labels) {
		t.Errorf("ServiceMonitor %s selector %v does not select Service %s's labels %v",
			smMeta.Metadata.Name, sm.Spec.Selector.MatchLabels, svcMeta.Metadata.Name, svcMeta.Metadata.Labels)
	}
	if len(sm.Spec.Endpoints) == 0 {
		t.Fatalf("ServiceMonitor %s has no endpoints", smMeta.Metadata.Name)
	}
	for i, ep := range sm.Spec.Endpoints {
		if ep.Port == "" || ep.TargetPort != "" {
			t.Errorf("endpoints[%d]: port %q targetPort %q; want the Service port by name", i, ep.Port, ep.TargetPort)
		}
		found := false
		for _, sp := range svc.Spec.Ports {
			if sp.Name == ep.Port {
				found = true
				if !refersToPort(sp.TargetPort, portName, port) {
					t.Errorf("endpoints[%d]: Service port %s targets %s; want the main listener's port %s (%d), which serves /metrics", i, sp.Name, sp.TargetPort, portName, port)
				}
			}
		}
		if !found {
			t.Errorf("endpoints[%d]: port %q names no port of Service %s", i, ep.Port, svcMeta.Metadata.Name)
		}
		if ep.Path != "/metrics" {
			t.Errorf("endpoints[%d]: path %q; want /metrics", i, ep.Path)
		}
		if ep.Scheme != "" && ep.Scheme != "http" {
			t.Errorf("endpoints[%d]: scheme %q; the Deployment serves plain HTTP", i, ep.Scheme)
		}
		interval, err := time.ParseDuration(ep.Interval)
		if err != nil || interval <= 0 {
			t.Errorf("endpoints[%d]: interval %q: want a positive duration", i, ep.Interval)
			continue
		}
		if timeout, err := time.ParseDuration(ep.ScrapeTimeout); err != nil || timeout <= 0 || timeout > interval {
			t.Errorf("endpoints[%d]: scrapeTimeout %q; want a positive duration no longer than interval %s", i, ep.ScrapeTimeout, interval)
		}
	}
}

// TestDeploymentEphemeralStorage checks that the pod asks for the disk its
// cache may use and that its limits agree: the container's ephemeral
// storage limit covers every disk-backed emptyDir's sizeLimit (beyond the
// sum the kubelet evicts the pod first, making the sizeLimits moot), and a
// new version of the largest size mlgate downloads fits in the cache beside
// the one serving.
func TestDeploymentEphemeralStorage(t *testing.T) {
	var d deployment
	decodeOne(t, loadManifests(t), "Deployment", &d)
	c := mlgateContainer(t, &d)
	checkEphemeralStorage(t, c, d.Spec.Template.Spec)
}

// checkEphemeralStorage checks container c of pod spec pod as
// TestDeploymentEphemeralStorage describes.
func checkEphemeralStorage(t *testing.T, c *container, pod podSpec) {
	t.Helper()
	req, err := parseBytes(c.Resources.Requests["ephemeral-storage"])
	if err != nil || req <= 0 {
		t.Errorf("requests.ephemeral-storage %q: want a positive quantity, so the pod lands where its cache fits", c.Resources.Requests["ephemeral-storage"])
	}
	limit, err := parseBytes(c.Resources.Limits["ephemeral-storage"])
	if err != nil || limit <= 0 {
		t.Fatalf("limits.ephemeral-storage %q: want a positive quantity", c.Resources.Limits["ephemeral-storage"])
	}
	if req > limit {
		t.Errorf("ephemeral-storage request %d > limit %d", req, limit)
	}

	mounts := map[string]string{} // volume name -> mount path
	for _, m := range c.VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	var volumes int64
	cacheDir := c.env(t, "MLGATE_CACHE_DIR")
	var cacheSize int64
	for _, v := range pod.Volumes {
		if v.EmptyDir == nil || v.EmptyDir.Medium == "Memory" {
			continue
		}
		size, err := parseBytes(v.EmptyDir.SizeLimit)
		if err != nil || size <= 0 {
			t.Errorf("emptyDir %s sizeLimit %q: want a positive quantity", v.Name, v.EmptyDir.SizeLimit)
			continue
		}
		volumes += size
		if mounts[v.Name] == cacheDir {
			cacheSize = size
		}
	}
	if volumes > limit {
		t.Errorf("emptyDir sizeLimits add up to %d bytes, more than limits.ephemeral-storage %d", volumes, limit)
	}
	if cacheSize == 0 {
		t.Fatalf("no disk-backed emptyDir with a sizeLimit is mounted at MLGATE_CACHE_DIR %s", cacheDir)
	}
	maxModel, err := parseBytes(c.env(t, "MLGATE_MAX_MODEL_BYTES"))
	if err != nil || maxModel <= 0 {
		t.Fatalf("MLGATE_MAX_MODEL_BYTES: want a positive byte count (%v)", err)
	}
	if 2*maxModel > cacheSize {
		t.Errorf("MLGATE_MAX_MODEL_BYTES %d: two versions of that size do not fit in the %d-byte cache volume", maxModel, cacheSize)
	}
	budget, err := parseBytes(c.env(t, "MLGATE_CACHE_MAX_BYTES"))
	if err != nil || budget <= 0 || budget+maxModel > cacheSize {
		t.Errorf("MLGATE_CACHE_MAX_BYTES %d (%v): want a budget that, with a download of MLGATE_MAX_MODEL_BYTES %d in progress, fits the %d-byte cache volume", budget, err, maxModel, cacheSize)
	}
}
