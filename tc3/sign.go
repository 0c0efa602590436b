package tc3

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"
)

// HMAC: the package uses crypto/hmac. It replaced a hand-written,
// allocation-free HMAC that the gateway carried before this package existed.
// BenchmarkHMAC measures both on the HMAC a verification computes: about
// 520 ns and 7 allocations (640 B) for crypto/hmac against 370 ns and none
// hand-written; a whole verification with a cached key went from ~850 ns to
// ~1.3 µs (BenchmarkVerifyTC3, 2-core test machine). The cheapest request
// through the whole pipeline costs ~60 µs of CPU (docs/benchmarks.md), so
// the gain, under 1 %, is not worth a second HMAC implementation to keep
// correct.

// Request is the part of an HTTP request that signatures cover, as plain
// data. Build it once per request from what was received on the wire (or,
// when signing, from what will be sent).
type Request struct {
	// Method is the HTTP method ("POST", "GET").
	Method string
	// Host is the Host header (r.Host), port included when one was sent.
	// When signing, it is the host line signed, which a client normally
	// also sends as its Host header.
	Host string
	// RawQuery is the query string exactly as received (r.URL.RawQuery),
	// not re-encoded or re-sorted.
	RawQuery string
	// ContentType is the Content-Type header. If empty, the value is looked
	// up in Headers.
	ContentType string
	// Headers supplies any other signed header (e.g. x-tc-action) and
	// X-TC-Content-SHA256. May be nil.
	Headers http.Header
	// Body is the raw request body, before any decoding.
	Body []byte
}

// Sign signs req the way the Go SDK does (SignedHeaders "content-type;host",
// header values as given, req.Host as the host line) for service at
// timestamp, and returns the Authorization header value.
func Sign(secretID, secretKey, service string, req Request, timestamp int64) string {
	var dateBuf [16]byte
	date := string(utcDate(dateBuf[:0], timestamp))
	key := deriveKey(secretKey, date, service)
	signed := []string{"content-type", "host"}
	payload := payloadHash(&req)
	bp := getBuf()
	defer putBuf(bp)
	sig := signature(bp, &key, &req, signed, strings.TrimSpace(req.Host), &payload, timestamp, date, service, false)
	return Auth{
		SecretId:      secretID,
		Date:          date,
		Service:       service,
		SignedHeaders: signed,
		Signature:     hex.EncodeToString(sig[:]),
	}.String()
}

// utcDate appends the UTC calendar date of ts as YYYY-MM-DD.
func utcDate(dst []byte, ts int64) []byte {
	return time.Unix(ts, 0).UTC().AppendFormat(dst, "2006-01-02")
}

func hmacSHA256(key []byte, msg string) [sha256.Size]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// deriveKey computes the signing key:
//
//	kDate    = HMAC("TC3"+SecretKey, Date)
//	kService = HMAC(kDate, Service)
//	kSigning = HMAC(kService, "tc3_request")
func deriveKey(secretKey, date, service string) [sha256.Size]byte {
	k := hmacSHA256([]byte("TC3"+secretKey), date)
	k = hmacSHA256(k[:], service)
	return hmacSHA256(k[:], terminator)
}

// unsignedPayloadHash is hex(SHA256("UNSIGNED-PAYLOAD")).
var unsignedPayloadHash = func() [64]byte {
	var out [64]byte
	sum := sha256.Sum256([]byte(UnsignedPayload))
	hex.Encode(out[:], sum[:])
	return out
}()

// payloadHash is the hex SHA-256 of the body, or of "UNSIGNED-PAYLOAD" when
// the X-TC-Content-SHA256 header says so.
func payloadHash(req *Request) [64]byte {
	if req.Headers != nil && req.Headers.Get("X-Tc-Content-Sha256") == UnsignedPayload {
		return unsignedPayloadHash
	}
	var out [64]byte
	sum := sha256.Sum256(req.Body)
	hex.Encode(out[:], sum[:])
	return out
}

// headerValue is the trimmed value of a signed header other than host.
func headerValue(req *Request, name string) string {
	var v string
	switch name {
	case "content-type":
		v = req.ContentType
		if v == "" {
			v = req.Headers.Get("Content-Type")
		}
	default:
		if vs := req.Headers[textproto.CanonicalMIMEHeaderKey(name)]; len(vs) > 0 {
			v = vs[0]
		}
	}
	return strings.TrimSpace(v)
}

// signature computes the raw TC3 signature of req under the signing key,
// with host as the value of the host line and, when lower, every signed
// header value lower-cased. *bp is scratch space.
func signature(bp *[]byte, key *[sha256.Size]byte, req *Request, names []string, host string,
	payload *[64]byte, timestamp int64, date, service string, lower bool) [sha256.Size]byte {
	// Canonical request.
	b := (*bp)[:0]
	b = append(b, req.Method...)
	b = append(b, "\n/\n"...)
	b = append(b, req.RawQuery...)
	b = append(b, '\n')
	for _, name := range names {
		v := host
		if name != "host" {
			v = headerValue(req, name)
		}
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
	b = append(b, payload[:]...)
	crHash := sha256.Sum256(b)

	// StringToSign.
	b = append(b[:0], Algorithm+"\n"...)
	b = strconv.AppendInt(b, timestamp, 10)
	b = append(b, '\n')
	b = append(b, date...)
	b = append(b, '/')
	b = append(b, service...)
	b = append(b, "/"+terminator+"\n"...)
	b = hex.AppendEncode(b, crHash[:])
	m := hmac.New(sha256.New, key[:])
	m.Write(b)
	*bp = b
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

// Scratch buffers for canonical requests.

const maxPooledBufBytes = 64 << 10

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
