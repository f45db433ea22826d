package main

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
)

// ciConfidence is the confidence level of every interval the harness
// reports, benchstat's default.
const ciConfidence = 0.95

// Estimate is the median of a few samples (one per round) with a
// distribution-free confidence interval, computed as benchstat computes it:
// the interval between two order statistics that holds the population
// median with at least ciConfidence probability. Lo and Hi are NaN when
// there are too few samples for such an interval (benchstat's "±∞"; six
// are needed at 95%).
type Estimate struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Lo     float64 `json:"lo"`
	Hi     float64 `json:"hi"`
}

// estimateJSON is Estimate on the wire: an unknown figure is null, which
// JSON can hold and NaN is not.
type estimateJSON struct {
	N      int      `json:"n"`
	Median *float64 `json:"median"`
	Lo     *float64 `json:"lo"`
	Hi     *float64 `json:"hi"`
}

// MarshalJSON writes NaN figures as null.
func (e Estimate) MarshalJSON() ([]byte, error) {
	ptr := func(v float64) *float64 {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil
		}
		return &v
	}
	return json.Marshal(estimateJSON{N: e.N, Median: ptr(e.Median), Lo: ptr(e.Lo), Hi: ptr(e.Hi)})
}

// UnmarshalJSON reads null figures as NaN.
func (e *Estimate) UnmarshalJSON(b []byte) error {
	var w estimateJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	val := func(p *float64) float64 {
		if p == nil {
			return math.NaN()
		}
		return *p
	}
	*e = Estimate{N: w.N, Median: val(w.Median), Lo: val(w.Lo), Hi: val(w.Hi)}
	return nil
}

// estimate returns the median and confidence interval of xs, skipping NaNs;
// a zero Estimate with NaN figures when none is left.
func estimate(xs []float64) Estimate {
	var v []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	e := Estimate{N: len(v), Median: math.NaN(), Lo: math.NaN(), Hi: math.NaN()}
	if len(v) == 0 {
		return e
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		e.Median = v[n/2]
	} else {
		e.Median = (v[n/2-1] + v[n/2]) / 2
	}
	if k := medianCIOrder(n, ciConfidence); k > 0 {
		e.Lo, e.Hi = v[k-1], v[n-k]
	}
	return e
}

// medianCIOrder returns the largest k such that the interval between the
// k-th smallest and the k-th largest of n samples holds the median with at
// least confidence probability: 1 - 2·P(Binomial(n, ½) < k) ≥ confidence.
// It returns 0 when even the full range does not reach it.
func medianCIOrder(n int, confidence float64) int {
	k := 0
	tail := 0.0 // P(Binomial(n, ½) < k+1) as k grows
	for j := 0; j < n/2+1; j++ {
		tail += binomialHalf(n, j)
		if 1-2*tail < confidence {
			break
		}
		k = j + 1
	}
	return k
}

// binomialHalf is P(Binomial(n, ½) = j).
func binomialHalf(n, j int) float64 {
	lg := func(x int) float64 { v, _ := math.Lgamma(float64(x + 1)); return v }
	return math.Exp(lg(n) - lg(j) - lg(n-j) - float64(n)*math.Ln2)
}

// known reports whether the estimate has a median.
func (e Estimate) known() bool { return e.N > 0 && !math.IsNaN(e.Median) }

// hasCI reports whether the estimate has a finite confidence interval.
func (e Estimate) hasCI() bool { return !math.IsNaN(e.Lo) && !math.IsNaN(e.Hi) }

// fmtRatioEstimate writes a ratio estimate: "0.58× (95% CI 0.55–0.60×, 6
// rounds)", or without the interval when there are too few rounds.
func fmtRatioEstimate(e Estimate) string { return ratioOver(e, "round") }

// ratioOver writes a ratio estimate over samples of what (round, run).
func ratioOver(e Estimate, what string) string {
	if !e.known() {
		return "n/a"
	}
	if !e.hasCI() {
		return fmt.Sprintf("%s (%s; too few for a 95%% CI)", fmtRatio(e.Median), plural(e.N, what))
	}
	return fmt.Sprintf("%s (95%% CI %.2f–%.2f×, %s)", fmtRatio(e.Median), e.Lo, e.Hi, plural(e.N, what))
}

// fmtRateEstimate writes a throughput estimate: "71,234 (70,100–72,900)".
func fmtRateEstimate(e Estimate) string {
	if !e.known() {
		return "n/a"
	}
	if !e.hasCI() {
		return fmtRate(e.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", fmtRate(e.Median), fmtRate(e.Lo), fmtRate(e.Hi))
}
