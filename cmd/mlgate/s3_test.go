package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mlgate/mlgate/internal/fakemlflow"
	"github.com/mlgate/mlgate/internal/testutil"
	"github.com/mlgate/mlgate/internal/testutil/minioserver"
	"github.com/mlgate/mlgate/serve"
)

// s3Location is where churn-gbm version v's artifacts live in MinIO.
func s3Location(v string) string { return "s3://models/churn-gbm/" + v + "/artifacts" }

// awsVariables are the variables the S3 credential chain reads.
var awsVariables = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY", "AWS_SECRET_KEY",
	"AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN",
	"AWS_ROLE_SESSION_NAME", "AWS_ENDPOINT_URL_STS", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_DISABLED",
	"AWS_METADATA_SERVICE_TIMEOUT", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
	"AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_REGION", "AWS_DEFAULT_REGION",
	"MLFLOW_S3_ENDPOINT_URL", "MLFLOW_S3_IGNORE_TLS", "MLGATE_S3_ANONYMOUS"}

// s3Environment sets the environment the mlgate processes of a test
// inherit: MinIO as the S3 endpoint, the given variables, and nothing else
// the credential chain could find (HOME is an empty directory, the
// instance role is off).
func s3Environment(t *testing.T, endpoint string, vars map[string]string) {
	t.Helper()
	for _, k := range awsVariables {
		t.Setenv(k, "")
	}
	t.Setenv("HOME", t.TempDir())
	t.Setenv("MLFLOW_S3_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// provenanceOf is what a response's headers say computed it.
func provenanceOf(h http.Header) serve.Provenance {
	return serve.Provenance{Name: h.Get(serve.HeaderModelName), Version: h.Get(serve.HeaderModelVersion), Alias: h.Get(serve.HeaderModelAlias),
		RunID: h.Get(serve.HeaderRunID), GitCommit: h.Get(serve.HeaderGitCommit), ModelID: h.Get(serve.HeaderModelID),
		DataVersion: h.Get(serve.HeaderDataVersion)}
}

// recordedProvenance is each churn-gbm version's provenance as the recorded
// registry holds it: run and LoggedModel from the expected outputs, the git
// commit from the run's tags.
func recordedProvenance(t *testing.T) map[string]serve.Provenance {
	t.Helper()
	out := map[string]serve.Provenance{}
	for _, e := range expectedOutputs(t) {
		data, err := os.ReadFile(testutil.Path(t, "testdata", "mlflow-real", "rest", "runs-get--v"+e.Version+"-run.json"))
		if err != nil {
			continue
		}
		var run struct {
			Run struct {
				Data struct {
					Tags []struct{ Key, Value string }
				}
			}
		}
		if err := json.Unmarshal(data, &run); err != nil {
			t.Fatal(err)
		}
		p := serve.Provenance{Name: "churn-gbm", Version: e.Version, Alias: "champion", RunID: e.RunID, ModelID: e.ModelID}
		for _, tag := range run.Run.Data.Tags {
			if tag.Key == "mlflow.source.git.commit" {
				p.GitCommit = tag.Value
			}
		}
		out[e.Version] = p
	}
	if out["1"].GitCommit == "" || out["2"].GitCommit == "" || out["1"].RunID == out["2"].RunID {
		t.Fatalf("recorded provenance of versions 1 and 2: %+v", out)
	}
	return out
}

// runProvenanceLoad sends oneRow from n goroutines until stopped and checks
// every response: 200, the body its own version answers, and exactly the
// recorded provenance of that version in the headers.
func runProvenanceLoad(t *testing.T, url string, n int, want map[string]serve.Provenance) *loadResult {
	t.Helper()
	client := loadClient(n)
	stop := make(chan struct{})
	var once sync.Once
	res := &loadResult{versions: map[string]int{}}
	res.stop = func() { once.Do(func() { close(stop) }) }
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Post(url, "application/json", strings.NewReader(oneRow))
				if err != nil {
					res.total.Add(1)
					res.fail(err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := provenanceOf(resp.Header)
				switch {
				case resp.StatusCode != 200:
					res.fail(fmt.Sprintf("status %d: %s", resp.StatusCode, body))
				case string(body) != bodyOf[got.Version]:
					res.fail(fmt.Sprintf("X-Model-Version %s but body %s", got.Version, body))
				case !reflect.DeepEqual(got, want[got.Version]):
					res.fail(fmt.Sprintf("headers say %+v; version %s is %+v", got, got.Version, want[got.Version]))
				default:
					res.mu.Lock()
					res.versions[got.Version]++
					res.mu.Unlock()
				}
				res.total.Add(1)
			}
		})
	}
	t.Cleanup(func() { res.stop(); wg.Wait(); client.CloseIdleConnections() })
	res.wait = wg.Wait
	return res
}

// served returns how many responses the load counted for version v.
func (r *loadResult) served(v string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.versions[v]
}

// waitLong polls cond every 10ms until it holds; limit only stops a test
// whose condition never comes true.
func waitLong(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServeFromMinIO serves models:/churn-gbm@champion from versions whose
// artifacts live in a real MinIO server, with the real mlgate process, and
// takes MinIO away: requests keep succeeding when it stops; a restart with
// MinIO and the registry both down serves from the disk cache; an alias
// move during the S3 outage keeps the old version serving, with the old
// version's provenance on every response and no failed request, shows the
// S3 error in /admin/models, never gives up on the new version, and serves
// it once MinIO is back.
func TestServeFromMinIO(t *testing.T) {
	want := recordedProvenance(t)
	minio := minioserver.Start(t)
	minio.MakeBucket("models")
	for _, v := range []int{1, 2} {
		minio.PutFiles("models", fmt.Sprintf("churn-gbm/%d/artifacts", v), testutil.RecordedModelFiles(t, "churn-gbm", v))
	}
	s3Environment(t, minio.URL(), map[string]string{
		"AWS_ACCESS_KEY_ID": minioserver.RootUser, "AWS_SECRET_ACCESS_KEY": minioserver.RootPassword})
	fake := fakemlflow.New(t)
	fake.SetDownloadURI("churn-gbm", "1", s3Location("1"))
	fake.SetDownloadURI("churn-gbm", "2", s3Location("2"))
	cache := t.TempDir()
	// One attempt before giving up on a version whose download or load
	// fails; an unreachable store must not count towards it.
	args := []string{"--cache-dir", cache, "--poll-interval", "100ms", "--max-attempts", "1", "--drain-delay", "0s"}

	first := startProcess(t, fake.URL(), args...)
	waitLong(t, "mlgate to serve from S3", 2*time.Minute, func() bool { return status(first.url+"/ready") == 200 })
	r := postJSON(t, first.url+"/invocations", oneRow)
	if got := provenanceOf(r.header); r.status != 200 || !reflect.DeepEqual(got, want["1"]) || string(r.body) != bodyOf["1"] {
		t.Fatalf("first answer from S3: %d %s %+v; want version 1 %+v", r.status, r.body, got, want["1"])
	}

	t.Run("MinIO stopped while serving", func(t *testing.T) {
		load := runProvenanceLoad(t, first.url+"/invocations", 4, want)
		waitLong(t, "requests before the stop", time.Minute, func() bool { return load.served("1") > 0 })
		minio.Stop()
		after := load.served("1")
		waitLong(t, "200 requests after MinIO stopped", 2*time.Minute, func() bool { return load.served("1") >= after+200 })
		load.check(t)
		t.Logf("MinIO stopped: %d requests, none failed; all version 1", load.total.Load())
	})
	stopProcess(t, first)

	t.Run("restart from the disk cache, MinIO and registry down", func(t *testing.T) {
		fake.SetDown(fakemlflow.Refuse)
		second := startProcess(t, fake.URL(), args...)
		waitLong(t, "mlgate to serve from its cache", 2*time.Minute, func() bool { return status(second.url+"/ready") == 200 })
		r := postJSON(t, second.url+"/invocations", oneRow)
		if got := provenanceOf(r.header); r.status != 200 || !reflect.DeepEqual(got, want["1"]) {
			t.Fatalf("offline start: %d %s %+v; want version 1 %+v", r.status, r.body, got, want["1"])
		}
		f := target(t, adminModels(t, second.adminURL), "churn").Follow
		if f == nil || !f.FromCache || !f.Stale || f.LastError == "" {
			t.Errorf("offline start status %+v; want from_cache, stale and the registry error", f)
		}
		stopProcess(t, second)
		fake.SetUp()
	})

	t.Run("alias moved during an S3 outage", func(t *testing.T) {
		third := startProcess(t, fake.URL(), args...)
		waitLong(t, "mlgate to serve version 1", 2*time.Minute, func() bool { return status(third.url+"/ready") == 200 })
		load := runProvenanceLoad(t, third.url+"/invocations", 4, want)
		fake.SetAlias("churn-gbm", "champion", "2")
		// Three failed downloads with --max-attempts 1: an unreachable
		// store is not the version's fault, so mlgate keeps trying.
		var f *serve.FollowStatus
		waitLong(t, "three failed downloads of version 2, or giving up on it", 3*time.Minute, func() bool {
			f = target(t, adminModels(t, third.adminURL), "churn").Follow
			return f != nil && f.PendingVersion == "2" && (f.PendingFailures >= 3 || f.GaveUp)
		})
		tg := target(t, adminModels(t, third.adminURL), "churn")
		if f.GaveUp {
			t.Fatalf("gave up on version 2 after %d failed downloads while MinIO was down: %s", f.PendingFailures, f.LastError)
		}
		if !strings.Contains(f.LastError, s3Location("2")) || !strings.Contains(f.LastError, "connection refused") {
			t.Errorf("during the outage /admin/models shows %+v; want the S3 error naming %s", f, s3Location("2"))
		}
		if tg.Serving == nil || tg.Serving.Version != "1" || tg.Serving.RunID != want["1"].RunID {
			t.Errorf("during the outage /admin/models says %+v serves; want version 1", tg.Serving)
		}
		t.Logf("during the outage: %s", f.LastError)
		servedBefore := load.served("1")

		minio.Restart()
		waitLong(t, "version 2 to serve once MinIO is back", 3*time.Minute, func() bool { return load.served("2") > 0 })
		load.check(t)
		tg = target(t, adminModels(t, third.adminURL), "churn")
		if tg.Serving == nil || tg.Serving.Version != "2" || tg.Follow.LastError != "" || tg.Follow.PendingVersion != "" {
			t.Errorf("after MinIO came back /admin/models shows %+v, %+v; want version 2 serving and no error", tg.Serving, tg.Follow)
		}
		t.Logf("%d requests, none failed: %d answered by version 1 (%d before MinIO came back), %d by version 2",
			load.total.Load(), load.served("1"), servedBefore, load.served("2"))
	})
}

// TestServeFromMinIORefused starts mlgate on versions in MinIO that it must
// not serve: refused credentials, a missing bucket, and no credentials at
// all for a public bucket, where mlgate must fail saying so rather than
// send unsigned requests (the proxy in front of MinIO counts them). Each
// start fails with a message naming the cause. With --s3-anonymous the
// public bucket serves.
func TestServeFromMinIORefused(t *testing.T) {
	minio := minioserver.Start(t)
	minio.MakeBucket("public")
	minio.PutFiles("public", "churn-gbm/1/artifacts", testutil.RecordedModelFiles(t, "churn-gbm", 1))
	if err := minio.Client().SetBucketPolicy(t.Context(), "public", `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},
"Action":["s3:GetBucketLocation","s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::public","arn:aws:s3:::public/*"]}]}`); err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	target, _ := url.Parse(minio.URL())
	rp := httputil.NewSingleHostReverseProxy(target)
	tr := &http.Transport{}
	rp.Transport = tr
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	t.Cleanup(tr.CloseIdleConnections)

	root := map[string]string{"AWS_ACCESS_KEY_ID": minioserver.RootUser, "AWS_SECRET_ACCESS_KEY": minioserver.RootPassword}
	tests := []struct {
		name     string
		location string
		vars     map[string]string
		args     []string
		want     string // in the logs of a failed start; "" means it serves
		requests bool   // whether S3 may see requests
	}{
		{"wrong secret", "s3://public/churn-gbm/1/artifacts",
			map[string]string{"AWS_ACCESS_KEY_ID": minioserver.RootUser, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}, nil,
			"signature we calculated does not match", true},
		{"missing bucket", "s3://no-such-bucket/churn-gbm/1/artifacts", root, nil, "bucket does not exist", true},
		{"no credentials", "s3://public/churn-gbm/1/artifacts", nil, nil, "no S3 credentials found", false},
		{"anonymous when asked", "s3://public/churn-gbm/1/artifacts", nil, []string{"--s3-anonymous"}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s3Environment(t, proxy.URL, tt.vars)
			fake := fakemlflow.New(t)
			fake.SetDownloadURI("churn-gbm", "1", tt.location)
			before := requests.Load()
			p := startProcess(t, fake.URL(), tt.args...)
			if tt.want == "" {
				waitLong(t, "mlgate to serve", 2*time.Minute, func() bool { return status(p.url+"/ready") == 200 })
				if r := postJSON(t, p.url+"/invocations", oneRow); r.status != 200 || string(r.body) != bodyOf["1"] {
					t.Errorf("got %d %s; want version 1's answer", r.status, r.body)
				}
			} else {
				select {
				case err := <-p.done:
					if err == nil {
						t.Error("mlgate exited 0")
					}
				case <-time.After(2 * time.Minute):
					t.Fatal("mlgate did not fail its start")
				}
				p.mu.Lock()
				logs := p.logs.String()
				p.mu.Unlock()
				if !strings.Contains(logs, tt.want) || !strings.Contains(logs, tt.location) {
					t.Errorf("logs do not say %q about %s:\n%s", tt.want, tt.location, logs)
				}
			}
			if sent := requests.Load() > before; sent != tt.requests {
				t.Errorf("S3 saw requests: %v; want %v", sent, tt.requests)
			}
		})
	}
}
