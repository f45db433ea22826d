package resolver

// ServingStatus says why the version serving a watched URI is not the one
// the registry names for it now. The empty status means it is.
type ServingStatus string

// Serving statuses, from the most to the least telling: when several
// apply, a Watcher reports the first.
const (
	// ServingMissing: the alias or version is gone from the registry.
	ServingMissing ServingStatus = "missing"
	// ServingUnreachable: the registry could not be asked, or did not
	// answer (unreachable, timed out, 5xx, credentials refused), or
	// mlgate started from its cache without it: what the URI names now
	// is unknown.
	ServingUnreachable ServingStatus = "registry-unreachable"
	// ServingGaveUp: the version the registry names failed to download
	// or load MaxAttempts times; it is not tried again until the URI
	// names another version.
	ServingGaveUp ServingStatus = "gave-up"
	// ServingLoadFailed: the version the registry names failed to
	// download or load and will be tried again.
	ServingLoadFailed ServingStatus = "load-failed"
	// ServingNotReady: the version the registry names is not READY.
	ServingNotReady ServingStatus = "not-ready"
	// ServingLoading: the version the registry names is being
	// downloaded and loaded.
	ServingLoading ServingStatus = "loading"
)

// Standing is how what serves a watched URI stands against what the
// registry names for it. The zero value means the version serving is the
// one the registry names. Standing is comparable.
type Standing struct {
	// Status says why the version serving is not the one named; empty
	// when it is.
	Status ServingStatus `json:"serving_status,omitempty"`
	// Version is the version the registry names now; empty when that is
	// unknown (registry unreachable) or there is none (missing). For a
	// models:/m-<id> URI it is the logged model's ID.
	Version string `json:"registry_version,omitempty"`
	// Reason says why in one sentence: the download, load or registry
	// error, or what is in progress.
	Reason string `json:"reason,omitempty"`
}

// standing computes rf's Standing from its state. Called with rf.mu held.
func (rf *ref) standing() Standing {
	st := &rf.st
	switch {
	case st.Missing:
		return Standing{Status: ServingMissing, Reason: st.LastError}
	case rf.unreachable || st.FromCache:
		return Standing{Status: ServingUnreachable, Reason: st.LastError}
	case st.GaveUp && st.Pending != "":
		return Standing{Status: ServingGaveUp, Version: st.Pending, Reason: st.LastError}
	case st.Pending != "":
		return Standing{Status: ServingLoadFailed, Version: st.Pending, Reason: st.LastError}
	case rf.notReady != "":
		return Standing{Status: ServingNotReady, Version: rf.notReady, Reason: st.LastError}
	case rf.loading != "":
		return Standing{Status: ServingLoading, Version: rf.loading, Reason: "downloading and loading version " + rf.loading}
	}
	return Standing{}
}

// report tells the Deployer rf's Standing when it changed since the last
// report. The caller holds rf's check token, so reports of one URI are
// made in order.
func (w *Watcher) report(rf *ref) {
	rf.mu.Lock()
	st := rf.standing()
	changed := st != rf.told
	rf.told = st
	rf.st.ServingStatus, rf.st.RegistryVersion = st.Status, st.Version
	if st.Status == "" {
		rf.st.RegistryVersion = versionOf(rf.st.Serving)
	}
	rf.mu.Unlock()
	if changed {
		w.d.Stand(rf.uri, st)
	}
}
