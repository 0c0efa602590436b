package gateway

// Tencent Cloud API 3.0 request signatures: TC3-HMAC-SHA256 (v3) and the
// legacy HmacSHA1 / HmacSHA256 (v1). Pure functions over plain data — no
// *http.Request, no gin — so they can be shared by the server, the CLI, tests
// and the load generator. See docs reference tencent-api3.md §2.
//
// Error mapping (done by the caller):
//   ErrAuthMalformed     → AuthFailure.InvalidAuthorization
//   ErrCredentialScope   → AuthFailure.SignatureFailure (wrong service or date in Credential)
//   ErrSignatureMismatch → AuthFailure.SignatureFailure
//   ErrSignatureExpired  → AuthFailure.SignatureExpire

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sentinel errors returned (possibly wrapped with detail) by the verifiers.
// Test with errors.Is.
var (
	ErrAuthMalformed     = errors.New("malformed authorization")
	ErrSignatureMismatch = errors.New("signature mismatch")
	ErrSignatureExpired  = errors.New("signature expired")
	ErrCredentialScope   = errors.New("credential scope mismatch")
)

const (
	// TC3Algorithm is the Authorization scheme and StringToSign algorithm.
	TC3Algorithm = "TC3-HMAC-SHA256"
	// ServiceDBbrain is the service name that signs DBbrain requests.
	ServiceDBbrain = "dbbrain"
	// DefaultSkewWindow is the accepted |now - timestamp| (both directions).
	DefaultSkewWindow = 300 * time.Second
	// UnsignedPayload as the X-TC-Content-SHA256 header value means the body
	// is not part of the signature.
	UnsignedPayload = "UNSIGNED-PAYLOAD"

	tc3Terminator     = "tc3_request"
	maxAuthHeaderLen  = 4096
	maxSignedHeaders  = 32
	signatureHexLen   = sha256.Size * 2
	maxPooledBufBytes = 64 << 10
)

// hex(SHA256("UNSIGNED-PAYLOAD"))
var unsignedPayloadHash = func() [64]byte {
	var out [64]byte
	sum := sha256.Sum256([]byte(UnsignedPayload))
	hex.Encode(out[:], sum[:])
	return out
}()

// SignedRequest is the part of an HTTP request that signatures cover, as
// plain data. Build it once per request from what was received on the wire.
type SignedRequest struct {
	// Method is the HTTP method as received ("POST", "GET").
	Method string
	// Host is the Host header as received, port included (r.Host).
	Host string
	// RawQuery is the query string exactly as received (r.URL.RawQuery),
	// not re-encoded or re-sorted.
	RawQuery string
	// ContentType is the Content-Type header as received. If empty, the
	// value is looked up in Headers.
	ContentType string
	// Headers supplies any other signed header (e.g. x-tc-action) and
	// X-TC-Content-SHA256. May be nil.
	Headers http.Header
	// Body is the raw request body, before any decoding.
	Body []byte
}

// TC3Auth is a parsed TC3-HMAC-SHA256 Authorization header.
type TC3Auth struct {
	SecretId      string
	Date          string   // credential date, YYYY-MM-DD
	Service       string   // credential service, e.g. "dbbrain"
	SignedHeaders []string // lower-case, strictly sorted, includes content-type and host
	Signature     string   // 64 hex digits
}

// String formats a as an Authorization header value.
func (a TC3Auth) String() string {
	return TC3Algorithm + " Credential=" + a.SecretId + "/" + a.Date + "/" + a.Service + "/" + tc3Terminator +
		", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrAuthMalformed}, args...)...)
}

// ParseTC3Authorization parses an Authorization header of the form
//
//	TC3-HMAC-SHA256 Credential=<SecretId>/<Date>/<Service>/tc3_request, SignedHeaders=<h1;h2>, Signature=<hex>
//
// Fields are comma separated (spaces around them are ignored) and may come in
// any order; each must appear exactly once and no other field is allowed.
// Every failure wraps ErrAuthMalformed.
func ParseTC3Authorization(h string) (TC3Auth, error) {
	var a TC3Auth
	if len(h) > maxAuthHeaderLen {
		return a, malformed("header longer than %d bytes", maxAuthHeaderLen)
	}
	rest, ok := strings.CutPrefix(h, TC3Algorithm+" ")
	if !ok {
		return a, malformed("does not start with %q", TC3Algorithm+" ")
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
	if !ok1 || !ok2 || !ok3 || secretID == "" || date == "" || service == "" || term != tc3Terminator {
		return "", "", "", malformed("Credential is not SecretId/Date/Service/%s", tc3Terminator)
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

// CheckSkew reports ErrSignatureExpired when ts (Unix seconds) is more than
// window away from now, in either direction. window <= 0 means
// DefaultSkewWindow. The boundary itself is accepted.
func CheckSkew(ts int64, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultSkewWindow
	}
	n, w := now.Unix(), int64(window/time.Second)
	// Written so that no extreme ts can overflow.
	if ts < n-w || ts > n+w {
		return fmt.Errorf("%w: timestamp %d is more than %s from server time %d", ErrSignatureExpired, ts, window, n)
	}
	return nil
}

// ---------------------------------------------------------------------------
// TC3-HMAC-SHA256

// VerifyTC3 checks a TC3-HMAC-SHA256 signature. service is the expected
// credential service (ServiceDBbrain for this server); timestamp is the
// X-TC-Timestamp value. The credential date must be the UTC date of
// timestamp. Clock skew is not checked here: call CheckSkew.
//
// The canonical headers are rebuilt from req in SignedHeaders order, values
// trimmed; the signature is accepted if it matches the values as received
// (what the SDKs sign) or their lower-cased form (what the docs describe).
func VerifyTC3(secretKey, service string, auth TC3Auth, req SignedRequest, timestamp int64) error {
	if err := checkSignedHeaders(auth.SignedHeaders); err != nil {
		return err
	}
	var want [sha256.Size]byte
	if !decodeHex(want[:], auth.Signature) {
		return malformed("Signature is not %d hex digits", signatureHexLen)
	}
	if auth.Service != service {
		return fmt.Errorf("%w: credential service %q, want %q", ErrCredentialScope, auth.Service, service)
	}
	var dateBuf [16]byte
	date := tc3Date(dateBuf[:0], timestamp)
	if string(date) != auth.Date {
		return fmt.Errorf("%w: credential date %q is not the UTC date %s of timestamp %d",
			ErrCredentialScope, auth.Date, string(date), timestamp)
	}

	key, cached := signingKeys.get(secretKey, auth.Date, service)
	if !cached {
		key = deriveTC3Key(secretKey, auth.Date, service)
	}

	bp := getBuf()
	defer putBuf(bp)
	got := tc3Signature(bp, &key, req, auth.SignedHeaders, timestamp, auth.Date, service, false)
	ok := hmac.Equal(got[:], want[:])
	if !ok && needsLowerVariant(req, auth.SignedHeaders) {
		got = tc3Signature(bp, &key, req, auth.SignedHeaders, timestamp, auth.Date, service, true)
		ok = hmac.Equal(got[:], want[:])
	}
	if !ok {
		return ErrSignatureMismatch
	}
	if !cached {
		// Only verified keys enter the cache, so failed guesses cannot churn it.
		signingKeys.put(secretKey, auth.Date, service, key)
	}
	return nil
}

// SignTC3 signs a request the way the Go SDK does (SignedHeaders
// "content-type;host") and returns the Authorization header value.
func SignTC3(secretId, secretKey, service, host, contentType string, timestamp int64,
	method, rawQuery string, body []byte) string {
	var dateBuf [16]byte
	date := string(tc3Date(dateBuf[:0], timestamp))
	key := deriveTC3Key(secretKey, date, service)
	req := SignedRequest{Method: method, Host: host, RawQuery: rawQuery, ContentType: contentType, Body: body}
	signed := []string{"content-type", "host"}
	bp := getBuf()
	defer putBuf(bp)
	sig := tc3Signature(bp, &key, req, signed, timestamp, date, service, false)
	return TC3Auth{
		SecretId:      secretId,
		Date:          date,
		Service:       service,
		SignedHeaders: signed,
		Signature:     hex.EncodeToString(sig[:]),
	}.String()
}

// tc3Date appends the UTC calendar date of ts as YYYY-MM-DD.
func tc3Date(dst []byte, ts int64) []byte {
	return time.Unix(ts, 0).UTC().AppendFormat(dst, "2006-01-02")
}

func deriveTC3Key(secretKey, date, service string) [sha256.Size]byte {
	bp := getBuf()
	defer putBuf(bp)
	b := (*bp)[:0]
	// kDate = HMAC("TC3"+SecretKey, Date)
	b = append(b, "TC3"...)
	b = append(b, secretKey...)
	keyLen := len(b)
	b = append(b, make([]byte, hmacBlock)...)
	b = append(b, date...)
	k, _ := hmacSum(true, b[:keyLen], b[keyLen:])
	// kService = HMAC(kDate, Service)
	b = append(b[:hmacBlock], service...)
	k, _ = hmacSum(true, k[:sha256.Size], b)
	// kSigning = HMAC(kService, "tc3_request")
	b = append(b[:hmacBlock], tc3Terminator...)
	k, _ = hmacSum(true, k[:sha256.Size], b)
	clear(b[:cap(b)]) // do not leave key material in the pooled buffer
	*bp = b
	var out [sha256.Size]byte
	copy(out[:], k[:sha256.Size])
	return out
}

// needsLowerVariant reports whether lower-casing the signed header values
// would change any of them.
func needsLowerVariant(req SignedRequest, names []string) bool {
	for _, name := range names {
		v := signedHeaderValue(req, name)
		for i := 0; i < len(v); i++ {
			if c := v[i]; (c >= 'A' && c <= 'Z') || c >= 0x80 {
				return true
			}
		}
	}
	return false
}

func signedHeaderValue(req SignedRequest, name string) string {
	var v string
	switch name {
	case "host":
		v = req.Host
	case "content-type":
		v = req.ContentType
		if v == "" {
			v = req.Headers.Get("Content-Type")
		}
	default:
		if req.Headers != nil {
			if vs := req.Headers[textproto.CanonicalMIMEHeaderKey(name)]; len(vs) > 0 {
				v = vs[0]
			}
		}
	}
	return strings.TrimSpace(v)
}

// tc3Signature computes the raw signature. *bp is scratch space.
func tc3Signature(bp *[]byte, key *[sha256.Size]byte, req SignedRequest, names []string,
	timestamp int64, date, service string, lower bool) [sha256.Size]byte {
	// Payload hash.
	var payloadHex [64]byte
	if req.Headers != nil && req.Headers.Get("X-Tc-Content-Sha256") == UnsignedPayload {
		payloadHex = unsignedPayloadHash
	} else {
		sum := sha256.Sum256(req.Body)
		hex.Encode(payloadHex[:], sum[:])
	}

	// Canonical request.
	b := (*bp)[:0]
	b = append(b, req.Method...)
	b = append(b, "\n/\n"...)
	b = append(b, req.RawQuery...)
	b = append(b, '\n')
	for _, name := range names {
		v := signedHeaderValue(req, name)
		if lower {
			v = strings.ToLower(v)
		}
		b = append(b, name...)
		b = append(b, ':')
		b = append(b, v...)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	for i, name := range names {
		if i > 0 {
			b = append(b, ';')
		}
		b = append(b, name...)
	}
	b = append(b, '\n')
	b = append(b, payloadHex[:]...)
	crHash := sha256.Sum256(b)

	// StringToSign, placed after a block reserved for the HMAC inner pad.
	b = append(b[:0], make([]byte, hmacBlock)...)
	b = append(b, TC3Algorithm+"\n"...)
	b = strconv.AppendInt(b, timestamp, 10)
	b = append(b, '\n')
	b = append(b, date...)
	b = append(b, '/')
	b = append(b, service...)
	b = append(b, "/"+tc3Terminator+"\n"...)
	var crHex [64]byte
	hex.Encode(crHex[:], crHash[:])
	b = append(b, crHex[:]...)
	mac, _ := hmacSum(true, key[:], b)
	*bp = b
	var out [sha256.Size]byte
	copy(out[:], mac[:sha256.Size])
	return out
}

// ---------------------------------------------------------------------------
// Signature v1 (HmacSHA1 / HmacSHA256)

// VerifyV1 checks a v1 signature. params holds every request parameter
// (common and action parameters, URL-decoded), including Signature.
// SignatureMethod "HmacSHA256" selects HMAC-SHA256, anything else
// HMAC-SHA1. A repeated parameter, a missing or empty Signature, or an
// empty parameter set wrap ErrAuthMalformed. Skew is not checked: call
// CheckSkew on the Timestamp parameter.
func VerifyV1(secretKey, method, host, path string, params url.Values) error {
	if len(params) == 0 {
		return malformed("no parameters")
	}
	for k, vs := range params {
		if len(vs) != 1 {
			return malformed("parameter %q given %d times", k, len(vs))
		}
	}
	sig := params["Signature"]
	if len(sig) == 0 || sig[0] == "" {
		return malformed("Signature missing")
	}
	bp := getBuf()
	defer putBuf(bp)
	mac, n := v1MAC(bp, secretKey, method, host, path, params)
	var enc [44]byte // base64 of 32 bytes
	base64.StdEncoding.Encode(enc[:], mac[:n])
	ours := enc[:base64.StdEncoding.EncodedLen(n)]
	var given [44]byte
	if len(sig[0]) != len(ours) {
		return ErrSignatureMismatch
	}
	copy(given[:], sig[0])
	if !hmac.Equal(ours, given[:len(ours)]) {
		return ErrSignatureMismatch
	}
	return nil
}

// SignV1 returns the base64 v1 signature for params (any Signature entry is
// ignored; for a repeated key the first value is used).
func SignV1(secretKey, method, host, path string, params url.Values) string {
	bp := getBuf()
	defer putBuf(bp)
	mac, n := v1MAC(bp, secretKey, method, host, path, params)
	return base64.StdEncoding.EncodeToString(mac[:n])
}

func v1MAC(bp *[]byte, secretKey, method, host, path string, params url.Values) ([sha256.Size]byte, int) {
	var keysArr [48]string
	keys := keysArr[:0]
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if path == "" {
		path = "/"
	}
	b := append((*bp)[:0], make([]byte, hmacBlock)...)
	b = append(b, method...)
	b = append(b, host...)
	b = append(b, path...)
	b = append(b, '?')
	for i, k := range keys {
		if i > 0 {
			b = append(b, '&')
		}
		b = append(b, k...)
		b = append(b, '=')
		if vs := params[k]; len(vs) > 0 {
			b = append(b, vs[0]...)
		}
	}
	*bp = b
	use256 := params.Get("SignatureMethod") == "HmacSHA256"
	return hmacSum(use256, secretKey, b)
}

// ---------------------------------------------------------------------------
// HMAC without per-call allocation.

const hmacBlock = 64 // block size of both SHA-1 and SHA-256

// hmacSum computes HMAC-SHA256 (or HMAC-SHA1 when !use256) of the message
// b[hmacBlock:]; the first hmacBlock bytes of b are scratch space and are
// overwritten. It returns the MAC in the first n bytes of the array.
func hmacSum[K string | []byte](use256 bool, key K, b []byte) (out [sha256.Size]byte, n int) {
	var k [hmacBlock]byte
	if len(key) > hmacBlock {
		if use256 {
			s := sha256.Sum256([]byte(key))
			copy(k[:], s[:])
		} else {
			s := sha1.Sum([]byte(key))
			copy(k[:], s[:])
		}
	} else {
		copy(k[:], key)
	}
	for i := range hmacBlock {
		b[i] = k[i] ^ 0x36
	}
	var ob [hmacBlock + sha256.Size]byte
	for i := range hmacBlock {
		ob[i] = k[i] ^ 0x5c
	}
	if use256 {
		inner := sha256.Sum256(b)
		copy(ob[hmacBlock:], inner[:])
		return sha256.Sum256(ob[:]), sha256.Size
	}
	inner := sha1.Sum(b)
	copy(ob[hmacBlock:], inner[:])
	s := sha1.Sum(ob[:hmacBlock+sha1.Size])
	copy(out[:], s[:])
	return out, sha1.Size
}

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

// ---------------------------------------------------------------------------
// Scratch buffers and the derived-key cache.

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 1024)
	return &b
}}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(bp *[]byte) {
	if cap(*bp) > maxPooledBufBytes {
		return // do not keep a huge buffer alive after one big request
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}

// keyCache caches TC3 signing keys per (secret key, date, service). Deriving
// one costs three HMACs, about half of a verification. The cache is bounded;
// with a handful of credentials and one or two live dates it never fills.
type keyCache struct {
	mu  sync.RWMutex
	m   map[keyCacheKey][sha256.Size]byte
	max int
}

type keyCacheKey struct{ secret, date, service string }

const signingKeyCacheSize = 1024

var signingKeys = &keyCache{m: make(map[keyCacheKey][sha256.Size]byte), max: signingKeyCacheSize}

func (c *keyCache) get(secret, date, service string) ([sha256.Size]byte, bool) {
	c.mu.RLock()
	k, ok := c.m[keyCacheKey{secret, date, service}]
	c.mu.RUnlock()
	return k, ok
}

func (c *keyCache) put(secret, date, service string, k [sha256.Size]byte) {
	c.mu.Lock()
	if len(c.m) >= c.max {
		// Drop an arbitrary entry (map order is randomised); old dates age
		// out this way without any bookkeeping on the hot path.
		for old := range c.m {
			delete(c.m, old)
			break
		}
	}
	c.m[keyCacheKey{secret, date, service}] = k
	c.mu.Unlock()
}
