package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// shellQuote returns s as one shell word that a shell turns back into
// exactly s:
//   - bare, when s holds only characters no shell treats specially;
//   - in single quotes, when s is printable UTF-8;
//   - else in bash's $'...' form (also understood by zsh and ksh), with
//     control characters, non-printable runes and invalid UTF-8 written as
//     escapes, so that printing the word never sends them to a terminal.
//
// A NUL byte cannot be passed in an argument at all; callers check with
// strings.ContainsRune(s, 0) first.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	if isBareWord(s) {
		return s
	}
	if isPrintable(s) {
		return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	var b strings.Builder
	b.WriteString("$'")
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\' || r == '\'':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80 && !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case !unicode.IsPrint(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case !unicode.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	b.WriteByte('\'')
	return b.String()
}

// isBareWord reports whether s needs no quoting: letters, digits and
// _@%+=:,./- only, and not starting with = (zsh expands a leading =).
func isBareWord(s string) bool {
	if s[0] == '=' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("_@%+=:,./-", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// isPrintable reports whether s is valid UTF-8 made of printable runes and
// spaces only.
func isPrintable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// shellCommand joins words into a command line, quoting each one.
func shellCommand(words ...string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = shellQuote(w)
	}
	return strings.Join(q, " ")
}

// display returns s as it can be printed to a terminal: unchanged when it
// is printable, else Go-quoted so that control characters show as escapes.
func display(s string) string {
	if isPrintable(s) {
		return s
	}
	return strconv.Quote(s)
}
