package serve

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/valyala/fasthttp"
)

// MinTokenLength is the shortest bearer token mlgate accepts, for the admin
// token and the scoring tokens alike: shorter ones are refused when they
// are configured, so that a placeholder or a guessable word never guards
// an endpoint.
const MinTokenLength = 16

// maxSecretFile caps what is read of a token, certificate or CA file.
const maxSecretFile = 1 << 20

// tokenSet is an immutable set of bearer tokens, kept as SHA-256 digests so
// that comparing a presented token takes the same time whatever its length
// and whichever token it resembles.
type tokenSet struct {
	digests [][sha256.Size]byte
}

// valid reports whether auth is "Bearer <token>" with a token of the set.
// Every token is compared, in constant time; it does not allocate.
func (ts *tokenSet) valid(auth []byte) bool {
	const prefix = "Bearer "
	if len(auth) <= len(prefix) || !bytes.EqualFold(auth[:len(prefix)], []byte(prefix)) {
		return false
	}
	d := sha256.Sum256(auth[len(prefix):])
	ok := 0
	for i := range ts.digests {
		ok |= subtle.ConstantTimeCompare(d[:], ts.digests[i][:])
	}
	return ok == 1
}

func newTokenSet(tokens ...[]byte) *tokenSet {
	ts := &tokenSet{}
	for _, t := range tokens {
		ts.digests = append(ts.digests, sha256.Sum256(t))
	}
	return ts
}

// parseTokens reads one token per line; blank lines and lines starting with
// # are skipped, and surrounding spaces trimmed. Errors name the line, never
// the token.
func parseTokens(data []byte) (*tokenSet, error) {
	var tokens [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, maxSecretFile)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		if err := checkToken(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		tokens = append(tokens, bytes.Clone(line))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(tokens) == 0 {
		return nil, errors.New("no tokens (one per line; # starts a comment)")
	}
	return newTokenSet(tokens...), nil
}

// parseAdminToken reads a file holding the admin token alone; surrounding
// spaces and newlines are trimmed.
func parseAdminToken(data []byte) (*tokenSet, error) {
	tok := bytes.TrimSpace(data)
	if err := checkToken(tok); err != nil {
		return nil, err
	}
	return newTokenSet(tok), nil
}

func checkToken(tok []byte) error {
	if len(tok) < MinTokenLength {
		return fmt.Errorf("token of %d characters; want at least %d", len(tok), MinTokenLength)
	}
	for _, c := range tok {
		if c <= ' ' || c == 0x7f {
			return errors.New("token contains spaces or control characters")
		}
	}
	return nil
}

// CheckToken reports whether tok can serve as a bearer token: at least
// MinTokenLength characters, none of them spaces or control characters.
// The error never quotes the token.
func CheckToken(tok string) error { return checkToken([]byte(tok)) }

// watchedFile is a small file re-read on demand, remembering what it read
// last.
type watchedFile struct {
	path string
	last []byte
}

// read returns the file's contents and whether they differ from the last
// read, good or bad, so that a broken file is reported once, not on every
// check. It reads at most maxSecretFile bytes.
func (w *watchedFile) read() ([]byte, bool, error) {
	f, err := os.Open(w.path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, false, err
	}
	if len(data) > maxSecretFile {
		return nil, false, fmt.Errorf("%s: larger than %d bytes", w.path, maxSecretFile)
	}
	if w.last != nil && bytes.Equal(data, w.last) {
		return data, false, nil
	}
	w.last = data
	return data, true, nil
}

// tokenFile is a token set loaded from a watched file; a failed reload
// keeps the last good set.
type tokenFile struct {
	file  watchedFile
	parse func([]byte) (*tokenSet, error)
	cur   atomic.Pointer[tokenSet]
}

// reload re-reads the file and swaps in its tokens when it changed. It
// reports whether it swapped.
func (t *tokenFile) reload() (bool, error) {
	data, changed, err := t.file.read()
	if err != nil || !changed {
		return false, err
	}
	ts, err := t.parse(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", t.file.path, err)
	}
	t.cur.Store(ts)
	return true, nil
}

// unauthenticated is the answer to a request without a valid token.
var (
	errNoToken = &httpError{status: fasthttp.StatusUnauthorized, code: "UNAUTHENTICATED",
		msg: "this endpoint needs Authorization: Bearer <token>"}
	errBadToken = &httpError{status: fasthttp.StatusUnauthorized, code: "UNAUTHENTICATED",
		msg: "the bearer token is not valid"}
	hdrWWWAuthenticate = []byte("WWW-Authenticate")
	challengeNoToken   = []byte(`Bearer realm="mlgate"`)
	challengeBadToken  = []byte(`Bearer realm="mlgate", error="invalid_token"`)
)

// authorized checks a scoring request's bearer token when scoring tokens
// are configured, and answers 401 when it is missing or wrong. It does not
// allocate when the token is valid.
func (s *Server) authorized(ctx *fasthttp.RequestCtx) bool {
	ts := s.scoringTokens()
	if ts == nil {
		return true
	}
	auth := ctx.Request.Header.Peek(fasthttp.HeaderAuthorization)
	if ts.valid(auth) {
		return true
	}
	unauthorized(ctx, len(auth) > 0)
	return false
}

func unauthorized(ctx *fasthttp.RequestCtx, presented bool) {
	if presented {
		ctx.Response.Header.SetCanonical(hdrWWWAuthenticate, challengeBadToken)
		writeError(ctx, errBadToken, "")
		return
	}
	ctx.Response.Header.SetCanonical(hdrWWWAuthenticate, challengeNoToken)
	writeError(ctx, errNoToken, "")
}

func (s *Server) scoringTokens() *tokenSet {
	if s.authTokens == nil {
		return nil
	}
	return s.authTokens.cur.Load()
}

// adminTokens returns the admin token, nil when none is configured.
func (s *Server) adminTokens() *tokenSet {
	if s.adminTokenFile != nil {
		return s.adminTokenFile.cur.Load()
	}
	return s.adminToken
}
