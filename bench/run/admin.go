package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// routeModel is what GET /admin/models says about the model a route's
// first target serves.
type routeModel struct {
	// Batching is the batching mode the model runs with.
	Batching string
	// Workers is its number of concurrent ONNX Runtime calls; 0 when
	// mlgate does not report it.
	Workers int
	// Stats counts its ONNX Runtime calls and the requests and rows they
	// served since it was loaded; nil when mlgate does not report them.
	Stats *modelStats
	// Calibration is mlgate's timing of the model's call when it loaded;
	// nil when mlgate does not report it.
	Calibration *calibration
}

// calibration is what mlgate measured to choose a model's workers.
type calibration struct {
	OneRowNs        int64  `json:"one_row_ns"`
	BatchedPerRowNs int64  `json:"batched_per_row_ns"`
	Choice          string `json:"choice"`
}

// modelStats are a loaded model's counters, warm-up included.
type modelStats struct {
	Runs     int64 `json:"runs"`
	Requests int64 `json:"requests"`
	Rows     int64 `json:"rows"`
}

// adminModels reads GET /admin/models of the mlgate at base and returns
// each route's first target's model, by route name.
func adminModels(ctx context.Context, base string) (map[string]routeModel, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/admin/models", nil)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /admin/models: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("GET /admin/models: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /admin/models: status %d: %.200s", resp.StatusCode, body)
	}
	return parseAdminModels(body)
}

// parseAdminModels reads a GET /admin/models document.
func parseAdminModels(body []byte) (map[string]routeModel, error) {
	var doc struct {
		Routes []struct {
			Name    string `json:"name"`
			Targets []struct {
				Model *struct {
					Batching    string       `json:"batching"`
					Workers     int          `json:"workers"`
					Stats       *modelStats  `json:"stats"`
					Calibration *calibration `json:"calibration"`
				} `json:"model"`
			} `json:"targets"`
		} `json:"routes"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("GET /admin/models: %w", err)
	}
	out := map[string]routeModel{}
	for _, r := range doc.Routes {
		if len(r.Targets) == 0 || r.Targets[0].Model == nil {
			continue
		}
		m := r.Targets[0].Model
		out[r.Name] = routeModel{Batching: m.Batching, Workers: m.Workers, Stats: m.Stats, Calibration: m.Calibration}
	}
	return out, nil
}

// meanBatch is the mean number of requests per ONNX Runtime call between
// two readings of a model's counters; 0 when unknown.
func meanBatch(before, after *modelStats) float64 {
	if before == nil || after == nil {
		return 0
	}
	runs, reqs := after.Runs-before.Runs, after.Requests-before.Requests
	if runs <= 0 || reqs <= 0 {
		return 0
	}
	return float64(reqs) / float64(runs)
}
