package serve

import (
	"fmt"
	"strings"
)

// Run tags reach responses as headers named TagHeaderPrefix followed by the
// tag's name in header case. Names and values come from the registry, so
// both are made header-safe here, the one place that does it.
const (
	// TagHeaderPrefix begins the header of every exposed run tag.
	TagHeaderPrefix = "X-Mlflow-Tag-"
	// MaxTagHeaderBytes bounds the name of a tag's header.
	MaxTagHeaderBytes = 128
	// MaxHeaderValueBytes bounds a provenance header's value, the
	// truncation marker included.
	MaxHeaderValueBytes = 256
	// TruncatedMarker ends a provenance header value cut to
	// MaxHeaderValueBytes. A '%' that starts no %XX escape appears nowhere
	// else, so a cut value cannot be mistaken for a whole one, and URL
	// decoders refuse it instead of returning part of it.
	TruncatedMarker = "%(truncated)"
)

// TagHeader returns the response header that carries the run tag name:
// TagHeaderPrefix, then the name's runs of ASCII letters and digits, each
// with its first letter upper-case and the rest lower-case, joined by '-'
// (dataset_version and Dataset.Version give X-Mlflow-Tag-Dataset-Version).
// Other printable ASCII bytes separate words. It fails for a name with a
// control or non-ASCII byte, with no letter or digit, or whose header would
// be longer than MaxTagHeaderBytes.
func TagHeader(name string) (string, error) {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c >= 0x7f {
			return "", fmt.Errorf("run tag %s: only a printable ASCII name can name a header", quoteShort(name))
		}
	}
	var b strings.Builder
	b.WriteString(TagHeaderPrefix)
	words := 0
	for i := 0; i < len(name); {
		if !isAlnum(name[i]) {
			i++
			continue
		}
		if words > 0 {
			b.WriteByte('-')
		}
		words++
		b.WriteByte(upper(name[i]))
		for i++; i < len(name) && isAlnum(name[i]); i++ {
			b.WriteByte(lower(name[i]))
		}
		if b.Len() > MaxTagHeaderBytes {
			return "", fmt.Errorf("run tag %s: its header would be longer than %d bytes", quoteShort(name), MaxTagHeaderBytes)
		}
	}
	if words == 0 {
		return "", fmt.Errorf("run tag %s has no letter or digit to name a header with", quoteShort(name))
	}
	return b.String(), nil
}

// TagHeaders returns the header of each run tag in names, in order (see
// TagHeader). It refuses a name given twice, and two names that give the
// same header: header names are case-insensitive, so team_a and Team.A
// collide.
func TagHeaders(names []string) ([]string, error) {
	out := make([]string, len(names))
	by := make(map[string]string, len(names))
	for i, n := range names {
		h, err := TagHeader(n)
		if err != nil {
			return nil, err
		}
		if prev, ok := by[h]; ok {
			if prev == n {
				return nil, fmt.Errorf("run tag %s is listed twice", quoteShort(n))
			}
			return nil, fmt.Errorf("run tags %s and %s both give the header %s; expose one of them", quoteShort(prev), quoteShort(n), h)
		}
		by[h] = n
		out[i] = h
	}
	return out, nil
}

// HeaderValue returns v made safe for a response header and bounded:
// control bytes, DEL, bytes of non-ASCII characters, '%' and spaces at
// either end are percent-encoded (%XX, upper-case hex), so URL-unescaping
// the result gives v back. A result longer than MaxHeaderValueBytes is cut
// before an escape and ends with TruncatedMarker.
func HeaderValue(v string) string {
	n := 0
	for i := range len(v) {
		n += encodedLen(v, i)
	}
	if n == len(v) && n <= MaxHeaderValueBytes {
		return v
	}
	limit := len(v) * 3
	if n > MaxHeaderValueBytes {
		limit = MaxHeaderValueBytes - len(TruncatedMarker)
	}
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := range len(v) {
		c := v[i]
		k := encodedLen(v, i)
		if b.Len()+k > limit {
			break
		}
		if k == 1 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	if n > MaxHeaderValueBytes {
		b.WriteString(TruncatedMarker)
	}
	return b.String()
}

// encodedLen returns how many bytes v[i] takes in a header value: 3 when it
// is escaped, else 1.
func encodedLen(v string, i int) int {
	c := v[i]
	if c < 0x20 || c >= 0x7f || c == '%' || (c == ' ' && (i == 0 || i == len(v)-1)) {
		return 3
	}
	return 1
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c - 'A' + 'a'
	}
	return c
}

// quoteShort quotes s for a message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		return fmt.Sprintf("%q...", s[:64])
	}
	return fmt.Sprintf("%q", s)
}
