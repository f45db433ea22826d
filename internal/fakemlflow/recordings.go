package fakemlflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mlgate/mlgate/internal/testutil"
)

// Store is one real MLflow server the fake can stand in for: the directory
// of its recorded requests (a rest/ layout with INDEX.tsv) and its
// --artifacts-destination, both relative to the repository root.
type Store struct {
	Recordings string
	Artifacts  string
}

// The recorded servers. A fake serves one of them: the two were separate
// servers, and each has an experiment 1 of its own.
var (
	// ChurnStore is the churn-gbm and churn-sk registry (the default).
	ChurnStore = Store{Recordings: "testdata/mlflow-real/rest", Artifacts: "examples/registry/mlartifacts"}
	// LineageStore is the churn-lineage registry: version 1 with its full
	// provenance chain (git, DVC, dataset input), version 2 with none.
	LineageStore = Store{Recordings: "testdata/mlflow-real/rest-lineage", Artifacts: "testdata/mlflow-real/lineage/mlartifacts"}
)

// Recording is one request recorded from a real MLflow 3.5 server (a case in
// a store's INDEX.tsv) and its response.
type Recording struct {
	// Name is the case name, e.g. "alias--churn-gbm--champion".
	Name string
	// Method, Path (decoded) and Query are the request; Body is its JSON body
	// (nil when it had none).
	Method string
	Path   string
	Query  url.Values
	Body   []byte
	// Status, Header and RespBody are the response. Header holds every
	// recorded header except date, content-length and transfer-encoding;
	// Chunked says whether the body was sent chunked (else with a
	// Content-Length).
	Status   int
	Header   http.Header
	Chunked  bool
	RespBody []byte

	dep string // the state the response depends on; see Server.dirty
}

// URL returns the request path and query as a client would send them.
func (r *Recording) URL() string {
	if len(r.Query) == 0 {
		return r.Path
	}
	return r.Path + "?" + r.Query.Encode()
}

// requestKey identifies a request by method, path, query (order-insensitive)
// and JSON body (formatting-insensitive).
func requestKey(method, path string, q url.Values, body []byte) string {
	return method + " " + path + "?" + q.Encode() + " " + canonicalBody(body)
}

func canonicalBody(body []byte) string {
	if len(bytes.TrimSpace(body)) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(body, &v) != nil {
		return string(body)
	}
	b, _ := json.Marshal(v) // maps marshal with sorted keys
	return string(b)
}

// RepoRoot returns the directory holding the repository's go.mod, found by
// walking up from the working directory.
func RepoRoot() (string, error) { return testutil.FindRepoRoot() }

// LoadRecordings reads every case of ChurnStore, the recordings New serves
// by default.
func LoadRecordings(root string) ([]*Recording, error) { return LoadStore(root, ChurnStore) }

// LoadStore reads every case listed in the INDEX.tsv of st's recordings
// under the repository root.
func LoadStore(root string, st Store) ([]*Recording, error) {
	dir := filepath.Join(root, st.Recordings)
	index, err := os.ReadFile(filepath.Join(dir, "INDEX.tsv"))
	if err != nil {
		return nil, fmt.Errorf("fakemlflow: %w", err)
	}
	var out []*Recording
	for i, line := range strings.Split(strings.TrimSpace(string(index)), "\n") {
		if i == 0 {
			continue // header
		}
		fields := strings.Split(line, "\t")
		if len(fields) != 4 {
			return nil, fmt.Errorf("fakemlflow: INDEX.tsv line %d: want 4 tab-separated fields", i+1)
		}
		rec, err := loadRecording(dir, fields[0])
		if err != nil {
			return nil, fmt.Errorf("fakemlflow: case %s: %w", fields[0], err)
		}
		if strconv.Itoa(rec.Status) != fields[1] || rec.Method != fields[2] {
			return nil, fmt.Errorf("fakemlflow: case %s: INDEX.tsv says %s %s; files say %d %s", fields[0], fields[1], fields[2], rec.Status, rec.Method)
		}
		out = append(out, rec)
	}
	return out, nil
}

func loadRecording(dir, name string) (*Recording, error) {
	curl, err := os.ReadFile(filepath.Join(dir, name+".curl.txt"))
	if err != nil {
		return nil, err
	}
	args, err := shellSplit(strings.TrimSpace(string(curl)))
	if err != nil {
		return nil, err
	}
	rec := &Recording{Name: name, Method: http.MethodGet}
	var rawURL, outFile string
	for i := 0; i < len(args); i++ {
		next := func() string {
			if i+1 < len(args) {
				i++
				return args[i]
			}
			return ""
		}
		switch a := args[i]; {
		case a == "-X":
			rec.Method = next()
		case a == "--data":
			rec.Body = []byte(next())
		case a == "-o":
			outFile = next()
		case a == "-H", a == "-D", a == "-w":
			next()
		case strings.HasPrefix(a, "http://"), strings.HasPrefix(a, "https://"):
			rawURL = a
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil || rawURL == "" || outFile == "" {
		return nil, fmt.Errorf("curl command without a URL or -o file")
	}
	rec.Path, rec.Query = u.Path, u.Query()
	if rec.RespBody, err = os.ReadFile(filepath.Join(dir, outFile)); err != nil {
		return nil, err
	}
	head, err := os.ReadFile(filepath.Join(dir, name+".headers.txt"))
	if err != nil {
		return nil, err
	}
	if err := rec.parseHeaders(string(head)); err != nil {
		return nil, err
	}
	return rec, nil
}

func (rec *Recording) parseHeaders(head string) error {
	lines := strings.Split(strings.ReplaceAll(head, "\r\n", "\n"), "\n")
	status := strings.Fields(lines[0])
	if len(status) < 2 {
		return fmt.Errorf("bad status line %q", lines[0])
	}
	code, err := strconv.Atoi(status[1])
	if err != nil {
		return fmt.Errorf("bad status line %q", lines[0])
	}
	rec.Status = code
	rec.Header = http.Header{}
	for _, l := range lines[1:] {
		if l == "" {
			break
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			return fmt.Errorf("bad header line %q", l)
		}
		v = strings.TrimSpace(v)
		switch strings.ToLower(k) {
		case "date", "content-length":
		case "transfer-encoding":
			rec.Chunked = strings.EqualFold(v, "chunked")
		default:
			rec.Header.Add(k, v)
		}
	}
	return nil
}

// shellSplit splits a command line on spaces, honouring single quotes (the
// only quoting the recorded curl commands use) and ignoring a trailing
// "> file" redirection.
func shellSplit(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	inWord, inQuote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\'':
			inQuote = false
		case inQuote:
			cur.WriteByte(c)
		case c == '\'':
			inQuote, inWord = true, true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '>' && !inWord:
			return out, nil
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inQuote {
		return nil, errors.New("unterminated quote")
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// recordingsByKey indexes recordings by requestKey.
func recordingsByKey(recs []*Recording) map[string]*Recording {
	m := make(map[string]*Recording, len(recs))
	for _, r := range recs {
		m[requestKey(r.Method, r.Path, r.Query, r.Body)] = r
	}
	return m
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
