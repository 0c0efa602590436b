package tc3

import (
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
)

// Verifier checks TC3-HMAC-SHA256 signatures for one service and keeps the
// signing keys of verified requests. Deriving a key costs three HMACs, more
// than the rest of a verification; the cache is bounded, keyed by SecretId,
// date and service, and only keys that just verified a request enter it, so
// failed guesses cannot churn it. Safe for concurrent use.
type Verifier struct {
	service string

	mu      sync.RWMutex
	keys    map[keyID]cachedKey
	maxKeys int
}

type keyID struct{ secretID, date, service string }

// cachedKey is a derived signing key and the secret key it was derived
// from: a hit counts only for the same secret, so a Verifier shared by
// credential sets that reuse a SecretId never answers with another's key.
type cachedKey struct {
	secret string
	key    [sha256.Size]byte
}

// DefaultKeyCacheSize bounds a Verifier's key cache. With a handful of
// credentials and one or two live dates it never fills.
const DefaultKeyCacheSize = 1024

// NewVerifier returns a Verifier for service (ServiceDBbrain for killgate).
func NewVerifier(service string) *Verifier {
	return &Verifier{service: service, keys: make(map[keyID]cachedKey), maxKeys: DefaultKeyCacheSize}
}

// Verify checks a TC3-HMAC-SHA256 signature made with secretKey. timestamp
// is the X-TC-Timestamp value; the credential date must be its UTC date.
// Clock skew is not checked here: call CheckSkew.
//
// The Tencent SDKs do not agree on the credential scope and the host line
// when they talk to an endpoint of their user's choosing (docs/sdks.md):
//
//   - Go and Python sign the SDK's service name ("dbbrain") and the endpoint
//     as the host line, port included;
//   - Java signs the endpoint's first dot-separated label as the service
//     ("127" for 127.0.0.1:8080, "killgate" for killgate.internal:8080) and
//     the endpoint, port included;
//   - Node.js signs that same label and the host line without the port,
//     while sending the port in its Host header.
//
// So the credential service must be the Verifier's service or the first
// label of req.Host, compared without regard to case (hosts are
// case-insensitive; the HMAC still covers the service exactly as the client
// wrote it). A host under tencentcloudapi.com earns no label: its first
// label names a real Tencent service, and a signature made for that service
// must not be accepted here. Any other service is ErrScope.
//
// The canonical headers are rebuilt from req in SignedHeaders order, values
// trimmed. The signature is then checked against at most four canonical
// requests, each a full HMAC under the key derived from secretKey: the host
// line as received, then without its port (when it has one), each with the
// header values as received (what the SDKs sign) and, when that differs,
// lower-cased (what the docs describe). The Go SDK's request matches the
// first.
func (v *Verifier) Verify(secretKey string, auth Auth, req Request, timestamp int64) error {
	if err := checkSignedHeaders(auth.SignedHeaders); err != nil {
		return err
	}
	var want [sha256.Size]byte
	if !decodeHex(want[:], auth.Signature) {
		return malformed("Signature is not %d hex digits", signatureHexLen)
	}
	host := strings.TrimSpace(req.Host)
	if auth.Service != v.service && !isHostLabel(auth.Service, host) {
		return fmt.Errorf("%w: credential service %q is neither %q nor the first label of the host %q",
			ErrScope, auth.Service, v.service, host)
	}
	var dateBuf [16]byte
	if date := utcDate(dateBuf[:0], timestamp); string(date) != auth.Date {
		return fmt.Errorf("%w: credential date %q is not the UTC date %s of timestamp %d",
			ErrScope, auth.Date, date, timestamp)
	}

	id := keyID{auth.SecretId, auth.Date, auth.Service}
	key, cached := v.get(id, secretKey)
	if !cached {
		key = deriveKey(secretKey, auth.Date, auth.Service)
	}

	payload := payloadHash(&req)
	bp := getBuf()
	defer putBuf(bp)
	var buf [maxCandidates]candidate
	ok := false
	for _, c := range candidates(&buf, host, needsLower(&req, auth.SignedHeaders)) {
		got := signature(bp, &key, &req, auth.SignedHeaders, c.host, &payload, timestamp, auth.Date, auth.Service, c.lower)
		if ok = hmac.Equal(got[:], want[:]); ok {
			break
		}
	}
	if !ok {
		return ErrMismatch
	}
	if !cached {
		v.put(id, secretKey, key)
	}
	return nil
}

// candidate is one canonical request Verify tries: the host line, and
// whether every signed header value is lower-cased.
type candidate struct {
	host  string
	lower bool
}

// maxCandidates bounds the HMACs one verification may compute.
const maxCandidates = 4

// candidates lists, in order, the canonical requests to try for a request
// received with Host host: as received first (the Go SDK's request), then
// lower-cased, then both again without the port. Variants that would repeat
// an earlier one are left out. lowerOthers says whether lower-casing changes
// a signed header other than host.
func candidates(dst *[maxCandidates]candidate, host string, lowerOthers bool) []candidate {
	lower := lowerOthers || hasUpper(host)
	out := append(dst[:0], candidate{host, false})
	if lower {
		out = append(out, candidate{host, true})
	}
	if name, ok := stripPort(host); ok {
		out = append(out, candidate{name, false})
		if lower {
			out = append(out, candidate{name, true})
		}
	}
	return out
}

// isHostLabel reports whether service is the first dot-separated label of
// host, the way the Java and Node.js SDKs take it from their endpoint
// (endpoint.split(".")[0]: the whole host[:port] when it has no dot).
func isHostLabel(service, host string) bool {
	label, _, _ := strings.Cut(host, ".")
	if label == "" || !strings.EqualFold(service, label) {
		return false
	}
	name, _ := stripPort(host)
	name = strings.TrimSuffix(strings.ToLower(name), ".")
	return name != "tencentcloudapi.com" && !strings.HasSuffix(name, ".tencentcloudapi.com")
}

// stripPort returns host without a trailing ":port" (all digits), keeping
// the brackets of an IPv6 literal ("[::1]:8080" → "[::1]", as Node.js's
// URL.hostname has it). ok is false when host has no port.
func stripPort(host string) (name string, ok bool) {
	i := strings.LastIndexByte(host, ':')
	if i < 0 || i == len(host)-1 {
		return host, false
	}
	for _, c := range []byte(host[i+1:]) {
		if c < '0' || c > '9' {
			return host, false
		}
	}
	name = host[:i]
	if strings.HasPrefix(name, "[") {
		if !strings.HasSuffix(name, "]") {
			return host, false
		}
	} else if strings.IndexByte(name, ':') >= 0 {
		return host, false // an unbracketed IPv6 address: no port to take
	}
	return name, true
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c >= 'A' && c <= 'Z') || c >= 0x80 {
			return true
		}
	}
	return false
}

// needsLower reports whether lower-casing the signed header values other
// than host would change any of them (host is judged by candidates).
func needsLower(req *Request, names []string) bool {
	for _, name := range names {
		if name != "host" && hasUpper(headerValue(req, name)) {
			return true
		}
	}
	return false
}

func (v *Verifier) get(id keyID, secret string) ([sha256.Size]byte, bool) {
	v.mu.RLock()
	e, ok := v.keys[id]
	v.mu.RUnlock()
	if !ok || e.secret != secret {
		return [sha256.Size]byte{}, false
	}
	return e.key, true
}

func (v *Verifier) put(id keyID, secret string, key [sha256.Size]byte) {
	v.mu.Lock()
	if _, ok := v.keys[id]; !ok && len(v.keys) >= v.maxKeys {
		// Drop an arbitrary entry (map order is randomised); old dates age
		// out this way without any bookkeeping on the hot path.
		for old := range v.keys {
			delete(v.keys, old)
			break
		}
	}
	v.keys[id] = cachedKey{secret: secret, key: key}
	v.mu.Unlock()
}
