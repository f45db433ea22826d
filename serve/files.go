package serve

import (
	"errors"
	"fmt"
	"time"
)

// loadFiles reads the admin token, scoring tokens and TLS files the
// configuration names, failing on the first one missing or invalid.
func (s *Server) loadFiles() error {
	c := s.cfg
	if c.AdminToken != "" {
		s.adminToken = newTokenSet([]byte(c.AdminToken))
	}
	if c.AdminTokenFile != "" {
		s.adminTokenFile = &tokenFile{file: watchedFile{path: c.AdminTokenFile}, parse: parseAdminToken}
		if _, err := s.adminTokenFile.reload(); err != nil {
			return fmt.Errorf("admin token file: %w", err)
		}
	}
	if c.AuthTokensFile != "" {
		s.authTokens = &tokenFile{file: watchedFile{path: c.AuthTokensFile}, parse: parseTokens}
		if _, err := s.authTokens.reload(); err != nil {
			return fmt.Errorf("auth tokens file: %w", err)
		}
	}
	if c.TLSCertFile != "" {
		s.tls = newTLSFiles(c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile)
		if _, err := s.tls.reload(); err != nil {
			return err
		}
	}
	return nil
}

// ReloadFiles re-reads the admin token, scoring tokens and TLS files now,
// and swaps in those that changed and are valid; an invalid or unreadable
// file leaves its last good contents in use and is reported in the error.
// It is what the periodic check does, for SIGHUP and tests.
func (s *Server) ReloadFiles() error {
	s.filesMu.Lock()
	defer s.filesMu.Unlock()
	var errs []error
	check := func(what string, reload func() (bool, error)) {
		swapped, err := reload()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
			return
		}
		if swapped {
			s.cfg.Logger.Info("reloaded a changed file", "what", what)
		}
	}
	if s.adminTokenFile != nil {
		check("admin token file", s.adminTokenFile.reload)
	}
	if s.authTokens != nil {
		check("auth tokens file", s.authTokens.reload)
	}
	if s.tls != nil {
		check("tls files", s.tls.reload)
	}
	return errors.Join(errs...)
}

// checkFiles calls ReloadFiles every FileCheckInterval until
// stopCheckingFiles, when there is a file to watch.
func (s *Server) checkFiles() {
	defer close(s.filesStopped)
	if s.cfg.FileCheckInterval < 0 || s.adminTokenFile == nil && s.authTokens == nil && s.tls == nil {
		return
	}
	t := time.NewTicker(s.cfg.FileCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stopFiles:
			return
		case <-t.C:
			if err := s.ReloadFiles(); err != nil {
				s.cfg.Logger.Error("a changed file was not taken; its last good contents stay in use", "err", err)
			}
		}
	}
}

// stopCheckingFiles stops the background work: checking files and
// ticking the windows.
func (s *Server) stopCheckingFiles() {
	s.stopOnce.Do(func() { close(s.stopFiles) })
	<-s.filesStopped
	<-s.ticksStopped
}
