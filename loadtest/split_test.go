package loadtest

import (
	"math"
	"reflect"
	"testing"
)

func TestParseSplit(t *testing.T) {
	tests := []struct {
		in   string
		want *Split
	}{
		{"champion=90,challenger=10", &Split{By: SplitByAlias, Targets: []SplitTarget{{"champion", 90}, {"challenger", 10}}}},
		{" champion = 90% , challenger = 10% ", &Split{By: SplitByAlias, Targets: []SplitTarget{{"champion", 90}, {"challenger", 10}}}},
		{"1=90,2=10", &Split{By: SplitByVersion, Targets: []SplitTarget{{"1", 90}, {"2", 10}}}},
		{"v1=0.9,V2=0.1", &Split{By: SplitByVersion, Targets: []SplitTarget{{"1", 0.9}, {"2", 0.1}}}},
		{"alias:1=50,2=50", &Split{By: SplitByAlias, Targets: []SplitTarget{{"1", 50}, {"2", 50}}}},
		{"version:v3=1", &Split{By: SplitByVersion, Targets: []SplitTarget{{"3", 1}}}},
		{"champion=1,v2=0", &Split{By: SplitByAlias, Targets: []SplitTarget{{"champion", 1}, {"v2", 0}}}},
	}
	for _, tt := range tests {
		got, err := ParseSplit(tt.in)
		if err != nil {
			t.Errorf("ParseSplit(%q): %v", tt.in, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParseSplit(%q) = %+v; want %+v", tt.in, got, tt.want)
		}
		again, err := ParseSplit(got.String())
		if err != nil || !reflect.DeepEqual(again, got) {
			t.Errorf("ParseSplit(%q) = %+v, %v; want it to round-trip to %+v", got.String(), again, err, got)
		}
	}
	for _, bad := range []string{"", "champion", "champion=", "=5", "a=x", "a=-1", "a=NaN", "a=Inf", "a=1,a=2",
		"1=1,v1=1", "a=0,b=0", "version:champion=1", "alias:"} {
		if got, err := ParseSplit(bad); err == nil {
			t.Errorf("ParseSplit(%q) = %+v; want an error", bad, got)
		}
	}
}

func TestEvaluateSplit(t *testing.T) {
	split := func(s string) *Split {
		t.Helper()
		sp, err := ParseSplit(s)
		if err != nil {
			t.Fatal(err)
		}
		return sp
	}
	tests := []struct {
		name      string
		split     *Split
		observed  map[string]int64
		pass      bool
		perTarget []bool
	}{
		{"exact", split("a=90,b=10"), map[string]int64{"a": 900, "b": 100}, true, []bool{true, true}},
		// sd = sqrt(1000*.1*.9) = 9.49; z(99.9%) = 3.29 -> ±31.2 responses.
		{"within", split("a=90,b=10"), map[string]int64{"a": 870, "b": 130}, true, []bool{true, true}},
		{"outside", split("a=90,b=10"), map[string]int64{"a": 860, "b": 140}, false, []bool{false, false}},
		{"wrong", split("a=80,b=20"), map[string]int64{"a": 900, "b": 100}, false, []bool{false, false}},
		{"unexpected", split("a=90,b=10"), map[string]int64{"a": 900, "b": 99, "c": 1}, false, []bool{true, true}},
		{"unattributed ignored", split("a=90,b=10"), map[string]int64{"a": 900, "b": 100, "": 50}, true, []bool{true, true}},
		{"single target", split("a=1"), map[string]int64{"a": 10}, true, []bool{true}},
		{"zero weight seen", split("a=1,b=0"), map[string]int64{"a": 10, "b": 1}, false, []bool{false, false}},
		{"zero weight unseen", split("a=1,b=0"), map[string]int64{"a": 10}, true, []bool{true, true}},
		{"nothing observed", split("a=1"), map[string]int64{}, false, []bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := evaluateSplit(tt.split, tt.observed, 0.999)
			if got.Pass != tt.pass {
				t.Errorf("pass %v; want %v (%+v)", got.Pass, tt.pass, got)
			}
			for i, want := range tt.perTarget {
				if got.Targets[i].Pass != want {
					t.Errorf("target %s: pass %v; want %v (%+v)", got.Targets[i].Key, got.Targets[i].Pass, want, got.Targets[i])
				}
			}
			for _, v := range []float64{got.ChiSquare, got.PValue, got.Z} {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("non-finite statistic in %+v", got)
				}
			}
		})
	}

	got := evaluateSplit(split("a=90,b=10"), map[string]int64{"a": 880, "b": 120}, 0.999)
	// chi2 = 20²/900 + 20²/100 = 4.444; p(df=1) = 0.0350.
	if math.Abs(got.ChiSquare-4.4444444) > 1e-6 || got.DF != 1 || math.Abs(got.PValue-0.035015) > 1e-5 {
		t.Errorf("got chi-square %v, df %d, p %v; want 4.4444, 1, 0.0350", got.ChiSquare, got.DF, got.PValue)
	}
	lo, hi := got.Targets[1].Low, got.Targets[1].High
	half := 3.2905267314919255 * math.Sqrt(0.1*0.9/1000)
	if math.Abs(lo-(0.1-half)) > 1e-12 || math.Abs(hi-(0.1+half)) > 1e-12 {
		t.Errorf("got interval [%v, %v]; want 0.1 ± %v", lo, hi, half)
	}
}

func TestStatistics(t *testing.T) {
	zs := []struct{ conf, z float64 }{{0.95, 1.959963984540054}, {0.99, 2.5758293035489004}, {0.999, 3.2905267314919255}}
	for _, tt := range zs {
		if got := zTwoSided(tt.conf); math.Abs(got-tt.z) > 1e-9 {
			t.Errorf("zTwoSided(%v) = %v; want %v", tt.conf, got, tt.z)
		}
	}
	// Reference values of the chi-square survival function.
	chis := []struct {
		x    float64
		df   int
		want float64
	}{
		{3.841458820694124, 1, 0.05}, {10.827566170662733, 1, 0.001}, {5.991464547107979, 2, 0.05},
		{7.814727903251178, 3, 0.05}, {0.5, 4, 0.9735009788392561}, {30, 10, 0.0008566412107753004},
		{0, 3, 1}, {1e4, 2, 0}, {2, 0, 1},
	}
	for _, tt := range chis {
		if got := chiSquareSF(tt.x, tt.df); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("chiSquareSF(%v, %d) = %v; want %v", tt.x, tt.df, got, tt.want)
		}
	}
}
