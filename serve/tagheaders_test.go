package serve

import (
	"net/textproto"
	"net/url"
	"strings"
	"testing"
)

func TestTagHeader(t *testing.T) {
	tests := []struct{ name, want, err string }{
		{name: "team", want: "X-Mlflow-Tag-Team"},
		{name: "dataset_version", want: "X-Mlflow-Tag-Dataset-Version"},
		{name: "Dataset.Version", want: "X-Mlflow-Tag-Dataset-Version"},
		{name: "mlflow.source.git.repoURL", want: "X-Mlflow-Tag-Mlflow-Source-Git-Repourl"},
		{name: "  dvc__data/hash  ", want: "X-Mlflow-Tag-Dvc-Data-Hash"},
		{name: "2fa", want: "X-Mlflow-Tag-2fa"},
		{name: "__", err: "has no letter or digit"},
		{name: "", err: "has no letter or digit"},
		{name: "équipe", err: "only a printable ASCII name"},
		{name: "a\r\nSet-Cookie: x", err: "only a printable ASCII name"},
		{name: strings.Repeat("ab_", 60), err: "longer than 128 bytes"},
	}
	for _, tt := range tests {
		got, err := TagHeader(tt.name)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("TagHeader(%q) = %q, %v; want an error containing %q", tt.name, got, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("TagHeader(%q) = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestTagHeaders(t *testing.T) {
	got, err := TagHeaders([]string{"team", "dataset_version", "mlflow.user"})
	if want := "X-Mlflow-Tag-Team X-Mlflow-Tag-Dataset-Version X-Mlflow-Tag-Mlflow-User"; err != nil || strings.Join(got, " ") != want {
		t.Errorf("TagHeaders = %v, %v; want %s", got, err, want)
	}
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"team_a", "Team.A"}, `run tags "team_a" and "Team.A" both give the header X-Mlflow-Tag-Team-A`},
		{[]string{"team", "team"}, `run tag "team" is listed twice`},
		{[]string{"team", "--"}, `run tag "--" has no letter or digit`},
	} {
		if _, err := TagHeaders(tt.names); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("TagHeaders(%q): %v; want an error containing %q", tt.names, err, tt.want)
		}
	}
}

func TestHeaderValue(t *testing.T) {
	long := strings.Repeat("x", MaxHeaderValueBytes)
	tests := []struct{ in, want string }{
		{"", ""},
		{"8c1f4e2a9b7d3c6e5f0a1b2c3d4e5f6a7b8c9d0e", "8c1f4e2a9b7d3c6e5f0a1b2c3d4e5f6a7b8c9d0e"},
		{"data/churn-train.csv (v2)", "data/churn-train.csv (v2)"},
		{"a\r\nSet-Cookie: x=1", "a%0D%0ASet-Cookie: x=1"},
		{"nul\x00tab\tdel\x7f", "nul%00tab%09del%7F"},
		{"50% off", "50%25 off"},
		{" padded ", "%20padded%20"},
		{"équipe", "%C3%A9quipe"},
		{long, long},
		{long + "y", strings.Repeat("x", MaxHeaderValueBytes-len(TruncatedMarker)) + TruncatedMarker},
		{strings.Repeat("é", 200), strings.Repeat("%C3%A9", 40) + "%C3" + TruncatedMarker},
	}
	for _, tt := range tests {
		if got := HeaderValue(tt.in); got != tt.want {
			t.Errorf("HeaderValue(%.40q) = %.80q; want %.80q", tt.in, got, tt.want)
		}
	}
}

// FuzzTagHeader checks that every header TagHeader returns is a canonical
// HTTP header name under the prefix and the length bound.
func FuzzTagHeader(f *testing.F) {
	for _, s := range []string{"team", "dataset_version", "a.b-c/d e", "", "é", "x\r\ny", strings.Repeat("a_", 80)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		h, err := TagHeader(name)
		if err != nil {
			return
		}
		if !strings.HasPrefix(h, TagHeaderPrefix) || len(h) > MaxTagHeaderBytes || len(h) == len(TagHeaderPrefix) {
			t.Fatalf("TagHeader(%q) = %q: outside the prefix or the bound", name, h)
		}
		for i := 0; i < len(h); i++ {
			if c := h[i]; !isAlnum(c) && c != '-' {
				t.Fatalf("TagHeader(%q) = %q has %q, not a header token byte", name, h, c)
			}
		}
		if strings.Contains(h, "--") || strings.HasSuffix(h, "-") {
			t.Fatalf("TagHeader(%q) = %q has an empty word", name, h)
		}
		if c := textproto.CanonicalMIMEHeaderKey(h); c != h {
			t.Fatalf("TagHeader(%q) = %q; canonical form %q", name, h, c)
		}
	})
}

// FuzzHeaderValue checks that HeaderValue's result is a safe, bounded
// header value that decodes back to its input, or, when cut, to a prefix
// of it before the marker.
func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{"", "team", "a\r\nb", "50%", " x ", "é", "\x00", strings.Repeat("é", 200), strings.Repeat("%", 100)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		got := HeaderValue(v)
		if len(got) > MaxHeaderValueBytes {
			t.Fatalf("HeaderValue(%q) is %d bytes", v, len(got))
		}
		for i := 0; i < len(got); i++ {
			if c := got[i]; c < 0x20 || c >= 0x7f {
				t.Fatalf("HeaderValue(%q) = %q has byte %#x", v, got, c)
			}
		}
		if got != "" && (got[0] == ' ' || got[len(got)-1] == ' ') {
			t.Fatalf("HeaderValue(%q) = %q has a space at an end, which HTTP drops", v, got)
		}
		body, cut := strings.CutSuffix(got, TruncatedMarker)
		back, err := url.PathUnescape(body)
		if err != nil {
			t.Fatalf("HeaderValue(%q) = %q does not unescape: %v", v, got, err)
		}
		if cut && !strings.HasPrefix(v, back) || !cut && back != v {
			t.Fatalf("HeaderValue(%q) = %q unescapes to %q (cut %v)", v, got, back, cut)
		}
		if _, err := url.PathUnescape(got); cut && err == nil {
			t.Fatalf("HeaderValue(%q) = %q: a cut value must not unescape whole", v, got)
		}
	})
}
