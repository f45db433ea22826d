package signature

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/valyala/fastjson"
)

// Error messages quote client data only in short pieces: one value or name
// of at most maxQuoted bytes, and lists of at most maxListed names.
const (
	maxQuoted = 40
	maxListed = 8
)

// quote returns s as a Go-quoted string cut to maxQuoted bytes, with "..."
// after the closing quote when it was cut.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// nameList formats names as a comma-separated list of quoted names, at most
// maxListed of them.
func nameList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	var sb strings.Builder
	for i, n := range names {
		if i == maxListed {
			sb.WriteString(", and ")
			sb.WriteString(strconv.Itoa(len(names) - i))
			sb.WriteString(" more")
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(quote(n))
	}
	return sb.String()
}

// describe says what a JSON value is without echoing more than a short piece
// of it: "null", "the number 1.5", "the string \"x\"", "a list of 3 items".
func describe(v *fastjson.Value) string {
	if v == nil {
		return "nothing"
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return "null"
	case fastjson.TypeTrue:
		return "true"
	case fastjson.TypeFalse:
		return "false"
	case fastjson.TypeNumber:
		return "the number " + quoteRaw(string(v.MarshalTo(nil)))
	case fastjson.TypeString:
		return "the string " + quote(string(v.GetStringBytes()))
	case fastjson.TypeArray:
		n := len(v.GetArray())
		if n == 1 {
			return "a list of 1 item"
		}
		return "a list of " + strconv.Itoa(n) + " items"
	case fastjson.TypeObject:
		return "an object"
	}
	return "an unknown value"
}

// kindOf names the JSON type of v with an article: "a list", "an object".
func kindOf(v *fastjson.Value) string {
	if v == nil {
		return "nothing"
	}
	switch v.Type() {
	case fastjson.TypeNull:
		return "null"
	case fastjson.TypeTrue, fastjson.TypeFalse:
		return "a boolean"
	case fastjson.TypeNumber:
		return "a number"
	case fastjson.TypeString:
		return "a string"
	case fastjson.TypeArray:
		return "a list"
	case fastjson.TypeObject:
		return "an object"
	}
	return "an unknown value"
}

// quoteRaw cuts s to maxQuoted bytes without quoting it.
func quoteRaw(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	return s[:maxQuoted] + "..."
}

// typeName names a conversion target in messages: the MLflow column type for
// columns, the numpy dtype for tensors.
func (f *field) typeName() string {
	if f.col != nil {
		return f.col.Type.String()
	}
	return f.src.String()
}
