package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"killgate/actions"
)

// TestHuaweiError: the one mapping of API errors to the Huawei door's HTTP
// status, error_code and error_msg.
func TestHuaweiError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		err    error
		status int
		code   string
		msg    string
	}{
		{"not an API error", errors.New("boom"), http.StatusInternalServerError, hwCodeServerFailure, "Server failure."},
		{"wrapped context error", fmt.Errorf("x: %w", context.DeadlineExceeded), http.StatusInternalServerError, hwCodeServerFailure, "Server failure."},
		{"auth", authErr(nil, "the AK is not valid."), http.StatusUnauthorized, hwCodeAuth, "Incorrect IAM authentication information: the AK is not valid."},
		{"other AuthFailure code", actions.E(actions.AuthFailureSignatureFailure, "x"), http.StatusUnauthorized, hwCodeAuth, "Incorrect IAM authentication information: x"},
		{"unknown route", actions.E(actions.InvalidAction, "no API"), http.StatusNotFound, hwCodeNotFoundAPI, "no API"},
		{"too large", bodyError(errBodyTooLarge, hwMaxBody), http.StatusRequestEntityTooLarge, hwCodeTooLarge, "Request entity too large: The request body is larger than 1048576 bytes."},
		{"body budget", bodyError(errBodyBudget, hwMaxBody), http.StatusTooManyRequests, hwCodeThrottled, "The throttling threshold has been reached: The server is receiving too many large request bodies at once; retry later."},
		{"rate limit", actions.E(actions.RequestLimitExceeded, "retry later."), http.StatusTooManyRequests, hwCodeThrottled, "The throttling threshold has been reached: retry later."},
		{"invalid parameter", actions.E(actions.InvalidParameter, "x"), http.StatusBadRequest, hwCodeParam, "Parameter error: x"},
		{"invalid value", actions.E(actions.InvalidParameterValue, "x"), http.StatusBadRequest, hwCodeParam, "Parameter error: x"},
		{"missing", actions.E(actions.MissingParameter, "x"), http.StatusBadRequest, hwCodeParam, "Parameter error: x"},
		{"unknown parameter", actions.E(actions.UnknownParameter, "x"), http.StatusBadRequest, hwCodeParam, "Parameter error: x"},
		{"empty body", actions.Wrap(actions.MissingParameter, errNullRequest, "null"), http.StatusBadRequest, hwCodeEmpty, "null"},
		{"forbidden", actions.E(actions.UnauthorizedOperation, "no"), http.StatusForbidden, hwCodeForbidden, "no"},
		{"unknown instance", actions.Wrap(actions.ResourceNotFound, fmt.Errorf("%w: i", actions.ErrUnknownInstance), "gone"), http.StatusNotFound, hwCodeNoInstance, "gone"},
		{"unknown node", actions.Wrap(actions.ResourceNotFound, fmt.Errorf("%w: n", actions.ErrUnknownNode), "gone"), http.StatusNotFound, hwCodeNoNode, "gone"},
		{"unknown task", actions.E(actions.ResourceNotFound, "gone"), http.StatusNotFound, hwCodeParam, "gone"},
		{"panic", actions.Wrap(actions.InternalError, errors.New("panic: x"), "Internal error."), http.StatusInternalServerError, hwCodeServerFailure, "Internal error."},
		{"failed operation", actions.E(actions.FailedOperation, "the node cannot be reached."), http.StatusInternalServerError, hwCodeServerFailure, "Server failure: the node cannot be reached."},
		{"other code", actions.E(actions.LimitExceeded, "x"), http.StatusInternalServerError, hwCodeServerFailure, "Server failure: x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, code, msg := huaweiError(tc.err)
			if status != tc.status || code != tc.code || msg != tc.msg {
				t.Fatalf("got %d %s %q, want %d %s %q", status, code, msg, tc.status, tc.code, tc.msg)
			}
		})
	}
}
