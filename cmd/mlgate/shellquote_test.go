package main

import (
	"os/exec"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// quoteCases are words a logged param, tag or URL may hold.
var quoteCases = []struct {
	in   string
	want string
}{
	{"", "''"},
	{"lr=0.05", "lr=0.05"},
	{"https://github.com/example/churn", "https://github.com/example/churn"},
	{"8c1f4e2a9b7d3c6e5f0a1b2c3d4e5f6a7b8c9d0e", "8c1f4e2a9b7d3c6e5f0a1b2c3d4e5f6a7b8c9d0e"},
	{"-e", "-e"},
	{"=cmd", "'=cmd'"},
	{"a b", "'a b'"},
	{"it's", `'it'\''s'`},
	{"'", `''\'''`},
	{"$(rm -rf ~)", "'$(rm -rf ~)'"},
	{"`id`", "'`id`'"},
	{"a;b|c&d>e<f", "'a;b|c&d>e<f'"},
	{`back\slash "dq" *glob? [x] {a,b} ~user !hist #hash`, `'back\slash "dq" *glob? [x] {a,b} ~user !hist #hash'`},
	{"naïve — 日本", "'naïve — 日本'"},
	{"line1\nline2", `$'line1\nline2'`},
	{"tab\there", `$'tab\there'`},
	{"\x1b[31mred\x1b[0m", `$'\x1b[31mred\x1b[0m'`},
	{"bell\a and 'q' and \\", `$'bell\x07 and \'q\' and \\'`},
	{"del\x7f", `$'del\x7f'`},
	{"bad\xffutf8", `$'bad\xffutf8'`},
	{"rtl\u202eoverride", `$'rtl\u202eoverride'`},
	{"nbsp\u00a0x", `$'nbsp\u00a0x'`},
	{"\r\n", `$'\r\n'`},
	{"0x\x01ab", `$'0x\x01ab'`},
}

func TestShellQuote(t *testing.T) {
	for _, tt := range quoteCases {
		if got := shellQuote(tt.in); got != tt.want {
			t.Errorf("shellQuote(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}

// TestShellQuoteInRealShells checks that bash gives every case back
// exactly, and that a POSIX sh (dash on Debian) does for every case not in
// bash's $'...' form.
func TestShellQuoteInRealShells(t *testing.T) {
	for _, tt := range quoteCases {
		q := shellQuote(tt.in)
		if got := shellEcho(t, "bash", q); got != tt.in {
			t.Errorf("bash: %s gave %q; want %q", q, got, tt.in)
		}
		if !strings.HasPrefix(q, "$'") {
			if got := shellEcho(t, "sh", q); got != tt.in {
				t.Errorf("sh: %s gave %q; want %q", q, got, tt.in)
			}
		}
	}
}

// shellEcho returns what the shell prints for printf %s <word>.
func shellEcho(t testing.TB, shell, word string) string {
	t.Helper()
	out, err := exec.Command(shell, "-c", "printf %s "+word).Output()
	if err != nil {
		t.Fatalf("%s -c 'printf %%s %s': %v", shell, word, err)
	}
	return string(out)
}

// FuzzShellQuote checks, for any string, that the quoted word is one line
// of printable UTF-8 (so printing it cannot drive a terminal) and that bash
// turns it back into the string. A NUL byte cannot be in an argument, so
// strings with one are only checked for the first property.
func FuzzShellQuote(f *testing.F) {
	for _, tt := range quoteCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := shellQuote(s)
		if !utf8.ValidString(q) {
			t.Fatalf("shellQuote(%q) = %q is not valid UTF-8", s, q)
		}
		for _, r := range q {
			if !unicode.IsPrint(r) {
				t.Fatalf("shellQuote(%q) = %q holds the non-printable %U", s, q, r)
			}
		}
		if strings.ContainsRune(s, 0) {
			return
		}
		if got := shellEcho(t, "bash", q); got != s {
			t.Fatalf("bash: %s gave %q; want %q", q, got, s)
		}
	})
}

func TestDisplay(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain value", "plain value"},
		{"naïve", "naïve"},
		{"\x1b]0;title\a", `"\x1b]0;title\a"`},
		{"two\nlines", `"two\nlines"`},
		{"rtl\u202e", `"rtl\u202e"`},
	} {
		if got := display(tt.in); got != tt.want {
			t.Errorf("display(%q) = %s; want %s", tt.in, got, tt.want)
		}
	}
}
