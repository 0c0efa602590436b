package tc3

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func FuzzParseTC3Authorization(f *testing.F) {
	for _, v := range tc3Vectors {
		f.Add(v.sign())
	}
	for _, s := range []string{
		"", "TC3-HMAC-SHA256 ", "TC3-HMAC-SHA256 Credential=a/b/c/tc3_request",
		"TC3-HMAC-SHA256 Credential=a/2019-01-01/c/tc3_request, SignedHeaders=content-type;host, Signature=" + strings.Repeat("0", 64),
		"TC3-HMAC-SHA256 ,,,", "TC3-HMAC-SHA256 =,=,=", "TC3-HMAC-SHA256 SignedHeaders=;;;", "SKIP",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		a, err := ParseAuthorization(h)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		// Whatever parses must re-format and re-parse to the same value,
		// and must be verifiable without panicking.
		b, err := ParseAuthorization(a.String())
		if err != nil || b.String() != a.String() {
			t.Fatalf("round trip %q -> %q (%v)", h, a.String(), err)
		}
		_ = verify("k", a.Service, a, Request{Method: "POST", Host: "h", Headers: http.Header{}}, 1551113065)
		_ = verify("k", ServiceDBbrain, a, Request{Method: "POST", Host: a.Service + ".example:8080", Headers: http.Header{}}, 1551113065)
	})
}

func FuzzVerifyV1Params(f *testing.F) {
	p := docV1Params()
	p.Set("Signature", "EliP9YW3pW28FpsEdkXt/+WcGeI=")
	f.Add(p.Encode(), "GET", "cvm.tencentcloudapi.com", "/")
	f.Add("Signature=a&Signature=b", "POST", "h", "/")
	f.Add("SignatureMethod=HmacSHA256&Signature=%2F%2B%3D&A.0=1", "POST", "127.0.0.1:8080", "")
	f.Add("", "GET", "", "")
	f.Add("%zz", "GET", "h", "/")
	f.Fuzz(func(t *testing.T, query, method, host, path string) {
		params, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		err = VerifyV1("secret", method, host, path, params)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrMismatch) {
			t.Fatalf("unexpected error %v", err)
		}
		// Property: with unique keys, signing then verifying succeeds.
		for _, vs := range params {
			if len(vs) != 1 {
				return
			}
		}
		params.Set("Signature", SignV1("secret", method, host, path, params))
		if err := VerifyV1("secret", method, host, path, params); err != nil {
			t.Fatalf("sign/verify round trip failed: %v", err)
		}
	})
}
