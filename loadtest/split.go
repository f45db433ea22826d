package loadtest

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Split kinds: what a Split's keys name.
const (
	SplitByAlias   = "alias"
	SplitByVersion = "version"
)

// Split is an expected traffic split between the targets of a route, keyed
// by X-Model-Alias or by X-Model-Version. Weights are relative: they need
// not sum to 100.
type Split struct {
	// By is SplitByAlias or SplitByVersion.
	By      string
	Targets []SplitTarget
}

// SplitTarget is one target's expected weight.
type SplitTarget struct {
	Key    string
	Weight float64
}

// ParseSplit parses an --expect-split value: comma-separated key=weight
// pairs, e.g. "champion=90,challenger=10" (by alias) or "1=90,2=10" (by
// version). Keys that are all version numbers, optionally written v1, v2,
// make a split by version; anything else is by alias. A leading "alias:" or
// "version:" forces the kind. A weight may end in "%".
func ParseSplit(s string) (*Split, error) {
	spec := strings.TrimSpace(s)
	forced := ""
	for _, kind := range []string{SplitByAlias, SplitByVersion} {
		if rest, ok := strings.CutPrefix(spec, kind+":"); ok {
			forced, spec = kind, rest
			break
		}
	}
	if spec == "" {
		return nil, errors.New("empty split")
	}
	sp := &Split{}
	allVersions := true
	seen := make(map[string]bool)
	for _, part := range strings.Split(spec, ",") {
		k, w, ok := strings.Cut(part, "=")
		k, w = strings.TrimSpace(k), strings.TrimSpace(w)
		if !ok || k == "" || w == "" {
			return nil, fmt.Errorf("split entry %q: want key=weight", part)
		}
		weight, err := strconv.ParseFloat(strings.TrimSuffix(w, "%"), 64)
		if err != nil || math.IsNaN(weight) || math.IsInf(weight, 0) || weight < 0 {
			return nil, fmt.Errorf("split entry %q: weight must be a number >= 0", part)
		}
		if _, ok := versionKey(k); !ok {
			allVersions = false
		}
		if seen[k] {
			return nil, fmt.Errorf("split key %q appears twice", k)
		}
		seen[k] = true
		sp.Targets = append(sp.Targets, SplitTarget{Key: k, Weight: weight})
	}
	sp.By = forced
	if sp.By == "" {
		sp.By = SplitByAlias
		if allVersions {
			sp.By = SplitByVersion
		}
	}
	if sp.By == SplitByVersion {
		seen := make(map[string]bool)
		for i := range sp.Targets {
			v, ok := versionKey(sp.Targets[i].Key)
			if !ok {
				return nil, fmt.Errorf("split key %q is not a version number", sp.Targets[i].Key)
			}
			if seen[v] {
				return nil, fmt.Errorf("split version %q appears twice", v)
			}
			seen[v] = true
			sp.Targets[i].Key = v
		}
	}
	if err := sp.validate(); err != nil {
		return nil, err
	}
	return sp, nil
}

// versionKey returns k without a leading "v" when the rest is a version
// number.
func versionKey(k string) (string, bool) {
	v := k
	if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') {
		v = v[1:]
	}
	if v == "" {
		return "", false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return "", false
		}
	}
	return v, true
}

func (s *Split) validate() error {
	if s.By != SplitByAlias && s.By != SplitByVersion {
		return fmt.Errorf("split kind %q: want %q or %q", s.By, SplitByAlias, SplitByVersion)
	}
	if len(s.Targets) == 0 {
		return errors.New("split has no targets")
	}
	total := 0.0
	seen := make(map[string]bool, len(s.Targets))
	for _, t := range s.Targets {
		if t.Key == "" {
			return errors.New("split target with an empty key")
		}
		if seen[t.Key] {
			return fmt.Errorf("split key %q appears twice", t.Key)
		}
		seen[t.Key] = true
		if math.IsNaN(t.Weight) || math.IsInf(t.Weight, 0) || t.Weight < 0 {
			return fmt.Errorf("split key %q: weight must be a finite number >= 0", t.Key)
		}
		total += t.Weight
	}
	if !(total > 0) {
		return errors.New("split weights sum to zero")
	}
	return nil
}

// String returns the split in ParseSplit's syntax, with the kind forced.
func (s *Split) String() string {
	var b strings.Builder
	b.WriteString(s.By)
	b.WriteByte(':')
	for i, t := range s.Targets {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.Key)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(t.Weight, 'g', -1, 64))
	}
	return b.String()
}

// SplitReport compares the observed split with the expected one.
type SplitReport struct {
	By         string  `json:"by"`
	Confidence float64 `json:"confidence"`
	// Z is the two-sided normal quantile for Confidence.
	Z float64 `json:"z"`
	// Total is the number of responses carrying the split's header.
	Total int64 `json:"total"`
	// Unattributed counts responses without the header; they are left out
	// of the check.
	Unattributed int64         `json:"unattributed"`
	Targets      []SplitResult `json:"targets"`
	// Unexpected lists header values that have no expected share; any of
	// them fails the check.
	Unexpected []NameCount `json:"unexpected"`
	// ChiSquare is the goodness-of-fit statistic over the targets with a
	// non-zero expected share, with DF degrees of freedom, and PValue its
	// p-value.
	ChiSquare float64 `json:"chi_square"`
	DF        int     `json:"df"`
	PValue    float64 `json:"p_value"`
	// Pass is true when every target passes, nothing unexpected was seen,
	// and PValue >= 1 - Confidence.
	Pass bool `json:"pass"`
}

// SplitResult is one target of a split check. Shares are fractions of
// SplitReport.Total.
type SplitResult struct {
	Key      string  `json:"key"`
	Expected float64 `json:"expected_share"`
	Observed int64   `json:"observed"`
	Share    float64 `json:"observed_share"`
	// Low and High bound the share accepted at the report's confidence:
	// Expected ± Z·sqrt(Expected·(1-Expected)/Total), the two-sided
	// normal approximation of the binomial.
	Low  float64 `json:"low"`
	High float64 `json:"high"`
	Pass bool    `json:"pass"`
}

// evaluateSplit checks observed counts per header value ("" = header
// absent) against s at the given confidence.
func evaluateSplit(s *Split, observed map[string]int64, confidence float64) *SplitReport {
	rep := &SplitReport{By: s.By, Confidence: confidence, Z: zTwoSided(confidence)}
	expected := make(map[string]bool, len(s.Targets))
	for _, t := range s.Targets {
		expected[t.Key] = true
	}
	for k, c := range observed {
		switch {
		case k == "":
			rep.Unattributed += c
		case !expected[k] && c > 0:
			rep.Unexpected = append(rep.Unexpected, NameCount{Name: k, Count: c})
			rep.Total += c
		case expected[k]:
			rep.Total += c
		}
	}
	sortNameCounts(rep.Unexpected)
	weights := 0.0
	for _, t := range s.Targets {
		weights += t.Weight
	}
	n := float64(rep.Total)
	pass := rep.Total > 0 && len(rep.Unexpected) == 0
	categories := 0
	for _, t := range s.Targets {
		p := t.Weight / weights
		o := observed[t.Key]
		res := SplitResult{Key: t.Key, Expected: p, Observed: o}
		if rep.Total > 0 {
			share := float64(o) / n
			half := rep.Z * math.Sqrt(p*(1-p)/n)
			res.Share = share
			res.Low = math.Max(0, p-half)
			res.High = math.Min(1, p+half)
			// The tolerance absorbs float rounding when share sits exactly
			// on a bound (p = 0 or 1 make the interval a point).
			res.Pass = math.Abs(share-p) <= half+1e-12
		}
		if !res.Pass {
			pass = false
		}
		if p > 0 && rep.Total > 0 {
			e := n * p
			d := float64(o) - e
			rep.ChiSquare += d * d / e
			categories++
		}
		rep.Targets = append(rep.Targets, res)
	}
	rep.DF = categories - 1
	if rep.DF < 0 {
		rep.DF = 0
	}
	rep.PValue = chiSquareSF(rep.ChiSquare, rep.DF)
	if rep.PValue < 1-confidence {
		pass = false
	}
	rep.Pass = pass
	return rep
}

func sortNameCounts(s []NameCount) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Count != s[j].Count {
			return s[i].Count > s[j].Count
		}
		return s[i].Name < s[j].Name
	})
}
