package resolver

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind says which form of models:/ URI a URI is.
type Kind int

// The forms of models:/ URI, following MLflow 3's _parse_model_uri.
const (
	// KindAlias is models:/<name>@<alias>.
	KindAlias Kind = iota + 1
	// KindVersion is models:/<name>/<version>.
	KindVersion
	// KindLatest is models:/<name>/latest: the highest non-deleted version.
	KindLatest
	// KindStage is models:/<name>/<stage>: the highest version in a stage.
	KindStage
	// KindLoggedModel is models:/m-<id>: an MLflow 3 LoggedModel, which has no
	// registry version.
	KindLoggedModel
)

// String names the kind.
func (k Kind) String() string {
	switch k {
	case KindAlias:
		return "alias"
	case KindVersion:
		return "version"
	case KindLatest:
		return "latest"
	case KindStage:
		return "stage"
	case KindLoggedModel:
		return "logged model"
	default:
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
}

// The stages MLflow's registry knows, in its canonical spelling.
var stages = []string{"None", "Staging", "Production", "Archived"}

// URI is a parsed models:/ URI. It is a comparable value; the zero URI is not
// valid. Construct it with ParseURI.
type URI struct {
	// Kind is the form of the URI.
	Kind Kind
	// Name is the registered model name; empty for KindLoggedModel.
	Name string
	// Alias is set for KindAlias.
	Alias string
	// Version is set for KindVersion.
	Version int64
	// Stage is set for KindStage, in MLflow's canonical spelling (None,
	// Staging, Production or Archived).
	Stage string
	// ModelID is set for KindLoggedModel, e.g. "m-297cf642525145a9a1b78850d630dfcc".
	ModelID string
}

// ParseURI parses a models:/ URI the way MLflow 3 does (§4.1 of MLflow's
// model URI rules), with stricter errors where MLflow would only fail later
// on the server:
//
//   - models:/<name>@<alias> splits on the last "@"; the alias must be made of
//     letters, digits, "_" and "-", and must not be a reserved version alias
//     such as "v3". The alias "latest" (any case) is kept as an alias; the
//     resolver answers it with the highest version, like models:/<name>/latest.
//   - models:/<name>/<digits> is a version; models:/<name>/latest (any case) is
//     the latest version; any other suffix must be a stage (None, Staging,
//     Production, Archived, any case).
//   - models:/m-<id> is a LoggedModel.
//
// The scheme is case-insensitive and surrounding white space is ignored.
// Nothing is percent-decoded: models:/churn%20gbm/1 names "churn%20gbm".
// Sub-paths (models:/name/1/MLmodel), hosts (models://profile@databricks/...),
// query strings, control characters and white-space-only parts are rejected.
// Errors wrap ErrInvalid.
func ParseURI(s string) (URI, error) {
	u, err := parseURI(strings.TrimSpace(s))
	if err != nil {
		return URI{}, fmt.Errorf("model URI %q: %w", s, withKind(ErrInvalid, err))
	}
	return u, nil
}

func parseURI(s string) (URI, error) {
	if !utf8.ValidString(s) {
		return URI{}, fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return URI{}, fmt.Errorf("control character %U is not allowed", r)
		}
	}
	const scheme = "models:"
	if len(s) < len(scheme) || !strings.EqualFold(s[:len(scheme)], scheme) {
		return URI{}, fmt.Errorf("want models:/<name>@<alias>, models:/<name>/<version>, models:/<name>/latest, models:/<name>/<stage> or models:/m-<id>")
	}
	path := s[len(scheme):]
	switch {
	case strings.HasPrefix(path, "//"):
		return URI{}, fmt.Errorf("models:// URIs with a host are not supported; use models:/<name>...")
	case !strings.HasPrefix(path, "/"):
		return URI{}, fmt.Errorf("the path must start with \"/\" (models:/<name>...)")
	case strings.Contains(path, "?"):
		return URI{}, fmt.Errorf("query strings are not supported")
	}
	parts := strings.Split(path[1:], "/")
	if isBlank(parts[0]) {
		return URI{}, fmt.Errorf("empty model name")
	}
	switch len(parts) {
	case 1:
		return parseOnePart(parts[0])
	case 2:
		return parseTwoParts(parts[0], parts[1])
	default:
		return URI{}, fmt.Errorf("sub-paths are not supported: want models:/<name>/<version> without anything after it")
	}
}

func parseOnePart(p string) (URI, error) {
	at := strings.LastIndexByte(p, '@')
	if at < 0 {
		if !strings.HasPrefix(p, "m-") {
			return URI{}, fmt.Errorf("%q has no version, alias or stage: want models:/%s@<alias>, models:/%s/<version>, or models:/m-<id> for a LoggedModel", p, p, p)
		}
		if !isWord(p[2:]) {
			return URI{}, fmt.Errorf("LoggedModel ID %q must be m- followed by letters, digits, \"_\" or \"-\"", p)
		}
		return URI{Kind: KindLoggedModel, ModelID: p}, nil
	}
	name, alias := p[:at], p[at+1:]
	if isBlank(name) {
		return URI{}, fmt.Errorf("empty model name")
	}
	if isBlank(alias) {
		return URI{}, fmt.Errorf("empty alias")
	}
	if !isWord(alias) {
		return URI{}, fmt.Errorf("alias %q may only contain letters, digits, \"_\" and \"-\"", alias)
	}
	if len(alias) > 255 {
		return URI{}, fmt.Errorf("alias is longer than 255 characters")
	}
	if len(alias) > 1 && (alias[0] == 'v' || alias[0] == 'V') && isDigits(alias[1:]) {
		return URI{}, fmt.Errorf("alias %q is reserved by MLflow; use models:/%s/%s for a version", alias, name, alias[1:])
	}
	return URI{Kind: KindAlias, Name: name, Alias: alias}, nil
}

func parseTwoParts(name, suffix string) (URI, error) {
	if isBlank(suffix) {
		return URI{}, fmt.Errorf("empty version after %q", name+"/")
	}
	if isDigits(suffix) {
		v, err := strconv.ParseInt(suffix, 10, 64)
		if err != nil {
			return URI{}, fmt.Errorf("version %s is out of range", suffix)
		}
		return URI{Kind: KindVersion, Name: name, Version: v}, nil
	}
	if strings.EqualFold(suffix, "latest") {
		return URI{Kind: KindLatest, Name: name}, nil
	}
	if st, ok := canonicalStage(suffix); ok {
		return URI{Kind: KindStage, Name: name, Stage: st}, nil
	}
	if strings.Contains(name, "@") {
		return URI{}, fmt.Errorf("sub-paths are not supported: %q after %q", suffix, name)
	}
	return URI{}, fmt.Errorf("unknown stage %q: want a version number, latest, or one of %s", suffix, strings.Join(stages, ", "))
}

// canonicalStage returns MLflow's spelling of a stage name given in any case.
func canonicalStage(s string) (string, bool) {
	for _, st := range stages {
		if strings.EqualFold(s, st) {
			return st, true
		}
	}
	return "", false
}

// String formats the URI so that ParseURI(u.String()) == u.
func (u URI) String() string {
	switch u.Kind {
	case KindAlias:
		return "models:/" + u.Name + "@" + u.Alias
	case KindVersion:
		return "models:/" + u.Name + "/" + strconv.FormatInt(u.Version, 10)
	case KindLatest:
		return "models:/" + u.Name + "/latest"
	case KindStage:
		return "models:/" + u.Name + "/" + u.Stage
	case KindLoggedModel:
		return "models:/" + u.ModelID
	default:
		return "models:/<invalid>"
	}
}

// MarshalText implements encoding.TextMarshaler with String.
func (u URI) MarshalText() ([]byte, error) {
	if u.Kind < KindAlias || u.Kind > KindLoggedModel {
		return nil, fmt.Errorf("model URI: zero or invalid URI: %w", ErrInvalid)
	}
	return []byte(u.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseURI.
func (u *URI) UnmarshalText(b []byte) error {
	p, err := ParseURI(string(b))
	if err != nil {
		return err
	}
	*u = p
	return nil
}

// isLatestAlias reports whether an alias URI names MLflow's server-side
// "latest" alias, which the resolver answers as models:/<name>/latest.
func (u URI) isLatestAlias() bool {
	return u.Kind == KindAlias && strings.EqualFold(u.Alias, "latest")
}

func isBlank(s string) bool { return strings.TrimSpace(s) == "" }

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isWord matches MLflow's alias rule ^[\w\-]+$ with Python's Unicode-aware \w.
func isWord(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r != '_' && r != '-' && !unicode.IsLetter(r) && !unicode.IsNumber(r) {
			return false
		}
	}
	return true
}
