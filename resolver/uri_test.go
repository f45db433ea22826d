package resolver

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	tests := []struct {
		in   string
		want URI
	}{
		{"models:/churn-gbm@champion", URI{Kind: KindAlias, Name: "churn-gbm", Alias: "champion"}},
		{"  models:/churn-gbm@champion\n", URI{Kind: KindAlias, Name: "churn-gbm", Alias: "champion"}},
		{"MODELS:/churn-gbm@champion", URI{Kind: KindAlias, Name: "churn-gbm", Alias: "champion"}},
		{"models:/team@churn@champion", URI{Kind: KindAlias, Name: "team@churn", Alias: "champion"}},
		{"models:/churn-gbm@é_2-x", URI{Kind: KindAlias, Name: "churn-gbm", Alias: "é_2-x"}},
		{"models:/churn-gbm@latest", URI{Kind: KindAlias, Name: "churn-gbm", Alias: "latest"}},
		{"models:/churn-gbm/3", URI{Kind: KindVersion, Name: "churn-gbm", Version: 3}},
		{"models:/churn-gbm/007", URI{Kind: KindVersion, Name: "churn-gbm", Version: 7}},
		{"models:/churn%20gbm/1", URI{Kind: KindVersion, Name: "churn%20gbm", Version: 1}},
		{"models:/a@b/2", URI{Kind: KindVersion, Name: "a@b", Version: 2}},
		{"models:/churn-gbm/latest", URI{Kind: KindLatest, Name: "churn-gbm"}},
		{"models:/churn-gbm/LaTeSt", URI{Kind: KindLatest, Name: "churn-gbm"}},
		{"models:/churn-gbm/production", URI{Kind: KindStage, Name: "churn-gbm", Stage: "Production"}},
		{"models:/churn-gbm/STAGING", URI{Kind: KindStage, Name: "churn-gbm", Stage: "Staging"}},
		{"models:/churn-gbm/none", URI{Kind: KindStage, Name: "churn-gbm", Stage: "None"}},
		{"models:/churn-gbm/Archived", URI{Kind: KindStage, Name: "churn-gbm", Stage: "Archived"}},
		{"models:/m-297cf642525145a9a1b78850d630dfcc", URI{Kind: KindLoggedModel, ModelID: "m-297cf642525145a9a1b78850d630dfcc"}},
		{"models:/churn gbm/1", URI{Kind: KindVersion, Name: "churn gbm", Version: 1}},
	}
	for _, tt := range tests {
		got, err := ParseURI(tt.in)
		if err != nil {
			t.Errorf("ParseURI(%q): got error %v; want %+v", tt.in, err, tt.want)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseURI(%q): got %+v; want %+v", tt.in, got, tt.want)
		}
	}
}

func TestParseURIErrors(t *testing.T) {
	tests := []struct {
		in, wantMsg string
	}{
		{"", "want models:/"},
		{"runs:/abc/model", "want models:/"},
		{"models:churn-gbm/1", `must start with "/"`},
		{"models://profile@databricks/churn-gbm/1", "with a host are not supported"},
		{"models:/", "empty model name"},
		{"models:/   /1", "empty model name"},
		{"models:/@champion", "empty model name"},
		{"models:/ \t@champion", "control character"},
		{"models:/churn-gbm@", "empty alias"},
		{"models:/churn-gbm@  ", "empty alias"},
		{"models:/churn-gbm@a b", "may only contain"},
		{"models:/churn-gbm@v3", `alias "v3" is reserved`},
		{"models:/churn-gbm/", "empty version"},
		{"models:/churn-gbm/champion", "unknown stage \"champion\": want a version number, latest, or one of None, Staging, Production, Archived"},
		{"models:/churn-gbm/3/MLmodel", "sub-paths are not supported"},
		{"models:/churn-gbm@champion/MLmodel", "sub-paths are not supported"},
		{"models:/churn-gbm/99999999999999999999", "out of range"},
		{"models:/churn-gbm", "has no version, alias or stage"},
		{"models:/m-", "LoggedModel ID"},
		{"models:/churn-gbm/1?x=1", "query strings are not supported"},
		{"models:/churn\x00gbm/1", "control character"},
		{"models:/\xff/1", "UTF-8"},
		{"models:/churn-gbm@" + strings.Repeat("a", 256), "longer than 255"},
	}
	for _, tt := range tests {
		_, err := ParseURI(tt.in)
		if err == nil {
			t.Errorf("ParseURI(%q): got no error; want one containing %q", tt.in, tt.wantMsg)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseURI(%q): got %v; want it to wrap ErrInvalid", tt.in, err)
		}
		if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), "model URI") {
			t.Errorf("ParseURI(%q): got %q; want it to contain %q", tt.in, err, tt.wantMsg)
		}
	}
}

func TestURIString(t *testing.T) {
	for _, s := range []string{"models:/churn-gbm@champion", "models:/churn-gbm/3", "models:/churn-gbm/latest",
		"models:/churn-gbm/Production", "models:/m-297cf642525145a9a1b78850d630dfcc", "models:/a@b@c"} {
		if got := mustURI(t, s).String(); got != s {
			t.Errorf("String of %q: got %q", s, got)
		}
	}
	b, err := json.Marshal(struct{ U URI }{mustURI(t, "models:/churn-gbm/production")})
	if err != nil || string(b) != `{"U":"models:/churn-gbm/Production"}` {
		t.Errorf("json: got %s, %v", b, err)
	}
	var back struct{ U URI }
	if err := json.Unmarshal(b, &back); err != nil || back.U != mustURI(t, "models:/churn-gbm/Production") {
		t.Errorf("json round trip: got %+v, %v", back, err)
	}
	if _, err := json.Marshal(URI{}); err == nil {
		t.Error("marshal of the zero URI: got no error")
	}
}

// FuzzParseURI checks that ParseURI never panics, that every accepted URI
// prints to a string that parses back to the same URI, and that errors wrap
// ErrInvalid.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"models:/churn-gbm@champion", "models:/churn-gbm/3", "models:/churn-gbm/latest",
		"models:/churn-gbm/Staging", "models:/m-297cf642525145a9a1b78850d630dfcc", "models:/a@b@c", "models://x/y",
		"models:/x/1/2", "models:/é@ü", "models:/ x @y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseURI(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseURI(%q): error %v does not wrap ErrInvalid", s, err)
			}
			return
		}
		again, err := ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(%q) = %+v, but its String %q does not parse: %v", s, u, u.String(), err)
		}
		if again != u {
			t.Fatalf("ParseURI(%q) = %+v; ParseURI(String()) = %+v", s, u, again)
		}
	})
}
