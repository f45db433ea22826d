package resolver

import (
	"errors"
	"fmt"
)

// Sentinel errors classify every failure the resolver returns. Test for them
// with errors.Is; the error text carries the details (model, version, alias,
// endpoint and status).
var (
	// ErrNotFound means the model, version, alias, run, LoggedModel or
	// artifact does not exist. It includes MLflow's "Registered model alias
	// X not found." even though MLflow answers it with a 400.
	ErrNotFound = errors.New("not found")
	// ErrNotReady means the version exists but its status is not READY (or
	// the LoggedModel is not LOGGED_MODEL_READY); it must not be served.
	ErrNotReady = errors.New("not ready")
	// ErrPrompt means the registered model is an MLflow prompt
	// (tag mlflow.prompt.is_prompt=true), which mlgate refuses to serve.
	ErrPrompt = errors.New("registered model is a prompt")
	// ErrUnavailable means the registry or artifact store could not be
	// reached or answered 5xx, 408 or 429, timed out, or sent a truncated
	// body. The call may succeed if retried later.
	ErrUnavailable = errors.New("unavailable")
	// ErrUnauthorized means the registry or artifact store refused the
	// credentials (HTTP 401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrInvalid means the request or the configuration is wrong (a bad
	// URI, a bad setting, an unsupported scheme, another 4xx from MLflow,
	// or an answer mlgate cannot use). Retrying will not help.
	ErrInvalid = errors.New("invalid")
)

// errUnreachable marks an ErrUnavailable failure in which the registry or
// artifact store gave no answer (refused, reset, timed out) or answered
// 5xx: it says nothing about the version being fetched, so the Watcher
// retries it without counting the failure towards giving up on it.
var errUnreachable = errors.New("unreachable")

// APIError is an error response from an MLflow server. Its Unwrap returns the
// sentinel the response maps to, so errors.Is(err, ErrNotFound) works on it.
type APIError struct {
	// Method and URL identify the request, e.g. "GET" and
	// "http://mlflow:5000/api/2.0/mlflow/registered-models/alias".
	Method, URL string
	// StatusCode is the HTTP status.
	StatusCode int
	// Code is MLflow's error_code (e.g. "RESOURCE_DOES_NOT_EXIST"); empty
	// when the body was not MLflow's JSON error shape.
	Code string
	// Message is MLflow's message, or the start of a non-JSON body.
	Message string

	kind error
}

// Error reports the request, the status and MLflow's message.
func (e *APIError) Error() string {
	code := ""
	if e.Code != "" {
		code = " " + e.Code
	}
	msg := ""
	if e.Message != "" {
		msg = ": " + e.Message
	}
	return fmt.Sprintf("%s %s: status %d%s%s", e.Method, e.URL, e.StatusCode, code, msg)
}

// Unwrap returns the sentinel error the response maps to.
func (e *APIError) Unwrap() error { return e.kind }

// kindError attaches a sentinel to an underlying error while keeping both
// visible to errors.Is and errors.As.
type kindError struct {
	kind error
	err  error
}

func (e *kindError) Error() string        { return e.err.Error() }
func (e *kindError) Unwrap() []error      { return []error{e.kind, e.err} }
func withKind(kind, err error) *kindError { return &kindError{kind: kind, err: err} }
