package kserve_test

import (
	"slices"
	"testing"
)

// mergeContainers returns the container KServe runs for an
// InferenceService on a ServingRuntime: the runtime's container with the
// InferenceService's predictor.model container merged over it, as KServe's
// MergeRuntimeContainers does (a strategic merge patch: env by name, ports
// by containerPort, volume mounts by mountPath, resources by key; lists
// without a merge key replaced), then the runtime's args followed by the
// InferenceService's.
func mergeContainers(rt, is container) container {
	out := rt
	out.Args = append(slices.Clone(rt.Args), is.Args...)
	out.Env = slices.Clone(rt.Env)
	for _, e := range is.Env {
		if i := slices.IndexFunc(out.Env, func(o envVar) bool { return o.Name == e.Name }); i >= 0 {
			out.Env[i] = e
		} else {
			out.Env = append(out.Env, e)
		}
	}
	if is.EnvFrom != nil {
		out.EnvFrom = is.EnvFrom
	}
	out.Ports = slices.Clone(rt.Ports)
	for _, p := range is.Ports {
		if i := slices.IndexFunc(out.Ports, func(o containerPort) bool { return o.ContainerPort == p.ContainerPort }); i >= 0 {
			out.Ports[i] = p
		} else {
			out.Ports = append(out.Ports, p)
		}
	}
	out.VolumeMounts = slices.Clone(rt.VolumeMounts)
	for _, m := range is.VolumeMounts {
		if i := slices.IndexFunc(out.VolumeMounts, func(o volumeMount) bool { return o.MountPath == m.MountPath }); i >= 0 {
			out.VolumeMounts[i] = m
		} else {
			out.VolumeMounts = append(out.VolumeMounts, m)
		}
	}
	for _, r := range []struct{ dst, src *map[string]string }{
		{&out.Resources.Requests, &is.Resources.Requests},
		{&out.Resources.Limits, &is.Resources.Limits},
	} {
		merged := map[string]string{}
		for k, v := range *r.dst {
			merged[k] = v
		}
		for k, v := range *r.src {
			merged[k] = v
		}
		*r.dst = merged
	}
	for _, p := range []struct{ dst, src **probe }{
		{&out.StartupProbe, &is.StartupProbe}, {&out.ReadinessProbe, &is.ReadinessProbe}, {&out.LivenessProbe, &is.LivenessProbe},
	} {
		if *p.src != nil {
			*p.dst = *p.src
		}
	}
	if is.Image != "" {
		out.Image = is.Image
	}
	if is.SecurityContext != nil {
		out.SecurityContext = is.SecurityContext
	}
	return out
}

func TestMergeContainers(t *testing.T) {
	optional := true
	rt := container{
		Name:  kserveContainer,
		Image: "mlgate",
		Args:  []string{"serve"},
		Env:   []envVar{{Name: "A", Value: "runtime"}, {Name: "B", Value: "runtime"}},
		Ports: []containerPort{{Name: "http", ContainerPort: 8080}},
		VolumeMounts: []volumeMount{
			{Name: "cache", MountPath: "/var/cache/mlgate"},
		},
	}
	rt.Resources.Requests = map[string]string{"cpu": "1", "memory": "1Gi"}
	is := container{
		Args: []string{"--log-level", "debug"},
		Env:  []envVar{{Name: "B", Value: "isvc"}, {Name: "C", Value: "isvc"}},
		EnvFrom: []envFrom{{SecretRef: &struct {
			Name     string `yaml:"name"`
			Optional *bool  `yaml:"optional"`
		}{Name: "s", Optional: &optional}}},
		Ports:        []containerPort{{Name: "grpc", ContainerPort: 8081}},
		VolumeMounts: []volumeMount{{Name: "config", MountPath: "/etc/mlgate"}},
	}
	is.Resources.Requests = map[string]string{"memory": "2Gi"}

	got := mergeContainers(rt, is)
	if want := []string{"serve", "--log-level", "debug"}; !slices.Equal(got.Args, want) {
		t.Errorf("args %q; want %q (the runtime's, then the InferenceService's)", got.Args, want)
	}
	want := []envVar{{Name: "A", Value: "runtime"}, {Name: "B", Value: "isvc"}, {Name: "C", Value: "isvc"}}
	if len(got.Env) != len(want) {
		t.Fatalf("env %v; want %v", got.Env, want)
	}
	for i := range want {
		if got.Env[i].Name != want[i].Name || got.Env[i].Value != want[i].Value {
			t.Errorf("env[%d] = %s=%s; want %s=%s", i, got.Env[i].Name, got.Env[i].Value, want[i].Name, want[i].Value)
		}
	}
	if len(got.EnvFrom) != 1 || len(got.Ports) != 2 || len(got.VolumeMounts) != 2 {
		t.Errorf("envFrom %d ports %d volumeMounts %d; want 1, 2, 2", len(got.EnvFrom), len(got.Ports), len(got.VolumeMounts))
	}
	if got.Resources.Requests["cpu"] != "1" || got.Resources.Requests["memory"] != "2Gi" {
		t.Errorf("requests %v; want cpu from the runtime, memory from the InferenceService", got.Resources.Requests)
	}
	if got.Name != kserveContainer || got.Image != "mlgate" {
		t.Errorf("name %q image %q; want the runtime's", got.Name, got.Image)
	}
	if len(rt.Env) != 2 || rt.Env[1].Value != "runtime" {
		t.Errorf("merging changed the runtime's container: env %v", rt.Env)
	}
}
