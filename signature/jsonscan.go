package signature

import (
	"context"
	"strconv"
	"unicode/utf8"
)

// jsonScanner checks a body against the JSON grammar that Python's
// json.loads accepts: RFC 8259 plus the NaN, Infinity and -Infinity
// literals. It reports the byte offset of the first error, which fastjson
// does not, and it does not allocate unless the body is malformed.
//
// For a request (counting set) it also counts, in the same pass, what the
// body asks for: every JSON value (each becomes a parser node), and in the
// data part (the value of the format key, or dataframe_split's "data") the
// rows and the scalar elements. It stops at the first count over its
// limit, so that a hostile body is refused before anything is allocated
// for it.
type jsonScanner struct {
	b   []byte
	off int
	msg string
	// limit names the request limit the body exceeded ("max_rows",
	// "max_elements"); msg then says what was counted.
	limit string
	// err is the context's error when the scan was cut off by it.
	err error
	// inf is set when the body holds Infinity literals, which fastjson
	// cannot parse; see rewriteInfinity.
	inf      bool
	maxDepth int

	counting bool
	// infer scans an inference request, whose data are its tensors'
	// "data" (no rows are counted: a tensor's shape gives them).
	infer bool
	lim   Limits
	// maxValues bounds the JSON values of the whole body; see valueBudget.
	maxValues int
	ctx       context.Context
	rows      int
	elements  int
	values    int
}

// role is what a JSON value is to a request: outside its data, the root,
// the dataframe_split object, the data value itself, a member of a data
// object (a named column or tensor), or a value inside the data.
type role uint8

const (
	roleNone role = iota
	roleRoot
	roleSplit
	roleInferRoot   // an inference request
	roleInferInputs // its "inputs"
	roleInferInput  // one of them
	roleData
	roleMember
	roleIn
)

// pollValues is how many JSON values the scanner counts between two looks
// at the request's context.
const pollValues = 1 << 16

// scanJSON returns nil when b holds exactly one JSON value (surrounded by
// optional whitespace) nested at most maxDepth deep, and otherwise an error
// naming the byte offset of the first problem. inf reports Infinity
// literals in a valid body.
func scanJSON(b []byte, maxDepth int) (inf bool, err error) {
	s := jsonScanner{b: b, maxDepth: maxDepth}
	if err := s.run(); err != nil {
		return false, err
	}
	return s.inf, nil
}

// run scans s.b and returns the first problem.
func (s *jsonScanner) run() error {
	root := roleRoot
	if s.infer {
		root = roleInferRoot
	}
	i := s.value(s.ws(0), 0, root)
	if i >= 0 {
		if i = s.ws(i); i < len(s.b) {
			s.fail(i, "extra data after the JSON value")
		}
	}
	switch {
	case s.err != nil:
		return s.err
	case s.limit != "":
		return &Error{Code: CodeBadRequest, Message: s.msg, Limit: s.limit}
	case s.msg != "":
		return badRequest("malformed JSON at byte %d: %s", s.off, s.msg)
	}
	return nil
}

// count records one more JSON value, and one more element when it is a
// scalar in the data; it returns false when that passes a limit.
func (s *jsonScanner) count(r role, scalar bool) bool {
	if !s.counting {
		return true
	}
	s.values++
	if s.values > s.maxValues {
		return s.overLimit("max_elements", "the request body holds more than "+strconv.Itoa(s.maxValues)+
			" JSON values (lists, objects and scalars; the limit is 2 × max_elements + 2 × max_rows + 1024)")
	}
	if s.values%pollValues == 0 && s.ctx != nil {
		if err := s.ctx.Err(); err != nil {
			s.err = deadline(err)
			return false
		}
	}
	if scalar && r >= roleData {
		s.elements++
		if s.elements > s.lim.MaxElements {
			return s.overLimit("max_elements", "the request holds more than "+strconv.Itoa(s.lim.MaxElements)+" values (max_elements)")
		}
	}
	if r == roleData || r == roleMember {
		return s.atLeastRows(1)
	}
	return true
}

// atLeastRows records that the data has at least n rows.
func (s *jsonScanner) atLeastRows(n int) bool {
	if n <= s.rows {
		return true
	}
	s.rows = n
	if n > s.lim.MaxRows {
		return s.overLimit("max_rows", "the request has more than "+strconv.Itoa(s.lim.MaxRows)+" rows (max_rows)")
	}
	return true
}

func (s *jsonScanner) overLimit(limit, msg string) bool {
	if s.msg == "" && s.err == nil {
		s.limit, s.msg = limit, msg
	}
	return false
}

// childRole is the role of the value under key in an object of role r.
func (s *jsonScanner) childRole(r role, start, end int) role {
	switch r {
	case roleRoot:
		switch {
		case keyIs(s.b[start:end], keySplit):
			return roleSplit
		case keyIs(s.b[start:end], keyRecords), keyIs(s.b[start:end], keyInstances), keyIs(s.b[start:end], keyInputs):
			return roleData
		}
	case roleSplit:
		if keyIs(s.b[start:end], "data") {
			return roleData
		}
	case roleData:
		return roleMember
	case roleMember, roleIn:
		return roleIn
	case roleInferRoot:
		if keyIs(s.b[start:end], inferKeyInputs) {
			return roleInferInputs
		}
	case roleInferInput:
		if keyIs(s.b[start:end], inferKeyData) {
			return roleIn
		}
	}
	return roleNone
}

// itemRole is the role of the items of a list of role r.
func itemRole(r role) role {
	switch {
	case r >= roleData:
		return roleIn
	case r == roleInferInputs:
		return roleInferInput
	}
	return roleNone
}

// keyIs reports whether the raw JSON string content k (between its quotes,
// escapes not decoded) decodes to want, which is ASCII without escapes.
func keyIs(k []byte, want string) bool {
	j := 0
	for i := 0; i < len(k); j++ {
		if j >= len(want) {
			return false
		}
		c := k[i]
		i++
		if c == '\\' {
			if i >= len(k) {
				return false
			}
			e := k[i]
			i++
			switch e {
			case 'u':
				if i+4 > len(k) {
					return false
				}
				n, err := strconv.ParseUint(b2s(k[i:i+4]), 16, 16)
				if err != nil || n >= utf8.RuneSelf {
					return false
				}
				c = byte(n)
				i += 4
			case 'b':
				c = '\b'
			case 'f':
				c = '\f'
			case 'n':
				c = '\n'
			case 'r':
				c = '\r'
			case 't':
				c = '\t'
			default:
				c = e
			}
		}
		if c != want[j] {
			return false
		}
	}
	return j == len(want)
}

// fail records the first error, with the byte found at i, and returns -1.
func (s *jsonScanner) fail(i int, msg string) int {
	if s.msg != "" || s.err != nil {
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
	if s.msg == "" && s.err == nil {
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

func (s *jsonScanner) value(i, depth int, r role) int {
	b := s.b
	if i >= len(b) {
		return s.fail(i, "expected a value")
	}
	c := b[i]
	if !s.count(r, c != '{' && c != '[') {
		return -1
	}
	switch {
	case c == '{':
		return s.object(i, depth+1, r)
	case c == '[':
		return s.array(i, depth+1, r)
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

func (s *jsonScanner) object(i, depth int, r role) int {
	if depth > s.maxDepth {
		return s.fail(i, "nesting deeper than "+strconv.Itoa(s.maxDepth)+" levels")
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
		start := i + 1
		if i = s.str(i); i < 0 {
			return -1
		}
		child := roleNone
		if s.counting {
			child = s.childRole(r, start, i-1)
		}
		if i = s.ws(i); i >= len(b) || b[i] != ':' {
			return s.fail(i, "expected ':' after a key")
		}
		if i = s.value(s.ws(i+1), depth, child); i < 0 {
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

// array scans a list. The items of the data list are the request's rows;
// the items of a data object's member (a column or a named tensor) are
// too.
func (s *jsonScanner) array(i, depth int, r role) int {
	if depth > s.maxDepth {
		return s.fail(i, "nesting deeper than "+strconv.Itoa(s.maxDepth)+" levels")
	}
	b := s.b
	i = s.ws(i + 1)
	if i < len(b) && b[i] == ']' {
		return i + 1
	}
	child := itemRole(r)
	rows := r == roleData || r == roleMember
	for n := 1; ; n++ {
		if i = s.value(i, depth, child); i < 0 {
			return -1
		}
		if rows && !s.atLeastRows(n) {
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
