package serve

import (
	"context"
	"errors"
	"fmt"

	"github.com/valyala/fasthttp"

	"github.com/mlgate/mlgate/signature"
)

// MLflow error codes (mlflow/protos/databricks.proto) and the HTTP status
// MLflow gives each (mlflow/exceptions.py).
const (
	codeBadRequest            = "BAD_REQUEST"             // 400
	codeInvalidParameterValue = "INVALID_PARAMETER_VALUE" // 400
	codeEndpointNotFound      = "ENDPOINT_NOT_FOUND"      // 404
	codeResourceDoesNotExist  = "RESOURCE_DOES_NOT_EXIST" // 404
	codeRequestLimitExceeded  = "REQUEST_LIMIT_EXCEEDED"  // 429
	codeInternalError         = "INTERNAL_ERROR"          // 500
	codeTemporarilyUnavail    = "TEMPORARILY_UNAVAILABLE" // 503
	codeDeadlineExceeded      = "DEADLINE_EXCEEDED"       // 504
)

// httpError is an error with the status and MLflow error code serve answers
// with.
type httpError struct {
	status int
	code   string
	msg    string
	// retryAfter, when set, is sent as Retry-After (seconds).
	retryAfter string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, code, format string, args ...any) *httpError {
	return &httpError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

// classify decides, in one place, the HTTP status, MLflow error code and
// message for an error on the request path. tag names the model version
// ("model churn-gbm version 1 (alias champion)"), or is empty before a model
// was chosen.
func classify(err error, tag string) (status int, code, msg string) {
	prefix := ""
	if tag != "" {
		prefix = tag + ": "
	}
	var he *httpError
	var se *signature.Error
	switch {
	case errors.As(err, &he):
		return he.status, he.code, prefix + he.msg
	case errors.As(err, &se) && se.Limit != "":
		return fasthttp.StatusRequestEntityTooLarge, se.Code, prefix + se.Message + limitAdvice(se.Limit)
	case errors.As(err, &se):
		return fasthttp.StatusBadRequest, se.Code, prefix + se.Message
	case errors.Is(err, ErrDisabled):
		return fasthttp.StatusNotFound, codeEndpointNotFound, prefix + err.Error()
	case errors.Is(err, ErrUnauthorized):
		return fasthttp.StatusUnauthorized, "UNAUTHENTICATED", prefix + err.Error()
	case errors.Is(err, ErrConflict):
		return fasthttp.StatusConflict, "RESOURCE_ALREADY_EXISTS", prefix + err.Error()
	case errors.Is(err, ErrInvalid):
		return fasthttp.StatusBadRequest, codeInvalidParameterValue, prefix + err.Error()
	case errors.Is(err, ErrUnavailable):
		return fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail, prefix + err.Error()
	case overloaded(err):
		return fasthttp.StatusTooManyRequests, codeRequestLimitExceeded,
			prefix + "too many requests in flight (" + err.Error() + "); retry later"
	case errors.Is(err, context.DeadlineExceeded):
		return fasthttp.StatusGatewayTimeout, codeDeadlineExceeded, prefix + "request deadline exceeded: " + err.Error()
	case errors.Is(err, context.Canceled):
		return fasthttp.StatusServiceUnavailable, codeTemporarilyUnavail, prefix + "request cancelled: server shutting down"
	default:
		return fasthttp.StatusInternalServerError, codeInternalError, prefix + err.Error()
	}
}

// overloaded reports whether err says a model's queue is full: an error in
// its chain has a method Overloaded() bool that returns true.
func overloaded(err error) bool {
	var o interface{ Overloaded() bool }
	return errors.As(err, &o) && o.Overloaded()
}

// writeError writes err as MLflow's error body, {"error_code": ...,
// "message": ...}, with the status classify decides.
func writeError(ctx *fasthttp.RequestCtx, err error, tag string) {
	status, code, msg := classify(err, tag)
	ctx.SetStatusCode(status)
	setRetryAfter(ctx, err)
	ctx.SetContentType("application/json")
	ctx.SetBody(signature.AppendError(nil, code, msg))
}

// setRetryAfter sends err's Retry-After, when it has one.
func setRetryAfter(ctx *fasthttp.RequestCtx, err error) {
	var he *httpError
	if errors.As(err, &he) && he.retryAfter != "" {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, he.retryAfter)
	}
}
