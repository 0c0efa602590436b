package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"killgate/actions"
)

// Huawei Cloud API authentication, as the Huawei Go SDK
// (huaweicloud-sdk-go-v3 core/auth/signer) produces it:
//
//   - X-Auth-Token: an IAM token; killgate accepts the configured values
//     (compared in constant time).
//   - AK/SK: Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b,
//     Signature=hex, with X-Sdk-Date (20060102T150405Z, ±15 min) among the
//     signed headers. The canonical request is
//     METHOD \n URI/ \n QUERY \n HEADERS \n \n SIGNED \n hex(sha256(body))
//     and the string to sign "SDK-HMAC-SHA256\n" + X-Sdk-Date + "\n" +
//     hex(sha256(canonical request)).

// Huawei signature constants.
const (
	HuaweiAlgorithm   = "SDK-HMAC-SHA256"
	HuaweiDateFormat  = "20060102T150405Z"
	HuaweiSkewWindow  = 15 * time.Minute
	hwHeaderDate      = "X-Sdk-Date"
	hwHeaderToken     = "X-Auth-Token"
	hwHeaderProject   = "X-Project-Id"
	hwHeaderSecToken  = "X-Security-Token"
	hwHeaderContent   = "X-Sdk-Content-Sha256"
	hwUnsignedPayload = "UNSIGNED-PAYLOAD"
)

// reProjectID is the documented project id shape.
var reProjectID = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// authErr is a refused Huawei authentication (401 APIGW.0301, see
// huaweiError); cause is logged, never sent.
func authErr(cause error, format string, args ...any) error {
	return actions.Wrap(actions.AuthFailureInvalidAuthorization, cause, format, args...)
}

// huaweiSecrets returns the Huawei door's secrets for log redaction.
func huaweiSecrets(c HuaweiConfig) []string {
	out := append([]string(nil), c.Tokens...)
	for _, sk := range c.Keys {
		out = append(out, sk)
	}
	return out
}

// validateHuawei checks the Huawei door's configuration.
func validateHuawei(c HuaweiConfig) error {
	if !reProjectID.MatchString(c.ProjectID) {
		return errors.New("gateway: huawei.project_id must be 32 letters or digits")
	}
	for _, t := range c.Tokens {
		if len(t) < 8 {
			return errors.New("gateway: a huawei token is shorter than 8 characters")
		}
	}
	for ak, sk := range c.Keys {
		if ak == "" || sk == "" {
			return errors.New("gateway: a huawei key has an empty ak or sk")
		}
	}
	return nil
}

// hwIdentity is what huaweiIdentify learnt before the body: the caller,
// and for an AK/SK signature what huaweiVerify needs.
type hwIdentity struct {
	caller string
	sk     string // "" for a token: nothing left to verify
	auth   HuaweiAuth
}

// huaweiIdentify checks what needs no body: X-Auth-Token completely, or
// for an SDK-HMAC-SHA256 signature its shape, a configured AK and
// X-Sdk-Date (signed, within ±15 minutes). The caller identity is
// "token#N" for the N-th configured token, the AK otherwise (logs, rate
// limits).
func (s *Server) huaweiIdentify(r *http.Request) (hwIdentity, error) {
	cfg := s.cfg.Huawei
	if r.Header.Get(hwHeaderSecToken) != "" {
		return hwIdentity{}, authErr(nil, "temporary credentials (X-Security-Token) are not supported; use a permanent AK/SK or a token.")
	}
	if tok := r.Header.Get(hwHeaderToken); tok != "" {
		if i := matchToken(tok, cfg.Tokens); i > 0 {
			return hwIdentity{caller: "token#" + strconv.Itoa(i)}, nil
		}
		return hwIdentity{}, authErr(nil, "the X-Auth-Token is not valid.")
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return hwIdentity{}, authErr(nil, "the request carries neither X-Auth-Token nor an SDK-HMAC-SHA256 Authorization header.")
	}
	a, err := parseHuaweiAuthorization(auth)
	if err != nil {
		return hwIdentity{}, authErr(err, "the Authorization header is malformed; expected %s Access=…, SignedHeaders=…, Signature=….", HuaweiAlgorithm)
	}
	sk, ok := cfg.Keys[a.Access]
	if !ok {
		return hwIdentity{}, authErr(nil, "the AK is not valid.")
	}
	dateHdr := r.Header.Get(hwHeaderDate)
	if dateHdr == "" {
		return hwIdentity{}, authErr(nil, "the %s header is missing.", hwHeaderDate)
	}
	if !containsString(a.SignedHeaders, strings.ToLower(hwHeaderDate)) {
		return hwIdentity{}, authErr(nil, "%s must be one of the SignedHeaders.", hwHeaderDate)
	}
	ts, err := time.Parse(HuaweiDateFormat, dateHdr)
	if err != nil {
		return hwIdentity{}, authErr(err, "the %s header must look like 20060102T150405Z.", hwHeaderDate)
	}
	if d := s.cfg.Now().Sub(ts); d > HuaweiSkewWindow || d < -HuaweiSkewWindow {
		return hwIdentity{}, authErr(nil, "the signature has expired: %s is more than 15 minutes away from the server time.", hwHeaderDate)
	}
	return hwIdentity{caller: a.Access, sk: sk, auth: a}, nil
}

// huaweiVerify checks an SDK-HMAC-SHA256 signature over the request and its
// body (nothing to do for a token).
func huaweiVerify(r *http.Request, id hwIdentity, body []byte) error {
	if id.sk == "" {
		return nil
	}
	want, err := HuaweiSignature(id.sk, r, id.auth.SignedHeaders, body)
	if err != nil {
		return authErr(err, "%s", err.Error())
	}
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(id.auth.Signature))) {
		return authErr(nil, "the signature does not match; check the SK and that the request was not changed after signing.")
	}
	return nil
}

// huaweiAuthenticate checks X-Auth-Token, or else the SDK-HMAC-SHA256
// signature (with the body), and returns the caller identity.
func (s *Server) huaweiAuthenticate(r *http.Request, body []byte) (string, error) {
	id, err := s.huaweiIdentify(r)
	if err != nil {
		return "", err
	}
	if err := huaweiVerify(r, id, body); err != nil {
		return "", err
	}
	return id.caller, nil
}

// matchToken returns the 1-based index of the configured token equal to
// tok, or 0. Every configured token is compared (no early exit), through
// their SHA-256 digests so that lengths do not leak either.
func matchToken(tok string, tokens []string) int {
	got := sha256.Sum256([]byte(tok))
	found := 0
	for i, t := range tokens {
		want := sha256.Sum256([]byte(t))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 && found == 0 {
			found = i + 1
		}
	}
	return found
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// HuaweiAuth is a parsed SDK-HMAC-SHA256 Authorization header.
type HuaweiAuth struct {
	Access        string
	SignedHeaders []string // lower case, as sent
	Signature     string
}

// parseHuaweiAuthorization parses
// "SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex".
func parseHuaweiAuthorization(h string) (HuaweiAuth, error) {
	var a HuaweiAuth
	rest, ok := strings.CutPrefix(h, HuaweiAlgorithm+" ")
	if !ok {
		return a, fmt.Errorf("algorithm is not %s", HuaweiAlgorithm)
	}
	seen := map[string]bool{}
	for part := range strings.SplitSeq(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || seen[k] {
			return a, errors.New("bad or repeated field")
		}
		seen[k] = true
		switch k {
		case "Access":
			a.Access = v
		case "SignedHeaders":
			for _, sh := range strings.Split(v, ";") {
				if sh == "" || sh != strings.ToLower(sh) {
					return a, errors.New("SignedHeaders must be lower-case names separated by ;")
				}
				a.SignedHeaders = append(a.SignedHeaders, sh)
			}
		case "Signature":
			a.Signature = v
		default:
			return a, fmt.Errorf("unknown field %q", k)
		}
	}
	if a.Access == "" || len(a.SignedHeaders) == 0 || a.Signature == "" {
		return a, errors.New("Access, SignedHeaders and Signature are required")
	}
	if _, err := hex.DecodeString(a.Signature); err != nil || len(a.Signature) != 64 {
		return a, errors.New("Signature must be 64 hex digits")
	}
	return a, nil
}

// HuaweiSignature computes the hex SDK-HMAC-SHA256 signature of r (with its
// body) over signedHeaders, keyed by sk. The request's X-Sdk-Date is the
// signing time. It is exported for tests and tools that sign requests.
func HuaweiSignature(sk string, r *http.Request, signedHeaders []string, body []byte) (string, error) {
	cr, err := huaweiCanonicalRequest(r, signedHeaders, body)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(cr))
	sts := HuaweiAlgorithm + "\n" + r.Header.Get(hwHeaderDate) + "\n" + hex.EncodeToString(sum[:])
	m := hmac.New(sha256.New, []byte(sk))
	m.Write([]byte(sts))
	return hex.EncodeToString(m.Sum(nil)), nil
}

func huaweiCanonicalRequest(r *http.Request, signedHeaders []string, body []byte) (string, error) {
	bodySum := sha256.Sum256(body)
	payload := hex.EncodeToString(bodySum[:])
	if v := r.Header.Get(hwHeaderContent); v != "" {
		switch {
		case v == hwUnsignedPayload && len(body) == 0:
			payload = v
		case strings.EqualFold(v, payload):
			payload = v
		default:
			return "", fmt.Errorf("%s does not match the body", hwHeaderContent)
		}
	}
	// URI: each segment escaped, always ending in "/".
	segs := strings.Split(r.URL.Path, "/")
	for i, s := range segs {
		segs[i] = hwEscape(s)
	}
	uri := strings.Join(segs, "/")
	if !strings.HasSuffix(uri, "/") {
		uri += "/"
	}
	// Query: keys sorted, each key's values sorted, both escaped.
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "", errors.New("the query string is malformed")
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var qs []string
	for _, k := range keys {
		vs := append([]string(nil), q[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			qs = append(qs, hwEscape(k)+"="+hwEscape(v))
		}
	}
	// Headers: "name:value" per signed header, host from the request line.
	var hs []string
	for _, name := range signedHeaders {
		var vals []string
		if name == "host" {
			vals = []string{r.Host}
		} else {
			vals = append(vals, r.Header.Values(name)...)
		}
		if len(vals) == 0 {
			return "", fmt.Errorf("signed header %q is missing from the request", name)
		}
		sort.Strings(vals)
		for _, v := range vals {
			hs = append(hs, name+":"+strings.TrimSpace(v))
		}
	}
	return r.Method + "\n" + uri + "\n" + strings.Join(qs, "&") + "\n" + strings.Join(hs, "\n") + "\n\n" +
		strings.Join(signedHeaders, ";") + "\n" + payload, nil
}

// hwEscape percent-encodes everything but A-Z a-z 0-9 - _ . ~ (upper-case
// hex), as the SDK signer does.
func hwEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
