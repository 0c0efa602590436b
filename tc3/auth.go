package tc3

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors returned (possibly wrapped with detail) by the parsers and
// verifiers. Test with errors.Is.
var (
	ErrMalformed = errors.New("malformed authorization")
	ErrMismatch  = errors.New("signature mismatch")
	ErrExpired   = errors.New("signature expired")
	ErrScope     = errors.New("credential scope mismatch")
)

const (
	// Algorithm is the Authorization scheme and StringToSign algorithm.
	Algorithm = "TC3-HMAC-SHA256"
	// ServiceDBbrain is the service name that signs DBbrain requests, the
	// service killgate serves.
	ServiceDBbrain = "dbbrain"
	// DefaultSkewWindow is the accepted |now - timestamp| (both directions).
	DefaultSkewWindow = 300 * time.Second
	// UnsignedPayload as the X-TC-Content-SHA256 header value means the body
	// is not part of the signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	terminator       = "tc3_request"
	maxAuthHeaderLen = 4096
	maxSignedHeaders = 32
	signatureHexLen  = sha256.Size * 2
)

// Auth is a parsed TC3-HMAC-SHA256 Authorization header.
type Auth struct {
	SecretId      string
	Date          string   // credential date, YYYY-MM-DD
	Service       string   // credential service, e.g. "dbbrain"
	SignedHeaders []string // lower-case, strictly sorted, includes content-type and host
	Signature     string   // 64 hex digits
}

// String formats a as an Authorization header value.
func (a Auth) String() string {
	return Algorithm + " Credential=" + a.SecretId + "/" + a.Date + "/" + a.Service + "/" + terminator +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// ParseAuthorization parses an Authorization header of the form
//
//	TC3-HMAC-SHA256 Credential=<SecretId>/<Date>/<Service>/tc3_request, SignedHeaders=<h1;h2>, Signature=<hex>
//
// Fields are comma separated (spaces around them are ignored) and may come in
// any order; each must appear exactly once and no other field is allowed.
// Every failure wraps ErrMalformed.
func ParseAuthorization(h string) (Auth, error) {
	var a Auth
	if len(h) > maxAuthHeaderLen {
		return a, malformed("header longer than %d bytes", maxAuthHeaderLen)
	}
	rest, ok := strings.CutPrefix(h, Algorithm+" ")
	if !ok {
		return a, malformed("does not start with %q", Algorithm+" ")
	}
	var haveCred, haveSH, haveSig bool
	for rest != "" {
		var part string
		var more bool
		part, rest, more = strings.Cut(rest, ",")
		if more && strings.TrimSpace(rest) == "" {
			return a, malformed("trailing comma")
		}
		part = strings.TrimSpace(part)
		name, value, ok := strings.Cut(part, "=")
		if !ok || value == "" {
			return a, malformed("field %q is not name=value", part)
		}
		switch name {
		case "Credential":
			if haveCred {
				return a, malformed("Credential repeated")
			}
			haveCred = true
			var err error
			if a.SecretId, a.Date, a.Service, err = parseCredential(value); err != nil {
				return a, err
			}
		case "SignedHeaders":
			if haveSH {
				return a, malformed("SignedHeaders repeated")
			}
			haveSH = true
			sh, err := parseSignedHeaders(value)
			if err != nil {
				return a, err
			}
			a.SignedHeaders = sh
		case "Signature":
			if haveSig {
				return a, malformed("Signature repeated")
			}
			haveSig = true
			if !isHex(value, signatureHexLen) {
				return a, malformed("Signature is not %d hex digits", signatureHexLen)
			}
			a.Signature = value
		default:
			return a, malformed("unknown field %q", name)
		}
	}
	switch {
	case !haveCred:
		return a, malformed("Credential missing")
	case !haveSH:
		return a, malformed("SignedHeaders missing")
	case !haveSig:
		return a, malformed("Signature missing")
	}
	return a, nil
}

func parseCredential(v string) (secretID, date, service string, err error) {
	secretID, v, ok1 := strings.Cut(v, "/")
	date, v, ok2 := strings.Cut(v, "/")
	service, term, ok3 := strings.Cut(v, "/")
	if !ok1 || !ok2 || !ok3 || secretID == "" || date == "" || service == "" || term != terminator {
		return "", "", "", malformed("Credential is not SecretId/Date/Service/%s", terminator)
	}
	if !isDateShape(date) {
		return "", "", "", malformed("Credential date %q is not YYYY-MM-DD", date)
	}
	return secretID, date, service, nil
}

func isDateShape(s string) bool {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i != 4 && i != 7 && (s[i] < '0' || s[i] > '9') {
			return false
		}
	}
	return true
}

func parseSignedHeaders(v string) ([]string, error) {
	n := strings.Count(v, ";") + 1
	if n > maxSignedHeaders {
		return nil, malformed("more than %d SignedHeaders", maxSignedHeaders)
	}
	out := make([]string, 0, n)
	for name := range strings.SplitSeq(v, ";") {
		if !isLowerToken(name) {
			return nil, malformed("SignedHeaders entry %q is not a lower-case header name", name)
		}
		if len(out) > 0 && name <= out[len(out)-1] {
			return nil, malformed("SignedHeaders not strictly sorted at %q", name)
		}
		out = append(out, name)
	}
	if err := checkSignedHeaders(out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkSignedHeaders re-checks the invariants of a (possibly hand-built)
// SignedHeaders list without allocating.
func checkSignedHeaders(names []string) error {
	if len(names) == 0 || len(names) > maxSignedHeaders {
		return malformed("SignedHeaders must name 1..%d headers", maxSignedHeaders)
	}
	var haveCT, haveHost bool
	for i, name := range names {
		if !isLowerToken(name) {
			return malformed("SignedHeaders entry %q is not a lower-case header name", name)
		}
		if i > 0 && name <= names[i-1] {
			return malformed("SignedHeaders not strictly sorted at %q", name)
		}
		switch name {
		case "content-type":
			haveCT = true
		case "host":
			haveHost = true
		}
	}
	if !haveCT || !haveHost {
		return malformed("SignedHeaders must include content-type and host")
	}
	return nil
}

// isLowerToken reports whether s is a non-empty HTTP header name (RFC 9110
// token) without upper-case letters.
func isLowerToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if fromHex(s[i]) > 15 {
			return false
		}
	}
	return true
}

func fromHex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 255
}

// decodeHex decodes s, which must be exactly 2*len(dst) hex digits of either
// case, into dst.
func decodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		hi, lo := fromHex(s[2*i]), fromHex(s[2*i+1])
		if hi > 15 || lo > 15 {
			return false
		}
		dst[i] = hi<<4 | lo
	}
	return true
}

// CheckSkew reports ErrExpired when ts (Unix seconds) is more than window
// away from now, in either direction. window <= 0 means DefaultSkewWindow.
// The boundary itself is accepted.
func CheckSkew(ts int64, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultSkewWindow
	}
	n, w := now.Unix(), int64(window/time.Second)
	// Written so that no extreme ts can overflow.
	if ts < n-w || ts > n+w {
		return fmt.Errorf("%w: timestamp %d is more than %s from server time %d", ErrExpired, ts, window, n)
	}
	return nil
}
