package gateway

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"killgate/actions"
	"killgate/ratelimit"
	"killgate/tc3"
)

// Version is the only DBbrain API version served.
const Version = "2021-05-27"

// Request size limits (Tencent API 3.0 "Request Structure").
const (
	maxGETQuery = 32 << 10
	maxV1Body   = 1 << 20
	maxV3Body   = 10 << 20
)

// v1Common are the common parameters of signature v1 requests; they are
// never action parameters, in either signature style.
var v1Common = map[string]bool{
	"Action": true, "Version": true, "Region": true, "Timestamp": true, "Nonce": true,
	"SecretId": true, "Signature": true, "SignatureMethod": true, "Token": true,
	"Language": true, "RequestClient": true,
}

// wireStyle is how a request carries its common parameters and signature.
type wireStyle int

const (
	styleV3JSON wireStyle = iota // POST application/json, TC3 headers
	styleV3GET                   // GET, TC3 headers, flattened query
	styleV1                      // GET query or POST form, v1 params
)

// common holds the common parameters as found, before validation: each
// pipeline stage validates what it needs, so that errors come in the
// documented order.
type common struct {
	style     wireStyle
	action    string
	version   string
	timestamp string
	token     string
	auth      string     // v3 Authorization header
	values    url.Values // v1 / GET: every query or form parameter
	body      []byte
}

// tencent serves the Tencent Cloud API 3.0 door. The stages run in the order
// given in doc.go (and docs/errors.md); the first failing stage's error is
// the answer, rendered by writeTC.
func (s *Server) tencent(c *gin.Context) {
	ri := info(c)
	ri.Door = doorTencent
	ctx := context.WithValue(c.Request.Context(), requestIDKey{}, ri.RequestID)
	resp, err := s.serveTencent(ctx, c.Request, ri)
	s.writeTC(c, resp, err)
}

func (s *Server) serveTencent(ctx context.Context, r *http.Request, ri *reqInfo) (any, error) {
	// Method first among the checks that need nothing else: a PUT is
	// UnsupportedProtocol whatever it carries, and its body is never read.
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		return nil, actions.E(actions.UnsupportedProtocol, "The HTTP method %s is not supported; use POST or GET.", r.Method)
	}
	// Everything that can be checked before the body is (docs/errors.md):
	// content type, declared size, Action, Version, SecretId, token and
	// timestamp window; only then is a body read, within the process-wide
	// body budget, and the signature over it verified.
	cp, err := readHead(r)
	if err != nil {
		return nil, err
	}
	if cp.style == styleV1 && r.Method == http.MethodPost {
		// A v1 form POST carries its common parameters in the body.
		release, err := s.readBody(ctx, r, cp, maxV1Body)
		defer release()
		if err != nil {
			return nil, err
		}
		ri.bodyRead = true
		if err := cp.readForm(); err != nil {
			return nil, err
		}
	}
	if cp.action == "" {
		return nil, actions.E(actions.MissingParameter, "The request is missing a required parameter `Action`.")
	}
	act, ok := s.cfg.Registry.Lookup(cp.action)
	if !ok {
		return nil, actions.E(actions.InvalidAction, "The request `Action` is invalid or not found.")
	}
	ri.Action = act.Name
	switch {
	case cp.version == "":
		return nil, actions.E(actions.MissingParameter, "The request is missing a required parameter `Version`.")
	case cp.version != Version:
		return nil, actions.E(actions.NoSuchVersion, "The API version `%s` does not exist; use %s.", cp.version, Version)
	}
	id, err := s.identify(cp)
	if err != nil {
		return nil, err
	}
	if cp.style == styleV3JSON {
		release, err := s.readBody(ctx, r, cp, maxV3Body)
		defer release()
		if err != nil {
			return nil, err
		}
		ri.bodyRead = true
	}
	cred, err := s.verify(r, cp, id)
	if err != nil {
		return nil, err
	}
	ri.Caller = cred.SecretID
	if len(cred.Actions) > 0 && !slices.Contains(cred.Actions, "*") && !slices.Contains(cred.Actions, act.Name) {
		return nil, actions.E(actions.UnauthorizedOperation, "The credential may not call `%s`.", act.Name)
	}
	if s.cfg.Limiter != nil && !s.cfg.Limiter.Allow(ctx, cred.SecretID+"\x00"+act.Name) {
		return nil, s.rateLimited()
	}
	params, err := cp.params()
	if err != nil {
		return nil, err
	}
	ctx = actions.WithCaller(ctx, actions.Caller{ID: cred.SecretID, Instances: cred.Instances})
	return act.Call(ctx, params)
}

// rateLimited is the RequestLimitExceeded error, quoting the configured
// rate (ratelimit.per_second) when the limiter can tell it.
func (s *Server) rateLimited() error {
	if r, ok := s.cfg.Limiter.(ratelimit.Rater); ok && r.Rate() > 0 {
		return actions.E(actions.RequestLimitExceeded, "Your current request rate exceeds the frequency limit `%s` for a second for this SecretId and action. Please reduce the frequency of calls.",
			strconv.FormatFloat(r.Rate(), 'f', -1, 64))
	}
	return actions.E(actions.RequestLimitExceeded, "Your current request rate exceeds the frequency limit for this SecretId and action. Please reduce the frequency of calls.")
}

// readHead picks up what the request says before its body: the wire style
// from method and content type, the common parameters of the header and
// query styles, and a declared body size over the style's limit.
func readHead(r *http.Request) (*common, error) {
	cp := &common{}
	auth := r.Header.Get("Authorization")
	ctype := r.Header.Get("Content-Type")
	if ctype != "application/json" && ctype != "" { // what every SDK sends: skip the parse
		mt, _, err := mime.ParseMediaType(ctype)
		if err != nil {
			// Unparsable ("@@@", a broken parameter): not JSON by default.
			return nil, actions.E(actions.UnsupportedProtocol, "The content type could not be parsed; use application/json (signature v3) or application/x-www-form-urlencoded (signature v1).")
		}
		ctype = strings.ToLower(mt)
	}
	switch {
	case r.Method == http.MethodGet:
		if len(r.URL.RawQuery) > maxGETQuery {
			return nil, actions.E(actions.RequestSizeLimitExceeded, "The GET request is larger than %d bytes.", maxGETQuery)
		}
		vals, err := url.ParseQuery(r.URL.RawQuery)
		if err != nil {
			return nil, actions.E(actions.InvalidParameter, "The query string is malformed.")
		}
		cp.values = vals
		if auth != "" {
			cp.style = styleV3GET
		} else {
			cp.style = styleV1
		}
	case ctype == "application/x-www-form-urlencoded":
		if r.ContentLength > maxV1Body {
			return nil, bodyError(errBodyTooLarge, maxV1Body)
		}
		if auth != "" {
			return nil, actions.E(actions.UnsupportedProtocol, "A form-urlencoded POST must be signed with signature v1 (HmacSHA1 or HmacSHA256), not an Authorization header.")
		}
		cp.style = styleV1
		return cp, nil // common parameters come with the body (readForm)
	case ctype == "application/json" || ctype == "":
		if r.ContentLength > maxV3Body {
			return nil, bodyError(errBodyTooLarge, maxV3Body)
		}
		cp.style = styleV3JSON
	default:
		return nil, actions.E(actions.UnsupportedProtocol, "The content type `%s` is not supported; use application/json (signature v3) or application/x-www-form-urlencoded (signature v1).", ctype)
	}
	if cp.style == styleV1 {
		cp.setV1Common()
	} else {
		h := r.Header
		cp.action, cp.version, cp.timestamp, cp.token = h.Get("X-TC-Action"), h.Get("X-TC-Version"), h.Get("X-TC-Timestamp"), h.Get("X-TC-Token")
		cp.auth = auth
	}
	return cp, nil
}

func (cp *common) setV1Common() {
	cp.action, cp.version, cp.timestamp, cp.token = first(cp.values, "Action"), first(cp.values, "Version"), first(cp.values, "Timestamp"), first(cp.values, "Token")
}

// readForm parses a v1 form body read into cp.body.
func (cp *common) readForm() error {
	vals, err := url.ParseQuery(string(cp.body))
	if err != nil {
		return actions.E(actions.InvalidParameter, "The form body is malformed.")
	}
	cp.values = vals
	cp.setV1Common()
	return nil
}

// readBody reads the request body into cp.body, within limit and the
// process-wide body budget (body.go). release must be called (also on
// error) once the request is done with the body.
func (s *Server) readBody(ctx context.Context, r *http.Request, cp *common, limit int64) (release func(), err error) {
	body, release, err := s.bodies.readBody(ctx, r.Body, r.ContentLength, limit)
	if err != nil {
		return release, bodyError(err, limit)
	}
	cp.body = body
	return release, nil
}

// bodyError is the API error of a failed body read (both doors).
func bodyError(err error, limit int64) error {
	switch {
	case errors.Is(err, errBodyTooLarge):
		return actions.E(actions.RequestSizeLimitExceeded, "The request body is larger than %d bytes.", limit)
	case errors.Is(err, errBodyBudget):
		return actions.Wrap(actions.RequestLimitExceeded, err, "The server is receiving too many large request bodies at once; retry later.")
	default:
		return actions.Wrap(actions.InvalidParameter, err, "The request body could not be read.")
	}
}

func first(v url.Values, k string) string {
	if vs := v[k]; len(vs) > 0 {
		return vs[0]
	}
	return ""
}

// identity is what identify learnt from the request before its body.
type identity struct {
	cred Credential
	tc3  tc3.Auth // v3 styles
	ts   int64
}

// identify runs the authentication checks that need no body: the
// signature's shape, a configured SecretId, no session token, and the
// timestamp within the window.
func (s *Server) identify(cp *common) (identity, error) {
	var (
		secretID string
		auth     tc3.Auth
	)
	if cp.style == styleV1 {
		secretID = first(cp.values, "SecretId")
		switch {
		case secretID == "":
			return identity{}, actions.E(actions.MissingParameter, "The request is missing a required parameter `SecretId`.")
		case first(cp.values, "Signature") == "":
			return identity{}, actions.E(actions.MissingParameter, "The request is missing a required parameter `Signature`.")
		case first(cp.values, "Nonce") == "":
			return identity{}, actions.E(actions.MissingParameter, "The request is missing a required parameter `Nonce`.")
		}
	} else {
		if cp.auth == "" {
			return identity{}, actions.E(actions.AuthFailureInvalidAuthorization, "The request is not signed: the Authorization header is missing.")
		}
		if cp.auth == "SKIP" {
			return identity{}, actions.E(actions.AuthFailureInvalidAuthorization, "Unsigned requests (Authorization: SKIP) are not accepted.")
		}
		a, err := tc3.ParseAuthorization(cp.auth)
		if err != nil {
			return identity{}, actions.Wrap(actions.AuthFailureInvalidAuthorization, err, "The Authorization header is malformed; expected TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=….")
		}
		auth, secretID = a, a.SecretId
	}
	cred, ok := s.creds[secretID]
	if !ok {
		return identity{}, actions.E(actions.AuthFailureSecretIdNotFound, "The SecretId is not found, please ensure that your SecretId is correct.")
	}
	if cp.token != "" {
		return identity{}, actions.E(actions.AuthFailureTokenFailure, "Session tokens are not supported; sign with a permanent SecretId and SecretKey.")
	}
	if cp.timestamp == "" {
		return identity{}, actions.E(actions.MissingParameter, "The request is missing a required parameter `Timestamp`.")
	}
	ts, err := strconv.ParseInt(cp.timestamp, 10, 64)
	if err != nil {
		return identity{}, actions.E(actions.InvalidParameter, "Parameter `Timestamp` type error: expected Unix seconds.")
	}
	if err := tc3.CheckSkew(ts, s.cfg.Now(), s.cfg.SkewWindow); err != nil {
		return identity{}, actions.Wrap(actions.AuthFailureSignatureExpire, err, "The signature is expired, please request again.")
	}
	return identity{cred: cred, tc3: auth, ts: ts}, nil
}

// verify checks the signature (over the body, for a POST) and returns the
// caller's credential.
func (s *Server) verify(r *http.Request, cp *common, id identity) (Credential, error) {
	var err error
	if cp.style == styleV1 {
		err = tc3.VerifyV1(id.cred.SecretKey, r.Method, r.Host, r.URL.Path, cp.values)
	} else {
		err = s.tc3v.Verify(id.cred.SecretKey, id.tc3, tc3.Request{
			Method: r.Method, Host: r.Host, RawQuery: r.URL.RawQuery,
			ContentType: r.Header.Get("Content-Type"), Headers: r.Header, Body: cp.body,
		}, id.ts)
	}
	switch {
	case err == nil:
		return id.cred, nil
	case errors.Is(err, tc3.ErrMalformed):
		return Credential{}, actions.Wrap(actions.AuthFailureInvalidAuthorization, err, "The Authorization is malformed.")
	default:
		return Credential{}, actions.Wrap(actions.AuthFailureSignatureFailure, err, "The provided credentials could not be validated. Please check your signature is correct.")
	}
}

// params turns the action parameters into the generic map actions.Decode reads.
func (cp *common) params() (map[string]any, error) {
	if cp.style == styleV3JSON {
		return actions.ParseJSON(cp.body)
	}
	// The JSON style rejects non-UTF-8 bodies (actions.ParseJSON); the
	// flattened styles must not let such text through either.
	if err := checkUTF8(cp.values); err != nil {
		return nil, err
	}
	m, err := Unflatten(cp.values, func(k string) bool { return v1Common[k] })
	if err != nil {
		return nil, actions.Wrap(actions.InvalidParameter, err, "%s", strings.TrimPrefix(err.Error(), "gateway: "))
	}
	return m, nil
}

// checkUTF8 refuses query or form parameters whose names or values are not
// valid UTF-8 (InvalidParameter), as actions.ParseJSON refuses such bodies.
func checkUTF8(values url.Values) error {
	for k, vs := range values {
		if !utf8.ValidString(k) {
			return actions.E(actions.InvalidParameter, "A parameter name is not valid UTF-8.")
		}
		for _, v := range vs {
			if !utf8.ValidString(v) {
				return actions.E(actions.InvalidParameter, "The parameter `%s` is not valid UTF-8.", strings.ToValidUTF8(k, "?"))
			}
		}
	}
	return nil
}
