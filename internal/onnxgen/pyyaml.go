package onnxgen

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// This file writes the subset of YAML that MLflow's MLmodel uses exactly as
// PyYAML's yaml.safe_dump(data, default_flow_style=False) does: block
// mappings with sorted keys, indentless block sequences, plain scalars where
// the resolver would read them back as strings, single-quoted scalars
// otherwise, and long scalars folded at a space once the line passes 80
// columns.

// yamlWidth is PyYAML's default best_width.
const yamlWidth = 80

// yamlIndent is PyYAML's default best_indent.
const yamlIndent = 2

// yamlMap is a block mapping; emitYAML sorts its keys.
type yamlMap map[string]any

// yamlEmitter holds the output and the current column.
type yamlEmitter struct {
	buf []byte
	col int
}

// emitYAML writes m as a top-level block mapping. Values may be nil, bool,
// int64, string, yamlMap or []string.
func emitYAML(m yamlMap) ([]byte, error) {
	var e yamlEmitter
	if err := e.mapping(m, 0); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	return e.buf, nil
}

func (e *yamlEmitter) write(s string) {
	e.buf = append(e.buf, s...)
	e.col += len(s)
}

func (e *yamlEmitter) lineBreak(indent int) {
	e.buf = append(e.buf, '\n')
	for range indent {
		e.buf = append(e.buf, ' ')
	}
	e.col = indent
}

func (e *yamlEmitter) mapping(m yamlMap, indent int) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 || indent > 0 {
			e.lineBreak(indent)
		}
		if !yamlPlainOK(k) {
			return fmt.Errorf("key %q needs quoting", k)
		}
		e.write(k)
		e.write(":")
		if err := e.value(m[k], indent); err != nil {
			return fmt.Errorf("key %s: %w", k, err)
		}
	}
	if indent == 0 {
		e.buf = append(e.buf, '\n')
		e.col = 0
	}
	return nil
}

// value writes v after "key:" of a mapping at indent.
func (e *yamlEmitter) value(v any, indent int) error {
	switch x := v.(type) {
	case yamlMap:
		if len(x) == 0 {
			e.write(" {}")
			return nil
		}
		return e.mapping(x, indent+yamlIndent)
	case []string:
		if len(x) == 0 {
			e.write(" []")
			return nil
		}
		for _, s := range x {
			e.lineBreak(indent)
			e.write("-")
			if err := e.scalar(s, indent+yamlIndent); err != nil {
				return err
			}
		}
		return nil
	default:
		return e.scalar(v, indent+yamlIndent)
	}
}

// scalar writes " " and v; continuation lines of a folded string start at
// indent.
func (e *yamlEmitter) scalar(v any, indent int) error {
	switch x := v.(type) {
	case nil:
		e.write(" null")
	case bool:
		e.write(" " + strconv.FormatBool(x))
	case int64:
		e.write(" " + strconv.FormatInt(x, 10))
	case string:
		e.write(" ")
		switch {
		case yamlPlainOK(x):
			e.plain(x, indent)
		case yamlSingleQuotedOK(x):
			e.singleQuoted(x, indent)
		default:
			return fmt.Errorf("string %q would need double quotes", x)
		}
	default:
		return fmt.Errorf("unsupported value type %T", v)
	}
	return nil
}

// plain writes a plain scalar, breaking the line at a single space once the
// column passes yamlWidth (PyYAML's Emitter.write_plain).
func (e *yamlEmitter) plain(text string, indent int) {
	spaces := false
	start := 0
	for end := 0; end <= len(text); end++ {
		ch, more := byte(0), end < len(text)
		if more {
			ch = text[end]
		}
		if spaces {
			if !more || ch != ' ' {
				if start+1 == end && e.col > yamlWidth {
					e.lineBreak(indent)
				} else {
					e.write(text[start:end])
				}
				start = end
			}
		} else if !more || ch == ' ' {
			e.write(text[start:end])
			start = end
		}
		spaces = more && ch == ' '
	}
}

// singleQuoted writes a single-quoted scalar, doubling quotes and breaking
// the line at a single inner space once the column passes yamlWidth
// (PyYAML's Emitter.write_single_quoted).
func (e *yamlEmitter) singleQuoted(text string, indent int) {
	e.write("'")
	spaces := false
	start := 0
	for end := 0; end <= len(text); end++ {
		ch, more := byte(0), end < len(text)
		if more {
			ch = text[end]
		}
		if spaces {
			if !more || ch != ' ' {
				if start+1 == end && e.col > yamlWidth && start != 0 && end != len(text) {
					e.lineBreak(indent)
				} else {
					e.write(text[start:end])
				}
				start = end
			}
		} else if !more || ch == ' ' || ch == '\'' {
			if start < end {
				e.write(text[start:end])
				start = end
			}
		}
		if more && ch == '\'' {
			e.write("''")
			start = end + 1
		}
		spaces = more && ch == ' '
	}
	e.write("'")
}

// PyYAML's implicit resolvers (yaml/resolver.py): a plain scalar matching
// one of these would load as something other than a string.
var yamlImplicit = []*regexp.Regexp{
	regexp.MustCompile(`^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$`),
	regexp.MustCompile(`^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$`),
	regexp.MustCompile(`^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$`),
	regexp.MustCompile(`^(?:<<)$`),
	regexp.MustCompile(`^(?:~|null|Null|NULL|)$`),
	regexp.MustCompile(`^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$`),
	regexp.MustCompile(`^(?:=)$`),
}

// yamlPrintable reports whether every byte of s is printable ASCII, the only
// text safe_dump (allow_unicode=False) writes unescaped.
func yamlPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// yamlPlainOK reports whether PyYAML would write s as a plain scalar in
// block context (Emitter.analyze_scalar's allow_block_plain, then the
// resolver check in choose_scalar_style).
func yamlPlainOK(s string) bool {
	if s == "" || !yamlPrintable(s) || s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		followedBySpace := i+1 == len(s) || s[i+1] == ' '
		if i == 0 {
			switch c {
			case '#', ',', '[', ']', '{', '}', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
				return false
			case '?', ':', '-':
				if followedBySpace {
					return false
				}
			}
			continue
		}
		switch c {
		case ':':
			if followedBySpace {
				return false
			}
		case '#':
			if s[i-1] == ' ' {
				return false
			}
		}
	}
	for _, re := range yamlImplicit {
		if re.MatchString(s) {
			return false
		}
	}
	return true
}

// yamlSingleQuotedOK reports whether PyYAML may write s single-quoted: it
// must be printable ASCII here (the analysis also allows some line breaks,
// which MLmodel strings never hold).
func yamlSingleQuotedOK(s string) bool {
	return yamlPrintable(s)
}
