package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/mlgate/mlgate/loadtest"
)

// The pgo phase (-pgo FILE) profiles one mlgate at its defaults under the
// loads the suite measures and merges the profiles into FILE, for
// profile-guided optimisation: `go build` uses cmd/mlgate/default.pgo on
// its own (-pgo=auto). Whether to keep that file is for a change measured
// with -lever pgo to decide.

// PGOInfo describes the profile the pgo phase wrote.
type PGOInfo struct {
	// File is the merged profile, relative to the repository when inside
	// it.
	File string `json:"file"`
	// Loads describe the loads profiled, one profile each, of Seconds
	// seconds.
	Loads   []string `json:"loads"`
	Seconds int      `json:"seconds"`
	// Profiles are the single profiles, relative to the results
	// directory.
	Profiles []string `json:"profiles"`
}

// pgoInstance is the pgo phase's mlgate process.
const pgoInstance = "mlgate-pgo"

// runPGO starts one mlgate with --pprof, takes a CPU profile of it under
// each load in turn and merges them into the -pgo file.
func (h *harness) runPGO(ctx context.Context) (err error) {
	defer func() {
		if serr := h.stopAll(); err == nil {
			err = serr
		}
	}()
	p, err := h.start(ctx, serverSpec{pgoInstance, h.mlgateArgv("--pprof")}, phasePGO)
	if err != nil {
		return err
	}
	if err := h.checkMlgate(ctx, pgoInstance, p.url); err != nil {
		return err
	}
	churn, mlp, _ := h.models()
	churn16 := benchModel{churnModel, churnRoute, h.churnPayload(16)}
	loads := []struct {
		what        string
		model       benchModel
		conns, rows int
	}{
		{"churn-gbm, one row per request", churn, h.plan.headlineConns, 1},
		{"churn-gbm, 16 rows per request", churn16, h.plan.headlineConns, 16},
		{"mlp256, one row per request", mlp, h.plan.threadMLPConns, 1},
	}
	info := &PGOInfo{File: displayCommand([]string{h.opts.pgo}, h.opts.repo), Seconds: h.plan.pgoSeconds}
	var files []string
	for i, l := range loads[:pgoLoads] {
		file := fmt.Sprintf("pgo-%d.prof", i+1)
		run := RunResult{ID: fmt.Sprintf("pgo-%d-%s-c%d-r%d", i+1, l.model.route, l.conns, l.rows), Server: serverMlgate,
			Phase: phasePGO, Instance: pgoInstance, Route: l.model.route, Model: l.model.name, Connections: l.conns, Rows: l.rows}
		if err := h.pgoRun(ctx, run, l.model.payload, filepath.Join(h.opts.results, file)); err != nil {
			return err
		}
		info.Loads = append(info.Loads, fmt.Sprintf("%s, %d connections", l.what, l.conns))
		info.Profiles = append(info.Profiles, file)
		files = append(files, filepath.Join(h.opts.results, file))
	}
	if err := mergeProfiles(ctx, h.opts.repo, h.opts.pgo, files); err != nil {
		return err
	}
	h.suite.PGO = info
	h.logf("wrote %s, the merged CPU profile of mlgate under %d loads", h.opts.pgo, len(files))
	return nil
}

// pgoRun drives run's route for the warmup, the profile and a second either
// side, and saves a CPU profile of the server taken in the middle to path.
func (h *harness) pgoRun(ctx context.Context, run RunResult, payload loadtest.Payload, path string) error {
	secs := h.plan.pgoSeconds
	cfg := loadtest.Config{Connections: run.Connections, Warmup: h.plan.warmup,
		Duration: time.Duration(secs+2) * time.Second, Payload: payload}
	return h.measure(ctx, run, "pgo/"+run.ID, loadExtras{}, func(ctx context.Context, p *process, _ func()) (outcome, error) {
		cfg.URL, cfg.Route = p.url, run.Route
		profErr := make(chan error, 1)
		go func() {
			if err := sleepCtx(ctx, h.plan.warmup+time.Second); err != nil {
				profErr <- err
				return
			}
			profErr <- fetchProfile(ctx, p.url, secs, path)
		}()
		self0 := selfCPU()
		rep, err := loadtest.Run(ctx, cfg)
		if perr := <-profErr; err == nil && perr != nil {
			err = fmt.Errorf("pgo profile: %w", perr)
		}
		if err != nil {
			return outcome{}, err
		}
		return outcome{summary: summarize(rep), requests: rep.Requests.Warmup + rep.Requests.Sent,
			clientCPU: selfCPU() - self0, report: rep}, nil
	})
}

// mergeProfiles merges CPU profiles into one with go tool pprof -proto and
// writes it to out, through a temporary file and a rename.
func mergeProfiles(ctx context.Context, dir, out string, files []string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof", "-proto"}, files...)...)
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go tool pprof -proto: %w: %s", err, firstLine(stderr.Bytes()))
	}
	if !bytes.HasPrefix(stdout.Bytes(), []byte{0x1f, 0x8b}) {
		return fmt.Errorf("go tool pprof -proto: not a gzipped profile: %.100q", stdout.Bytes())
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, stdout.Bytes(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
