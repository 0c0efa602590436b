package tc3

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"net/url"
	"slices"
)

// Signature v1 (HmacSHA1 / HmacSHA256):
//
//	src       = METHOD + Host + Path + "?" + join("&", k + "=" + v  for k in sorted(keys))
//	Signature = base64(HMAC(SecretKey, src))
//
// with raw (not URL-encoded) values, byte-order sorted keys, and every
// parameter but Signature itself.

// VerifyV1 checks a v1 signature. params holds every request parameter
// (common and action parameters, URL-decoded), including Signature.
// SignatureMethod "HmacSHA256" selects HMAC-SHA256, anything else
// HMAC-SHA1. A repeated parameter, a missing or empty Signature, or an
// empty parameter set wrap ErrMalformed. Skew is not checked: call
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
	var mac [sha256.Size]byte
	n := v1MAC(&mac, secretKey, method, host, path, params)
	var enc [44]byte // base64 of 32 bytes
	ours := enc[:base64.StdEncoding.EncodedLen(n)]
	base64.StdEncoding.Encode(ours, mac[:n])
	if len(sig[0]) != len(ours) || !hmac.Equal(ours, []byte(sig[0])) {
		return ErrMismatch
	}
	return nil
}

// SignV1 returns the base64 v1 signature for params (any Signature entry is
// ignored; for a repeated key the first value is used).
func SignV1(secretKey, method, host, path string, params url.Values) string {
	var mac [sha256.Size]byte
	n := v1MAC(&mac, secretKey, method, host, path, params)
	return base64.StdEncoding.EncodeToString(mac[:n])
}

// v1MAC writes the MAC into out and returns its length (20 or 32).
func v1MAC(out *[sha256.Size]byte, secretKey, method, host, path string, params url.Values) int {
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
	bp := getBuf()
	defer putBuf(bp)
	b := append((*bp)[:0], method...)
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
	var h func() hash.Hash = sha1.New
	if params.Get("SignatureMethod") == "HmacSHA256" {
		h = sha256.New
	}
	m := hmac.New(h, []byte(secretKey))
	m.Write(b)
	return len(m.Sum(out[:0]))
}
