package fakemlflow

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Body is how the artifact proxy sends one file, for tests of a hostile or
// broken artifact store. Whatever the Body, listings keep reporting the
// file's real size (or the size set with Version.ListedSizes).
type Body int

// Hostile bodies for SetFileBody.
const (
	// Endless sends the file's bytes, then zeros without end, chunked,
	// until the client goes away.
	Endless Body = iota + 1
	// Trickle sends one byte every TrickleInterval, chunked, without end,
	// until the client goes away.
	Trickle
	// Stall sends the status and headers, then nothing, until the client
	// goes away.
	Stall
)

// TrickleInterval is the pause between two bytes of a Trickle body.
const TrickleInterval = 50 * time.Millisecond

// SetFileBody makes downloads of one artifact file of a version misbehave
// as b says. Sent reports how many body bytes left the server.
func (s *Server) SetFileBody(name, version, file string, b Body) {
	s.t.Helper()
	full := s.artifactDir(name, version) + "/" + file
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[full]; !ok {
		s.t.Fatalf("fakemlflow: SetFileBody: no file %s", full)
	}
	s.bodies[full] = b
	s.markDirty("artifacts:" + full)
}

// hold keeps downloads of one file waiting until released.
type hold struct {
	arrived, release chan struct{}
	once             sync.Once
}

// HoldFile makes downloads of one artifact file of a version wait, once
// their request has arrived, until release is called, and then send the
// file as usual. held is closed when the first such download is waiting.
// A test uses it to keep a version loading for as long as it needs to
// look, without sleeping. release may be called more than once.
func (s *Server) HoldFile(name, version, file string) (held <-chan struct{}, release func()) {
	s.t.Helper()
	full := s.artifactDir(name, version) + "/" + file
	h := &hold{arrived: make(chan struct{}), release: make(chan struct{})}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[full]; !ok {
		s.t.Fatalf("fakemlflow: HoldFile: no file %s", full)
	}
	s.holds[full] = h
	s.markDirty("artifacts:" + full)
	var once sync.Once
	return h.arrived, func() { once.Do(func() { close(h.release) }) }
}

// wait holds a download of full when HoldFile asked for it, until it is
// released, the client goes away or the server closes; it reports whether
// the download should go on.
func (s *Server) wait(r *http.Request, full string) bool {
	s.mu.Lock()
	h := s.holds[full]
	s.mu.Unlock()
	if h == nil {
		return true
	}
	h.once.Do(func() { close(h.arrived) })
	select {
	case <-h.release:
		return true
	case <-r.Context().Done():
	case <-s.closing:
	}
	return false
}

// Sent returns how many body bytes downloads of one artifact file of a
// version have written so far, over all requests.
func (s *Server) Sent(name, version, file string) int64 {
	s.t.Helper()
	full := s.artifactDir(name, version) + "/" + file
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[full]
}

// SetDownloadURI makes model-versions/get-download-uri answer uri for a
// version: another host's artifact API, an mlflow-artifacts:// URI naming
// another host, a file: URI, anything a hostile or misconfigured registry
// could return. Call it after any Files or ArtifactDir call for the
// version, which need its original location.
func (s *Server) SetDownloadURI(name, ver, uri string) {
	s.t.Helper()
	n, err := strconv.Atoi(ver)
	s.mu.Lock()
	defer s.mu.Unlock()
	var v *version
	if m := s.models[name]; m != nil && err == nil {
		v = m.versions[n]
	}
	if v == nil {
		s.t.Fatalf("fakemlflow: SetDownloadURI: no model %s version %s", name, ver)
	}
	v.storage = uri
	s.markDirty("model:"+name, "registry")
}

// RedirectArtifacts makes every request to the mlflow-artifacts proxy
// (listings and downloads) answer 307 Temporary Redirect to the same path
// and query on target (scheme://host:port), as a hostile or compromised
// server could. An empty target ends the redirects.
func (s *Server) RedirectArtifacts(target string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.redirect = strings.TrimRight(target, "/")
}

// redirected answers an artifacts request with a redirect when one is set.
func (s *Server) redirected(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	target := s.redirect
	s.mu.Unlock()
	if target == "" {
		return false
	}
	w.Header().Set("Location", target+r.URL.RequestURI())
	w.WriteHeader(http.StatusTemporaryRedirect)
	return true
}

// writeHostile sends data as body b says, counting the bytes sent under
// the artifact path full.
func (s *Server) writeHostile(w http.ResponseWriter, r *http.Request, full string, data []byte, b Body) {
	w.Header().Set("Transfer-Encoding", "chunked")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	write := func(p []byte) bool {
		n, err := w.Write(p)
		s.mu.Lock()
		s.sent[full] += int64(n)
		s.mu.Unlock()
		if flusher != nil {
			flusher.Flush()
		}
		return err == nil
	}
	done := func() bool {
		select {
		case <-r.Context().Done():
			return true
		case <-s.closing:
			return true
		default:
			return false
		}
	}
	switch b {
	case Endless:
		if !write(data) {
			return
		}
		zeros := make([]byte, 32<<10)
		for !done() && write(zeros) {
		}
	case Trickle:
		t := time.NewTicker(TrickleInterval)
		defer t.Stop()
		for i := 0; write(data[i%len(data) : i%len(data)+1]); i++ {
			select {
			case <-r.Context().Done():
				return
			case <-s.closing:
				return
			case <-t.C:
			}
		}
	case Stall:
		if flusher != nil {
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
		case <-s.closing:
		}
	}
}
