package actions

import (
	"errors"
	"fmt"
	"maps"
	"slices"
)

// Code is an API error code of the catalogue below (Tencent Cloud API 3.0
// names; the Huawei door maps them to its own).
type Code string

// Error is an API error: a code of the catalogue and a public message.
// Err, when set, is the internal cause: it is logged, never sent.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Code) + ": " + e.Message + ": " + e.Err.Error()
	}
	return string(e.Code) + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches another *Error by code, so errors.Is(err, &Error{Code: "X"}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// E builds an error with a formatted public message.
func E(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Wrap builds an error with a public message and a private cause.
func Wrap(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// CodeOf returns the API code of err: its *Error code, or InternalError.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return InternalError
}

// The codes killgate emits. Every code here is documented in docs/errors.md
// (a test keeps the two in step).
const (
	AuthFailureInvalidAuthorization Code = "AuthFailure.InvalidAuthorization"
	AuthFailureSecretIdNotFound     Code = "AuthFailure.SecretIdNotFound"
	AuthFailureSignatureExpire      Code = "AuthFailure.SignatureExpire"
	AuthFailureSignatureFailure     Code = "AuthFailure.SignatureFailure"
	AuthFailureTokenFailure         Code = "AuthFailure.TokenFailure"
	FailedOperation                 Code = "FailedOperation"
	InternalError                   Code = "InternalError"
	InvalidAction                   Code = "InvalidAction"
	InvalidParameter                Code = "InvalidParameter"
	InvalidParameterValue           Code = "InvalidParameterValue"
	LimitExceeded                   Code = "LimitExceeded"
	MissingParameter                Code = "MissingParameter"
	NoSuchVersion                   Code = "NoSuchVersion"
	RequestLimitExceeded            Code = "RequestLimitExceeded"
	RequestSizeLimitExceeded        Code = "RequestSizeLimitExceeded"
	ResourceNotFound                Code = "ResourceNotFound"
	UnauthorizedOperation           Code = "UnauthorizedOperation"
	UnknownParameter                Code = "UnknownParameter"
	UnsupportedOperation            Code = "UnsupportedOperation"
	UnsupportedOperationDuplicate   Code = "UnsupportedOperation.HasDuplicatedTask"
	UnsupportedProtocol             Code = "UnsupportedProtocol"
)

// Catalog describes every code killgate emits and when.
var Catalog = map[Code]string{
	AuthFailureInvalidAuthorization: "The Authorization header is missing, malformed, `SKIP`, or not TC3-HMAC-SHA256.",
	AuthFailureSecretIdNotFound:     "The SecretId is not configured.",
	AuthFailureSignatureExpire:      "The request timestamp is more than 300 s away from the server clock.",
	AuthFailureSignatureFailure:     "The signature does not match the request, or the credential scope (date, service) is wrong.",
	AuthFailureTokenFailure:         "A session token (X-TC-Token / Token) was sent; killgate has no temporary credentials.",
	FailedOperation:                 "The operation failed on the database or the store; nothing was acknowledged.",
	InternalError:                   "An unexpected error (or a panic) inside killgate; details are in the server log under the RequestId.",
	InvalidAction:                   "The action does not exist.",
	InvalidParameter:                "A parameter has the wrong type or shape (string for an integer, object for a list, …).",
	InvalidParameterValue:           "A parameter value is out of range or not allowed (unknown instance, bad Duration, Info with Infos, …).",
	LimitExceeded:                   "A quota was reached: active tasks per instance, threads per kill.",
	MissingParameter:                "A required parameter is missing.",
	NoSuchVersion:                   "The version is not 2021-05-27.",
	RequestLimitExceeded:            "More than the configured requests per second for this SecretId and action (`ratelimit.per_second`, 20/s by default; the message quotes it), or no memory for a body over 64 KB within `requests.body_wait`. The SDK retries this exact code.",
	RequestSizeLimitExceeded:        "The request is larger than allowed (GET 32 KB, v1 POST 1 MB, v3 POST 10 MB); a declared Content-Length is refused before the body is read.",
	ResourceNotFound:                "The object does not exist: no active task to cancel, unknown or expired SqlExecId, unknown task.",
	UnauthorizedOperation:           "The credential may not call this action or act on this instance.",
	UnknownParameter:                "A parameter that the action does not define was sent.",
	UnsupportedOperation:            "The operation is not supported in this state.",
	UnsupportedOperationDuplicate:   "An identical kill task is already running on the instance.",
	UnsupportedProtocol:             "The HTTP method or content type is not supported (only GET and POST; form POST needs signature v1; no multipart).",
}

// Codes returns the catalog's codes, sorted.
func Codes() []Code {
	return slices.Sorted(maps.Keys(Catalog))
}
