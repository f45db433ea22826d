package serve

import (
	"github.com/valyala/fasthttp"
	"go.opentelemetry.io/otel/attribute"
)

// Standing says why the deployment serving a model URI is not the version
// the registry names for it now. The zero value means it is. It is sent
// as the X-Model-Serving-Status and X-Model-Registry-Version headers.
type Standing struct {
	// Status is why: loading, load-failed, gave-up, not-ready, missing or
	// registry-unreachable (docs/provenance.md); empty when the version
	// serving is the one the registry names.
	Status string `json:"serving_status,omitempty"`
	// RegistryVersion is the version the registry names now; empty when
	// that is unknown or there is none.
	RegistryVersion string `json:"registry_version,omitempty"`
	// Reason says why in one sentence, for /admin/models only: a load
	// error names local paths, which responses do not.
	Reason string `json:"reason,omitempty"`
}

// Serving status headers. Like the provenance headers they are a contract
// with clients; absent when the version answering is the one the registry
// names.
const (
	HeaderServingStatus   = "X-Model-Serving-Status"
	HeaderRegistryVersion = "X-Model-Registry-Version"
)

// Serving statuses. ServingGaveUp is the Standing.Status of a version given
// up on, which Ready counts as settled. ServingCurrent is what
// /admin/models and the metrics report for a target whose version is the
// one the registry names; ServingNotLoaded for one with no version yet and
// nothing known against it (its first load is in progress).
const (
	ServingGaveUp    = "gave-up"
	ServingCurrent   = "current"
	ServingNotLoaded = "loading"
)

// headers returns the serving status headers of st, none when st is zero.
func (st Standing) headers() []header {
	if st.Status == "" {
		return nil
	}
	h := []header{{[]byte(HeaderServingStatus), []byte(HeaderValue(st.Status))}}
	if st.RegistryVersion != "" {
		h = append(h, header{[]byte(HeaderRegistryVersion), []byte(HeaderValue(st.RegistryVersion))})
	}
	return h
}

// attrs returns the span attributes of st, none when st is zero.
func (st Standing) attrs() []attribute.KeyValue {
	if st.Status == "" {
		return nil
	}
	return []attribute.KeyValue{attribute.String("mlgate.serving_status", st.Status),
		attribute.String("mlgate.registry_version", st.RegistryVersion)}
}

// unserved is what a target with no deployment answers: 503 naming why,
// with the serving status headers. Prepared when the Snapshot is compiled.
type unserved struct {
	err     error
	headers []header
	// gaveUp is set when the URI's version was given up on, which
	// readiness counts as settled.
	gaveUp bool
}

// newUnserved prepares the answer of route's target uri, which no version
// serves, st saying why (zero: its first version is loading). The message
// names the status and the version; the reason is in /admin/models.
func newUnserved(route, uri string, st Standing) *unserved {
	if st.Status == "" {
		return &unserved{err: errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
			"route %s: model %s is not loaded yet", route, uri)}
	}
	why := st.Status
	if st.RegistryVersion != "" {
		why += ", version " + st.RegistryVersion
	}
	return &unserved{err: errorf(fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail,
		"route %s: model %s has no version serving (%s); GET /admin/models says why", route, uri, HeaderValue(why)),
		headers: st.headers(), gaveUp: st.Status == ServingGaveUp}
}
