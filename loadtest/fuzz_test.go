package loadtest

import (
	"reflect"
	"strings"
	"testing"
)

func FuzzParseSplit(f *testing.F) {
	for _, s := range []string{"champion=90,challenger=10", "1=90,2=10", "v1=1,v2=1", "alias:1=5", "version:3=1", "a=1%", " a = 0 , b = 1e3 ", "a=1,a=2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sp, err := ParseSplit(s)
		if err != nil {
			return
		}
		if err := sp.validate(); err != nil {
			t.Fatalf("ParseSplit(%q) returned an invalid split %+v: %v", s, sp, err)
		}
		again, err := ParseSplit(sp.String())
		if err != nil {
			t.Fatalf("ParseSplit(%q) = %+v, whose String %q does not parse: %v", s, sp, sp.String(), err)
		}
		if !reflect.DeepEqual(again, sp) {
			t.Fatalf("ParseSplit(%q) = %+v; re-parsed from %q as %+v", s, sp, sp.String(), again)
		}
		obs := map[string]int64{}
		for i, tg := range sp.Targets {
			obs[tg.Key] = int64(i * 7)
		}
		rep := evaluateSplit(sp, obs, DefaultConfidence)
		if len(rep.Targets) != len(sp.Targets) {
			t.Fatalf("evaluateSplit gave %d targets; want %d", len(rep.Targets), len(sp.Targets))
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	for _, s := range []string{"X-User-Id: {{key}}", "Authorization: Bearer x:y", "a:", ":b", "no colon", "X\r\nY: z", "Bad Name: v"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := ParseHeader(s)
		if err != nil {
			return
		}
		if err := validHeaderName(h.Name); err != nil {
			t.Fatalf("ParseHeader(%q) = %+v with an invalid name: %v", s, h, err)
		}
		if strings.ContainsAny(h.Value, "\r\n") || h.Value != strings.TrimSpace(h.Value) {
			t.Fatalf("ParseHeader(%q) = %+v: value holds a line break or outer space", s, h)
		}
		again, err := ParseHeader(h.Name + ": " + h.Value)
		if err != nil || again != h {
			t.Fatalf("ParseHeader(%q) = %+v; re-parsed as %+v, %v", s, h, again, err)
		}
	})
}
