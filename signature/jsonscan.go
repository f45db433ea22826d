package signature

import (
	"strconv"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting of request bodies, below fastjson's own
// limit so that a body the scanner accepts always parses.
const maxJSONDepth = 256

// jsonScanner checks a body against the JSON grammar that Python's
// json.loads accepts: RFC 8259 plus the NaN, Infinity and -Infinity
// literals. It reports the byte offset of the first error, which fastjson
// does not, and it does not allocate unless the body is malformed.
type jsonScanner struct {
	b   []byte
	off int
	msg string
	// inf is set when the body holds Infinity literals, which fastjson
	// cannot parse; see rewriteInfinity.
	inf bool
}

// scanJSON returns nil when b holds exactly one JSON value (surrounded by
// optional whitespace), and otherwise a message naming the byte offset of
// the first error. inf reports Infinity literals in a valid body.
func scanJSON(b []byte) (inf bool, err error) {
	s := jsonScanner{b: b}
	i := s.value(s.ws(0), 0)
	if i >= 0 {
		if i = s.ws(i); i < len(b) {
			s.fail(i, "extra data after the JSON value")
		}
	}
	if s.msg != "" {
		return false, badRequest("malformed JSON at byte %d: %s", s.off, s.msg)
	}
	return s.inf, nil
}

// fail records the first error, with the byte found at i, and returns -1.
func (s *jsonScanner) fail(i int, msg string) int {
	if s.msg != "" {
		return -1
	}
	switch {
	case i >= len(s.b):
		msg += ", got the end of the body"
	case s.b[i] >= 0x20 && s.b[i] < utf8.RuneSelf:
		msg += ", got '" + string(rune(s.b[i])) + "'"
	default:
		msg += ", got byte 0x" + strconv.FormatUint(uint64(s.b[i]), 16)
	}
	return s.failPlain(i, msg)
}

// failPlain records the first error and returns -1.
func (s *jsonScanner) failPlain(i int, msg string) int {
	if s.msg == "" {
		s.off, s.msg = i, msg
	}
	return -1
}

func (s *jsonScanner) ws(i int) int {
	for i < len(s.b) {
		switch s.b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (s *jsonScanner) value(i, depth int) int {
	b := s.b
	if i >= len(b) {
		return s.fail(i, "expected a value")
	}
	switch c := b[i]; {
	case c == '{':
		return s.object(i, depth+1)
	case c == '[':
		return s.array(i, depth+1)
	case c == '"':
		return s.str(i)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	case c == 'N':
		return s.literal(i, "NaN")
	case c == 'I':
		s.inf = true
		return s.literal(i, "Infinity")
	case c == '-' && i+1 < len(b) && b[i+1] == 'I':
		s.inf = true
		return s.literal(i, "-Infinity")
	case c == '-' || c >= '0' && c <= '9':
		return s.number(i)
	}
	return s.fail(i, "expected a value")
}

func (s *jsonScanner) literal(i int, lit string) int {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(s.b) || s.b[i+k] != lit[k] {
			return s.fail(i, "invalid literal (expected "+lit+")")
		}
	}
	return i + len(lit)
}

func (s *jsonScanner) object(i, depth int) int {
	if depth > maxJSONDepth {
		return s.fail(i, "nesting deeper than "+strconv.Itoa(maxJSONDepth)+" levels")
	}
	b := s.b
	i = s.ws(i + 1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return s.fail(i, "expected a string key")
		}
		if i = s.str(i); i < 0 {
			return -1
		}
		if i = s.ws(i); i >= len(b) || b[i] != ':' {
			return s.fail(i, "expected ':' after a key")
		}
		if i = s.value(s.ws(i+1), depth); i < 0 {
			return -1
		}
		if i = s.ws(i); i >= len(b) {
			return s.fail(i, "expected ',' or '}'")
		}
		switch b[i] {
		case ',':
			i = s.ws(i + 1)
		case '}':
			return i + 1
		default:
			return s.fail(i, "expected ',' or '}'")
		}
	}
}

func (s *jsonScanner) array(i, depth int) int {
	if depth > maxJSONDepth {
		return s.fail(i, "nesting deeper than "+strconv.Itoa(maxJSONDepth)+" levels")
	}
	b := s.b
	i = s.ws(i + 1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	for {
		if i = s.value(i, depth); i < 0 {
			return -1
		}
		if i = s.ws(i); i >= len(b) {
			return s.fail(i, "expected ',' or ']'")
		}
		switch b[i] {
		case ',':
			i = s.ws(i + 1)
		case ']':
			return i + 1
		default:
			return s.fail(i, "expected ',' or ']'")
		}
	}
}

func (s *jsonScanner) str(i int) int {
	b := s.b
	for j := i + 1; j < len(b); {
		c := b[j]
		switch {
		case c == '"':
			return j + 1
		case c == '\\':
			if j+1 >= len(b) {
				return s.failPlain(i, "unterminated string")
			}
			switch b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				for k := j + 2; k < j+6; k++ {
					if k >= len(b) || !isHex(b[k]) {
						return s.failPlain(j, "invalid \\u escape")
					}
				}
				j += 6
			default:
				return s.failPlain(j, "invalid escape")
			}
		case c < 0x20:
			return s.failPlain(j, "control character in a string")
		case c < utf8.RuneSelf:
			j++
		default:
			r, n := utf8.DecodeRune(b[j:])
			if r == utf8.RuneError && n <= 1 {
				return s.failPlain(j, "invalid UTF-8 in a string")
			}
			j += n
		}
	}
	return s.failPlain(i, "unterminated string")
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *jsonScanner) number(i int) int {
	b := s.b
	j := i
	if b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && b[j] >= '1' && b[j] <= '9':
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	default:
		return s.fail(i, "invalid number")
	}
	if j < len(b) && b[j] == '.' {
		j++
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return s.fail(j, "invalid number: expected a digit after '.'")
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if j >= len(b) || b[j] < '0' || b[j] > '9' {
			return s.fail(j, "invalid number: expected a digit in the exponent")
		}
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
	}
	return j
}

// rewriteInfinity appends b to dst with every Infinity literal outside
// strings replaced by "inf" and five spaces, which fastjson parses as a
// number. b must have passed scanJSON.
func rewriteInfinity(dst, b []byte) []byte {
	for i := 0; i < len(b); {
		c := b[i]
		switch c {
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			dst = append(dst, b[i:j+1]...)
			i = j + 1
		case 'I':
			dst = append(dst, "inf     "...)
			i += len("Infinity")
		default:
			dst = append(dst, c)
			i++
		}
	}
	return dst
}
