package tc3

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"hash"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func docV1Params() url.Values {
	return url.Values{
		"Action":        {"DescribeInstances"},
		"InstanceIds.0": {"ins-09dx96dg"},
		"Limit":         {"20"},
		"Nonce":         {"11886"},
		"Offset":        {"0"},
		"Region":        {"ap-guangzhou"},
		"SecretId":      {docSecretID},
		"Timestamp":     {"1465185768"},
		"Version":       {"2017-03-12"},
	}
}

// refV1Sig is a straightforward reference implementation on crypto/hmac.
func refV1Sig(secretKey, method, host, path string, params url.Values) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + params.Get(k)
	}
	src := method + host + path + "?" + strings.Join(parts, "&")
	var h func() hash.Hash = sha1.New
	if params.Get("SignatureMethod") == "HmacSHA256" {
		h = sha256.New
	}
	m := hmac.New(h, []byte(secretKey))
	m.Write([]byte(src))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestV1DocVectors(t *testing.T) {
	p := docV1Params()
	if got := SignV1(docSecretKey, "GET", "cvm.tencentcloudapi.com", "/", p); got != "EliP9YW3pW28FpsEdkXt/+WcGeI=" {
		t.Fatalf("HmacSHA1 = %s", got)
	}
	p.Set("Signature", "EliP9YW3pW28FpsEdkXt/+WcGeI=")
	if err := VerifyV1(docSecretKey, "GET", "cvm.tencentcloudapi.com", "/", p); err != nil {
		t.Fatalf("VerifyV1 HmacSHA1: %v", err)
	}
	// The wrong signature printed by an old English doc revision.
	p.Set("Signature", "v9MVG3fopp/gCsLSZ4gMFeYGgDU=")
	if err := VerifyV1(docSecretKey, "GET", "cvm.tencentcloudapi.com", "/", p); !errors.Is(err, ErrMismatch) {
		t.Fatalf("old doc signature: %v", err)
	}

	p = docV1Params()
	p.Set("SignatureMethod", "HmacSHA256")
	if got := SignV1(docSecretKey, "GET", "cvm.tencentcloudapi.com", "/", p); got != "A8uy2/o7WBZXYCTWEFpMrVGhGBVlEGIOioeqRM+fzFs=" {
		t.Fatalf("HmacSHA256 = %s", got)
	}
	p.Set("Signature", "A8uy2/o7WBZXYCTWEFpMrVGhGBVlEGIOioeqRM+fzFs=")
	if err := VerifyV1(docSecretKey, "GET", "cvm.tencentcloudapi.com", "/", p); err != nil {
		t.Fatalf("VerifyV1 HmacSHA256: %v", err)
	}
	// Path "" means "/".
	if err := VerifyV1(docSecretKey, "GET", "cvm.tencentcloudapi.com", "", p); err != nil {
		t.Fatalf("VerifyV1 with empty path: %v", err)
	}
}

func TestV1WireRoundTrip(t *testing.T) {
	// The signature travels URL-encoded; the server decodes, then verifies.
	p := docV1Params()
	p.Set("SignatureMethod", "HmacSHA256")
	p.Set("Signature", SignV1(docSecretKey, "POST", "127.0.0.1:8080", "/", p))
	wire := p.Encode()
	if !strings.Contains(wire, "Signature=A") || strings.Contains(wire, "Signature=A8uy2/") {
		// sanity only: '/' and '+' must be escaped on the wire
		t.Logf("wire: %s", wire)
	}
	back, err := url.ParseQuery(wire)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyV1(docSecretKey, "POST", "127.0.0.1:8080", "/", back); err != nil {
		t.Fatal(err)
	}
}

func TestV1Rejects(t *testing.T) {
	const host = "127.0.0.1:8080"
	signed := func(mut func(url.Values)) url.Values {
		p := docV1Params()
		p.Set("SignatureMethod", "HmacSHA256")
		if mut != nil {
			mut(p)
		}
		p.Set("Signature", SignV1(docSecretKey, "GET", host, "/", p))
		return p
	}
	tests := []struct {
		name   string
		key    string
		method string
		host   string
		path   string
		params url.Values
		after  func(url.Values)
		want   error
	}{
		{name: "ok", params: signed(nil)},
		{name: "ok sha1 by omission", params: signed(func(p url.Values) { p.Del("SignatureMethod") })},
		{name: "ok sha1 for unknown method", params: signed(func(p url.Values) { p.Set("SignatureMethod", "HmacMD5") })},
		{name: "ok values with specials", params: signed(func(p url.Values) {
			p.Set("Info", "select * from t where a='x&y=z' + 1")
			p.Set("StatDimensions.0.Data.0", "p=position")
			p.Set("Empty", "")
		})},
		{name: "wrong key", key: "nope", params: signed(nil), want: ErrMismatch},
		{name: "wrong method", method: "POST", params: signed(nil), want: ErrMismatch},
		{name: "wrong host", host: "127.0.0.1:8081", params: signed(nil), want: ErrMismatch},
		{name: "wrong path", path: "/v1", params: signed(nil), want: ErrMismatch},
		{name: "param changed", params: signed(nil), after: func(p url.Values) { p.Set("Limit", "21") }, want: ErrMismatch},
		{name: "param added", params: signed(nil), after: func(p url.Values) { p.Set("Extra", "1") }, want: ErrMismatch},
		{name: "param removed", params: signed(nil), after: func(p url.Values) { p.Del("Nonce") }, want: ErrMismatch},
		{name: "method downgraded to sha1", params: signed(nil), after: func(p url.Values) { p.Del("SignatureMethod") }, want: ErrMismatch},
		{name: "signature truncated", params: signed(nil), after: func(p url.Values) { p.Set("Signature", p.Get("Signature")[:40]) }, want: ErrMismatch},
		{name: "signature with spaces for plus", params: signed(nil), after: func(p url.Values) {
			p.Set("Signature", strings.ReplaceAll(p.Get("Signature"), "+", " "))
		}, want: ErrMismatch},
		{name: "signature too long", params: signed(nil), after: func(p url.Values) { p.Set("Signature", strings.Repeat("A", 100)) }, want: ErrMismatch},
		{name: "signature missing", params: signed(nil), after: func(p url.Values) { p.Del("Signature") }, want: ErrMalformed},
		{name: "signature empty", params: signed(nil), after: func(p url.Values) { p.Set("Signature", "") }, want: ErrMalformed},
		{name: "signature repeated", params: signed(nil), after: func(p url.Values) { p.Add("Signature", p.Get("Signature")) }, want: ErrMalformed},
		{name: "param repeated", params: signed(nil), after: func(p url.Values) { p.Add("Limit", "20") }, want: ErrMalformed},
		{name: "param with no values", params: signed(nil), after: func(p url.Values) { p["Limit"] = []string{} }, want: ErrMalformed},
		{name: "no params", params: url.Values{}, want: ErrMalformed},
		{name: "nil params", params: nil, want: ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, method, h, path := docSecretKey, "GET", host, "/"
			if tc.key != "" {
				key = tc.key
			}
			if tc.method != "" {
				method = tc.method
			}
			if tc.host != "" {
				h = tc.host
			}
			if tc.path != "" {
				path = tc.path
			}
			p := tc.params
			if tc.after != nil {
				tc.after(p)
			}
			err := VerifyV1(key, method, h, path, p)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("VerifyV1 = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestV1SortIsByteOrder(t *testing.T) {
	p := url.Values{
		"Action": {"X"}, "InstanceIds.2": {"b"}, "InstanceIds.12": {"a"}, "a": {"lower"}, "Z": {"upper"},
		"SignatureMethod": {"HmacSHA256"},
	}
	got := SignV1("k", "POST", "h:1", "/", p)
	if want := refV1Sig("k", "POST", "h:1", "/", p); got != want {
		t.Fatalf("SignV1 = %s, reference %s", got, want)
	}
	// Hand-built source in byte order, to pin the ordering itself.
	src := "POSTh:1/?Action=X&InstanceIds.12=a&InstanceIds.2=b&SignatureMethod=HmacSHA256&Z=upper&a=lower"
	m := hmac.New(sha256.New, []byte("k"))
	m.Write([]byte(src))
	if want := base64.StdEncoding.EncodeToString(m.Sum(nil)); got != want {
		t.Fatalf("SignV1 = %s, want %s", got, want)
	}
}

func TestV1ManyParamsAndLongKey(t *testing.T) {
	// More parameters than the on-stack key array, and a secret longer than
	// an HMAC block.
	p := url.Values{"SignatureMethod": {"HmacSHA256"}}
	for i := range 300 {
		p.Set("Threads."+strconv.Itoa(i), strconv.Itoa(i*7))
	}
	key := strings.Repeat("s", 200)
	for _, m := range []string{"HmacSHA256", "HmacSHA1"} {
		p.Set("SignatureMethod", m)
		p.Del("Signature")
		want := refV1Sig(key, "POST", "h", "/", p)
		if got := SignV1(key, "POST", "h", "/", p); got != want {
			t.Fatalf("%s: SignV1 = %s, reference %s", m, got, want)
		}
		p.Set("Signature", want)
		if err := VerifyV1(key, "POST", "h", "/", p); err != nil {
			t.Fatalf("%s: %v", m, err)
		}
	}
}
