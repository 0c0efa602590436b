package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"killgate/actions"
)

// One renderer per door. Handlers and pipeline stages return (response,
// error); these functions alone turn them into bytes on the wire and record
// the error for the access line. An error is an *actions.Error (code and
// public message; its cause is logged, never sent) or anything else (an
// internal error, whose text is never sent).

// Access-log and metrics codes that are not API codes: a request whose
// client went away before its answer, and a path outside every door.
const (
	codeClientClosed = "ClientClosed"
	codeNotFound     = "NotFound"
)

// noteError records err and its code for the access line; a request
// cancelled because its client went away is logged as ClientClosed.
func noteError(c *gin.Context, ri *reqInfo, code string, err error) {
	if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		code = codeClientClosed
	}
	ri.Code, ri.Err = code, err
}

// writeTC renders the Tencent envelope: always HTTP 200 and exactly
// "application/json", success fields or Error, and the RequestId.
func (s *Server) writeTC(c *gin.Context, resp any, err error) {
	ri := info(c)
	if err == nil {
		buf := envelopePool.Get().(*bytes.Buffer)
		defer putEnvelope(buf)
		if err = writeSuccess(buf, resp, ri.RequestID); err == nil {
			c.Data(http.StatusOK, "application/json", buf.Bytes())
			return
		}
	}
	code, msg := publicError(err)
	noteError(c, ri, code, err)
	c.Data(http.StatusOK, "application/json", errorEnvelope(code, msg, ri.RequestID))
}

// publicError returns the code and the message a Tencent caller may see.
func publicError(err error) (code, msg string) {
	var ae *actions.Error
	if errors.As(err, &ae) {
		return string(ae.Code), ae.Message
	}
	return string(actions.InternalError), "An internal error occurred; quote the RequestId when reporting it."
}

// writeHuawei renders a Huawei-door answer: a *actions.File as an
// attachment with its own content type, any other response as a JSON object,
// an error as {"error_code","error_msg"} with the HTTP status huaweiError
// gives it. Every answer is 200 on success.
func (s *Server) writeHuawei(c *gin.Context, resp any, err error) {
	ri := info(c)
	if err == nil {
		if f, ok := resp.(*actions.File); ok {
			c.Header("Content-Disposition", `attachment; filename="`+f.Name+`"`)
			c.Data(http.StatusOK, f.ContentType, f.Data)
			return
		}
		var b []byte
		if b, err = jsonMarshal(resp); err == nil {
			c.Data(http.StatusOK, "application/json", b)
			return
		}
	}
	status, code, msg := huaweiError(err)
	noteError(c, ri, code, err)
	b := appendJSONString([]byte(`{"error_code":`), code)
	b = append(b, `,"error_msg":`...)
	b = appendJSONString(b, msg)
	c.Data(status, "application/json", append(b, '}'))
}

// Huawei error codes (docs/huawei.md): API Gateway codes for what the
// gateway refuses, database service codes for the rest.
const (
	hwCodeAuth          = "APIGW.0301" // 401 Incorrect IAM authentication information
	hwCodeNotFoundAPI   = "APIGW.0101" // 404 The API does not exist
	hwCodeTooLarge      = "APIGW.0201" // 413 Request entity too large
	hwCodeThrottled     = "APIGW.0308" // 429 The throttling threshold has been reached
	hwCodeParam         = "DBS.200001" // 400 Parameter error
	hwCodeNoInstance    = "DBS.200002" // 404 The DB instance does not exist
	hwCodeServerFailure = "DBS.200005" // 500 Server failure
	hwCodeEmpty         = "DBS.200006" // 400 The request is null
	hwCodeForbidden     = "DBS.200010" // 403 The operation is not authorized
	hwCodeNoNode        = "DBS.200013" // 404 The node does not exist
)

// hwAnswer is how the Huawei door answers an API error code: HTTP status,
// error_code, and the title put before the error's message.
type hwAnswer struct {
	status int
	code   string
	title  string
}

// hwAnswers maps API error codes to Huawei answers; any other code is a
// server failure (hwFailure).
var hwAnswers = map[string]hwAnswer{
	string(actions.InvalidAction):            {http.StatusNotFound, hwCodeNotFoundAPI, ""},
	string(actions.RequestSizeLimitExceeded): {http.StatusRequestEntityTooLarge, hwCodeTooLarge, "Request entity too large: "},
	string(actions.RequestLimitExceeded):     {http.StatusTooManyRequests, hwCodeThrottled, "The throttling threshold has been reached: "},
	string(actions.InvalidParameter):         {http.StatusBadRequest, hwCodeParam, "Parameter error: "},
	string(actions.InvalidParameterValue):    {http.StatusBadRequest, hwCodeParam, "Parameter error: "},
	string(actions.MissingParameter):         {http.StatusBadRequest, hwCodeParam, "Parameter error: "},
	string(actions.UnknownParameter):         {http.StatusBadRequest, hwCodeParam, "Parameter error: "},
	string(actions.UnauthorizedOperation):    {http.StatusForbidden, hwCodeForbidden, ""},
	string(actions.ResourceNotFound):         {http.StatusNotFound, hwCodeParam, ""},
	string(actions.InternalError):            {http.StatusInternalServerError, hwCodeServerFailure, ""},
}

var (
	hwAuthAnswer = hwAnswer{http.StatusUnauthorized, hwCodeAuth, "Incorrect IAM authentication information: "}
	hwFailure    = hwAnswer{http.StatusInternalServerError, hwCodeServerFailure, "Server failure: "}
)

// errNullRequest is the cause of the error a POST with an empty body gets
// (Huawei's "request is null", DBS.200006).
var errNullRequest = errors.New("gateway: empty request body")

// huaweiError maps an error to the Huawei door's HTTP status, error_code
// and error_msg: the one place where API errors become Huawei ones. Causes
// that Huawei tells apart come first (an empty body, an unknown instance or
// node), then the API code (every AuthFailure.* is 401 APIGW.0301).
func huaweiError(err error) (status int, code, msg string) {
	var ae *actions.Error
	if !errors.As(err, &ae) {
		return http.StatusInternalServerError, hwCodeServerFailure, "Server failure."
	}
	a, ok := hwAnswers[string(ae.Code)]
	switch {
	case errors.Is(err, errNullRequest):
		a = hwAnswer{http.StatusBadRequest, hwCodeEmpty, ""}
	case errors.Is(err, actions.ErrUnknownInstance):
		a = hwAnswer{http.StatusNotFound, hwCodeNoInstance, ""}
	case errors.Is(err, actions.ErrUnknownNode):
		a = hwAnswer{http.StatusNotFound, hwCodeNoNode, ""}
	case strings.HasPrefix(string(ae.Code), "AuthFailure."):
		a = hwAuthAnswer
	case !ok:
		a = hwFailure
	}
	return a.status, a.code, a.title + ae.Message
}

// errorEnvelope renders {"Response":{"Error":{"Code","Message"},"RequestId"}}.
// It is written by hand: every refused request (rate limit, bad signature)
// ends here, and encoding/json's reflection was a tenth of that path's cost.
func errorEnvelope(code, msg, requestID string) []byte {
	b := make([]byte, 0, 64+len(code)+len(msg)+len(requestID))
	b = append(b, `{"Response":{"Error":{"Code":`...)
	b = appendJSONString(b, code)
	b = append(b, `,"Message":`...)
	b = appendJSONString(b, msg)
	b = append(b, `},"RequestId":`...)
	b = appendJSONString(b, requestID)
	return append(b, `}}`...)
}

// appendJSONString appends s as a JSON string, escaped as encoding/json
// does with HTML escaping off: control characters, quote and backslash,
// U+2028 and U+2029, and invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// writeSuccess writes {"Response":{<fields>,"RequestId":"…"}} into b (reset
// first), encoding the output in place: every answer goes through here, so it costs one
// encode and no copy.
func writeSuccess(b *bytes.Buffer, resp any, requestID string) error {
	b.Reset()
	b.WriteString(`{"Response":`)
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(resp); err != nil {
		return err
	}
	out := bytes.TrimRight(b.Bytes(), " \t\r\n")
	body := out[len(`{"Response":`):]
	if len(body) < 2 || body[0] != '{' || body[len(body)-1] != '}' {
		return errors.New("gateway: action output is not a JSON object")
	}
	b.Truncate(len(out) - 1) // drop the output's closing brace
	if len(body) > 2 {
		b.WriteByte(',')
	}
	b.WriteString(`"RequestId":`)
	b.Write(appendJSONString(b.AvailableBuffer(), requestID))
	b.WriteString(`}}`)
	return nil
}

// envelopePool recycles answer buffers; a buffer that grew past
// maxPooledEnvelope (a large listing) is not kept.
var envelopePool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledEnvelope = 64 << 10

func putEnvelope(b *bytes.Buffer) {
	if b.Cap() <= maxPooledEnvelope {
		envelopePool.Put(b)
	}
}

func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
