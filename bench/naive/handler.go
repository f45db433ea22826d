package main

import (
	"encoding/json"
	"fmt"
	"net/http"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/mlgate/mlgate/bench/fixture"
)

// maxBodyBytes matches mlgate's default request body limit.
const maxBodyBytes = 16 << 20

// scoringRequest is the part of MLflow's scoring request this server
// accepts: {"dataframe_split": {"columns": [...], "data": [[...], ...]}}.
type scoringRequest struct {
	DataframeSplit *dataframeSplit `json:"dataframe_split"`
}

type dataframeSplit struct {
	Columns []string    `json:"columns"`
	Data    [][]float64 `json:"data"`
}

type prediction struct {
	Probability float64 `json:"probability"`
}

type scoringResponse struct {
	Predictions []prediction `json:"predictions"`
}

type errorResponse struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

// provenance is sent on every /invocations response.
var provenance = fixture.Headers()

// predictor is what the handler needs from the model.
type predictor interface {
	predict(rows []float32) ([]float32, error)
}

// newMux routes the scoring, health and version endpoints to m.
func newMux(m predictor) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /invocations", invocations(m))
	health := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "\n")
	}
	mux.HandleFunc("GET /ping", health)
	mux.HandleFunc("GET /health", health)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "onnxruntime %s\n", ort.GetVersion())
	})
	return mux
}

func invocations(m predictor) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		for _, h := range provenance {
			w.Header().Set(h.Name, h.Value)
		}
		var req scoringRequest
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBodyBytes)).Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", "invalid JSON: "+err.Error())
			return
		}
		rows, err := req.rows()
		if err != nil {
			writeError(w, http.StatusBadRequest, "BAD_REQUEST", err.Error())
			return
		}
		probs, err := m.predict(rows)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "INTERNAL_ERROR", err.Error())
			return
		}
		resp := scoringResponse{Predictions: make([]prediction, len(probs))}
		for i, p := range probs {
			resp.Predictions[i].Probability = float64(p)
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	}
}

// rows returns the request's rows in the model's column order, row-major.
// Without "columns" the values are taken in the model's column order.
func (req *scoringRequest) rows() ([]float32, error) {
	df := req.DataframeSplit
	if df == nil {
		return nil, fmt.Errorf("request has no dataframe_split")
	}
	if len(df.Data) == 0 {
		return nil, fmt.Errorf("dataframe_split has no rows")
	}
	columns := df.Columns
	if len(columns) == 0 {
		columns = fixture.Columns[:]
	}
	order := make([]int, len(fixture.Columns))
	for i, name := range fixture.Columns {
		order[i] = -1
		for j, c := range columns {
			if c == name {
				order[i] = j
			}
		}
		if order[i] < 0 {
			return nil, fmt.Errorf("missing column %q", name)
		}
	}
	rows := make([]float32, 0, len(df.Data)*len(order))
	for i, row := range df.Data {
		if len(row) != len(columns) {
			return nil, fmt.Errorf("row %d has %d values; want %d", i, len(row), len(columns))
		}
		for _, j := range order {
			rows = append(rows, float32(row[j]))
		}
	}
	return rows, nil
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(errorResponse{ErrorCode: code, Message: msg})
}
