package tc3

// Longer than 400 lines on purpose: the signing vectors of every SDK variant (Go, Node.js, Python,
// Java; TC3 and v1) are data, and long.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Key used by the Tencent documentation examples (tencent-api3.md §2.2).
const (
	docSecretID  = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
	docSecretKey = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
)

// Exact body bytes of the V3-POST CVM doc example (the \u escapes are literal).
const cvmPostBody = `{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}`

const dbbrainBody = `{"InstanceId":"cdb-8jawylhf","Product":"mysql","Duration":-1}`

type tc3Vector struct {
	name        string
	service     string
	method      string
	host        string
	contentType string
	rawQuery    string
	body        string
	ts          int64
	wantDate    string
	wantSig     string
}

var tc3Vectors = []tc3Vector{
	{"V3-POST CVM", "cvm", "POST", "cvm.tencentcloudapi.com", "application/json; charset=utf-8", "", cvmPostBody,
		1551113065, "2019-02-25", "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"},
	{"V3-GET CVM", "cvm", "GET", "cvm.tencentcloudapi.com", "application/x-www-form-urlencoded", "Limit=10&Offset=0", "",
		1539084154, "2018-10-09", "5da7a33f6993f0614b047e5df4582db9e9bf4672ba50567dba16c6ccf174c474"},
	{"DBbrain public host", "dbbrain", "POST", "dbbrain.tencentcloudapi.com", "application/json", "", dbbrainBody,
		1551113065, "2019-02-25", "1f410e18cd7fd4226c50c96ba3e39640fcb2acf243bd7b919d14024968005a68"},
	{"DBbrain local host", "dbbrain", "POST", "127.0.0.1:8080", "application/json", "", dbbrainBody,
		1551113065, "2019-02-25", "36e057dc788910bed70b299f10bd574dcbb21b19e1e2b8fb97677a4d771e8786"},
}

func (v tc3Vector) request() Request {
	return Request{Method: v.method, Host: v.host, RawQuery: v.rawQuery, ContentType: v.contentType, Body: []byte(v.body)}
}

func (v tc3Vector) sign() string {
	return Sign(docSecretID, docSecretKey, v.service, v.request(), v.ts)
}

// signTC3 is Sign with the request spelled out.
func signTC3(secretID, secretKey, service, host, contentType string, ts int64, method, rawQuery string, body []byte) string {
	return Sign(secretID, secretKey, service,
		Request{Method: method, Host: host, RawQuery: rawQuery, ContentType: contentType, Body: body}, ts)
}

// verify is one verification with a fresh Verifier (no cached key).
func verify(secretKey, service string, a Auth, req Request, ts int64) error {
	return NewVerifier(service).Verify(secretKey, a, req, ts)
}

func (v *Verifier) clear() {
	v.mu.Lock()
	clear(v.keys)
	v.mu.Unlock()
}

func (v *Verifier) cached() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.keys)
}

func TestTC3DocPayloadHashes(t *testing.T) {
	for _, tc := range []struct{ name, data, want string }{
		{"CVM body", cvmPostBody, "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"},
		{"DBbrain body", dbbrainBody, "1210418a75e113014746d8fd75b9f63bb8e29191cdb08283338b2c520b36e030"},
		// The CVM doc example's HashedCanonicalRequest.
		{"CVM canonical request", "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\ncontent-type;host\n" +
			"35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064",
			"5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sum := sha256.Sum256([]byte(tc.data))
			if got := hex.EncodeToString(sum[:]); got != tc.want {
				t.Errorf("sha256(%q) = %s, want %s", tc.data, got, tc.want)
			}
		})
	}
}

func TestTC3Vectors(t *testing.T) {
	for _, v := range tc3Vectors {
		t.Run(v.name, func(t *testing.T) {
			ver := NewVerifier(v.service)
			for _, cache := range []string{"cold", "warm"} {
				h := v.sign()
				want := "TC3-HMAC-SHA256 Credential=" + docSecretID + "/" + v.wantDate + "/" + v.service +
					"/tc3_request, SignedHeaders=content-type;host, Signature=" + v.wantSig
				if h != want {
					t.Fatalf("%s: Sign =\n %s\nwant\n %s", cache, h, want)
				}
				auth, err := ParseAuthorization(h)
				if err != nil {
					t.Fatalf("%s: parse: %v", cache, err)
				}
				if auth.SecretId != docSecretID || auth.Date != v.wantDate || auth.Service != v.service || auth.Signature != v.wantSig ||
					strings.Join(auth.SignedHeaders, ";") != "content-type;host" {
					t.Fatalf("%s: parsed %+v", cache, auth)
				}
				if err := ver.Verify(docSecretKey, auth, v.request(), v.ts); err != nil {
					t.Fatalf("%s: Verify: %v", cache, err)
				}
				if n := ver.cached(); n != 1 {
					t.Fatalf("%s: %d keys cached after a verification, want 1", cache, n)
				}
				// Reference implementation agrees too.
				if got := refTC3Sig(docSecretKey, v.service, v.method, v.rawQuery,
					"content-type:"+v.contentType+"\nhost:"+v.host+"\n", "content-type;host", v.body, v.ts); got != v.wantSig {
					t.Fatalf("reference implementation = %s", got)
				}
			}
		})
	}
}

func TestTC3HeadersFromHeaderMap(t *testing.T) {
	// ContentType empty: the value comes from Headers. Values are trimmed.
	v := tc3Vectors[3]
	h := v.sign()
	auth, _ := ParseAuthorization(h)
	req := v.request()
	req.ContentType = ""
	req.Headers = http.Header{"Content-Type": {"  application/json "}}
	req.Host = " 127.0.0.1:8080"
	if err := verify(docSecretKey, ServiceDBbrain, auth, req, v.ts); err != nil {
		t.Fatal(err)
	}
}

func TestTC3Rejects(t *testing.T) {
	base := tc3Vectors[2] // DBbrain, public host
	good, err := ParseAuthorization(signTC3(docSecretID, docSecretKey, base.service, base.host, base.contentType,
		base.ts, base.method, base.rawQuery, []byte(base.body)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		service string
		auth    func(a *Auth)
		req     func(r *Request)
		ts      int64
		want    error
	}{
		{name: "ok", want: nil},
		{name: "wrong secret key", key: "wrong", want: ErrMismatch},
		{name: "service mismatch (server expects cvm)", service: "cvm", want: ErrScope},
		{name: "credential service changed", auth: func(a *Auth) { a.Service = "cvm" }, want: ErrScope},
		{name: "credential date is the UTC+8 date", auth: func(a *Auth) { a.Date = "2019-02-26" }, want: ErrScope},
		{name: "timestamp on another day", ts: base.ts + 86400, want: ErrScope},
		{name: "timestamp changed same day", ts: base.ts + 1, want: ErrMismatch},
		{name: "body changed", req: func(r *Request) { r.Body = []byte(strings.Replace(dbbrainBody, "-1", "-2", 1)) }, want: ErrMismatch},
		{name: "body with trailing newline", req: func(r *Request) { r.Body = append(r.Body, '\n') }, want: ErrMismatch},
		{name: "content-type changed", req: func(r *Request) { r.ContentType = "application/json; charset=utf-8" }, want: ErrMismatch},
		{name: "host changed", req: func(r *Request) { r.Host = "cdb.tencentcloudapi.com" }, want: ErrMismatch},
		{name: "host with a port the signer left out (Node.js style)", req: func(r *Request) { r.Host = "dbbrain.tencentcloudapi.com:443" }, want: nil},
		{name: "host with another port than signed", req: func(r *Request) { r.Host = "dbbrain.tencentcloudapi.com:443:443" }, want: ErrMismatch},
		{name: "host without the signed port", req: func(r *Request) { r.Host = "dbbrain" }, want: ErrMismatch},
		{name: "query added", req: func(r *Request) { r.RawQuery = "a=b" }, want: ErrMismatch},
		{name: "method changed", req: func(r *Request) { r.Method = "GET" }, want: ErrMismatch},
		{name: "signature flipped", auth: func(a *Auth) { a.Signature = flipHex(a.Signature) }, want: ErrMismatch},
		{name: "upper-case signature hex accepted", auth: func(a *Auth) { a.Signature = strings.ToUpper(a.Signature) }, want: nil},
		{name: "signature too short", auth: func(a *Auth) { a.Signature = a.Signature[:62] }, want: ErrMalformed},
		{name: "signature not hex", auth: func(a *Auth) { a.Signature = "zz" + a.Signature[2:] }, want: ErrMalformed},
		{name: "hand-built unsorted SignedHeaders", auth: func(a *Auth) { a.SignedHeaders = []string{"host", "content-type"} }, want: ErrMalformed},
		{name: "hand-built SignedHeaders without host", auth: func(a *Auth) { a.SignedHeaders = []string{"content-type"} }, want: ErrMalformed},
		{name: "extra signed header changes canonical request", auth: func(a *Auth) {
			a.SignedHeaders = []string{"content-type", "host", "x-tc-action"}
		}, req: func(r *Request) { r.Headers = http.Header{"X-Tc-Action": {"CreateKillTask"}} }, want: ErrMismatch},
		{name: "UNSIGNED-PAYLOAD header not used by signer", req: func(r *Request) {
			r.Headers = http.Header{"X-Tc-Content-Sha256": {UnsignedPayload}}
		}, want: ErrMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key, service, ts := docSecretKey, ServiceDBbrain, base.ts
			if tc.key != "" {
				key = tc.key
			}
			if tc.service != "" {
				service = tc.service
			}
			if tc.ts != 0 {
				ts = tc.ts
			}
			auth := good
			auth.SignedHeaders = append([]string(nil), good.SignedHeaders...)
			if tc.auth != nil {
				tc.auth(&auth)
			}
			req := base.request()
			if tc.req != nil {
				tc.req(&req)
			}
			ver := NewVerifier(service)
			for _, cache := range []string{"cold", "warm"} {
				err := ver.Verify(key, auth, req, ts)
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("%s: Verify = %v, want %v", cache, err, tc.want)
				}
			}
			if n := ver.cached(); (n == 1) != (tc.want == nil) {
				t.Fatalf("%d keys cached; only a verified key may be", n)
			}
		})
	}
}

func flipHex(s string) string {
	b := []byte(s)
	if b[0] == '0' {
		b[0] = '1'
	} else {
		b[0] = '0'
	}
	return string(b)
}

// refTC3Sig is an independent, straightforward TC3 implementation on
// crypto/hmac, used to cross-check the optimised code.
func refTC3Sig(secretKey, service, method, rawQuery, canonicalHeaders, signedHeaders, payload string, ts int64) string {
	hm := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	sh := func(s string) string { s2 := sha256.Sum256([]byte(s)); return hex.EncodeToString(s2[:]) }
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	cr := method + "\n/\n" + rawQuery + "\n" + canonicalHeaders + "\n" + signedHeaders + "\n" + sh(payload)
	sts := "TC3-HMAC-SHA256\n" + strconv.FormatInt(ts, 10) + "\n" + date + "/" + service + "/tc3_request\n" + sh(cr)
	k := hm(hm(hm([]byte("TC3"+secretKey), date), service), "tc3_request")
	return hex.EncodeToString(hm(k, sts))
}

func refAuth(secretID, date, service, signedHeaders, sig string) string {
	return "TC3-HMAC-SHA256 Credential=" + secretID + "/" + date + "/" + service + "/tc3_request, SignedHeaders=" +
		signedHeaders + ", Signature=" + sig
}

func TestTC3ExtraSignedHeaderAndLowerCaseVariant(t *testing.T) {
	// Newer doc examples and some third-party clients sign x-tc-action with
	// the value lower-cased; the SDKs sign values as sent. Accept both.
	const ts = 1700000000
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	req := Request{
		Method: "POST", Host: "127.0.0.1:8080", ContentType: "application/json",
		Headers: http.Header{"X-Tc-Action": {"CreateKillTask"}},
		Body:    []byte(dbbrainBody),
	}
	sh := "content-type;host;x-tc-action"
	for _, tc := range []struct {
		name, action string
		ok           bool
	}{
		{"as received", "CreateKillTask", true},
		{"lower-cased", "createkilltask", true},
		{"upper-cased", "CREATEKILLTASK", false},
		{"other action", "CancelKillTask", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := "content-type:application/json\nhost:127.0.0.1:8080\nx-tc-action:" + tc.action + "\n"
			sig := refTC3Sig(docSecretKey, "dbbrain", "POST", "", ch, sh, dbbrainBody, ts)
			auth, err := ParseAuthorization(refAuth(docSecretID, date, "dbbrain", sh, sig))
			if err != nil {
				t.Fatal(err)
			}
			err = verify(docSecretKey, ServiceDBbrain, auth, req, ts)
			if (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}

	// Lower-cased Content-Type and Host values, too.
	req2 := Request{Method: "POST", Host: "DBBrain.TencentCloudAPI.com", ContentType: "Application/JSON", Body: []byte(dbbrainBody)}
	ch := "content-type:application/json\nhost:dbbrain.tencentcloudapi.com\n"
	sig := refTC3Sig(docSecretKey, "dbbrain", "POST", "", ch, "content-type;host", dbbrainBody, ts)
	auth, _ := ParseAuthorization(refAuth(docSecretID, date, "dbbrain", "content-type;host", sig))
	if err := verify(docSecretKey, ServiceDBbrain, auth, req2, ts); err != nil {
		t.Fatalf("lower-cased variant rejected: %v", err)
	}
	// As-received values with upper case, signed as received.
	ch = "content-type:Application/JSON\nhost:DBBrain.TencentCloudAPI.com\n"
	sig = refTC3Sig(docSecretKey, "dbbrain", "POST", "", ch, "content-type;host", dbbrainBody, ts)
	auth, _ = ParseAuthorization(refAuth(docSecretID, date, "dbbrain", "content-type;host", sig))
	if err := verify(docSecretKey, ServiceDBbrain, auth, req2, ts); err != nil {
		t.Fatalf("as-received variant rejected: %v", err)
	}
}

func TestTC3UnsignedPayload(t *testing.T) {
	const ts = 1700000000
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	ch := "content-type:application/json\nhost:127.0.0.1:8080\n"
	sig := refTC3Sig(docSecretKey, "dbbrain", "POST", "", ch, "content-type;host", UnsignedPayload, ts)
	auth, _ := ParseAuthorization(refAuth(docSecretID, date, "dbbrain", "content-type;host", sig))
	for _, body := range []string{"", dbbrainBody, "anything"} {
		req := Request{Method: "POST", Host: "127.0.0.1:8080", ContentType: "application/json",
			Headers: http.Header{"X-Tc-Content-Sha256": {UnsignedPayload}}, Body: []byte(body)}
		if err := verify(docSecretKey, ServiceDBbrain, auth, req, ts); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
		req.Headers = nil
		if err := verify(docSecretKey, ServiceDBbrain, auth, req, ts); !errors.Is(err, ErrMismatch) {
			t.Fatalf("without the header: %v", err)
		}
	}
}

func TestTC3GetQueryExactlyAsReceived(t *testing.T) {
	// Python sends params in dict order; the raw query is signed as is.
	const ts = 1700000000
	q := "Offset=0&Limit=10&InstanceId=cdb-1&Threads.0=11"
	h := signTC3(docSecretID, docSecretKey, "dbbrain", "127.0.0.1:8080", "application/x-www-form-urlencoded", ts, "GET", q, nil)
	auth, _ := ParseAuthorization(h)
	req := Request{Method: "GET", Host: "127.0.0.1:8080", RawQuery: q, ContentType: "application/x-www-form-urlencoded"}
	if err := verify(docSecretKey, ServiceDBbrain, auth, req, ts); err != nil {
		t.Fatal(err)
	}
	vals, _ := url.ParseQuery(q)
	req.RawQuery = vals.Encode() // re-sorted: must not verify
	if err := verify(docSecretKey, ServiceDBbrain, auth, req, ts); !errors.Is(err, ErrMismatch) {
		t.Fatalf("re-encoded query: %v", err)
	}
}

func TestParseAuthorizationMalformed(t *testing.T) {
	const cred = "Credential=AKID/2019-02-25/dbbrain/tc3_request"
	const sh = "SignedHeaders=content-type;host"
	sig := "Signature=" + strings.Repeat("ab", 32)
	ok := "TC3-HMAC-SHA256 " + cred + ", " + sh + ", " + sig
	if a, err := ParseAuthorization(ok); err != nil || a.String() != ok {
		t.Fatalf("baseline: %v %q", err, a.String())
	}
	good := []string{
		"TC3-HMAC-SHA256 " + sig + ", " + cred + ", " + sh, // any order
		"TC3-HMAC-SHA256 " + cred + "," + sh + "," + sig,   // no spaces
		"TC3-HMAC-SHA256   " + cred + " ,  " + sh + " , " + sig + " ",
		"TC3-HMAC-SHA256 Credential=AKID/2019-02-25/dbbrain/tc3_request, SignedHeaders=content-type;host;x-tc-action, " + sig,
		"TC3-HMAC-SHA256 Credential=AKID/2019-02-25/dbbrain/tc3_request, SignedHeaders=accept;content-type;host, " + sig,
	}
	for i, h := range good {
		t.Run("good "+strconv.Itoa(i), func(t *testing.T) {
			if _, err := ParseAuthorization(h); err != nil {
				t.Errorf("ParseAuthorization(%q) = %v", h, err)
			}
		})
	}
	bad := map[string]string{
		"empty":                         "",
		"prefix only":                   "TC3-HMAC-SHA256 ",
		"wrong prefix":                  "TC3-HMAC-SHA1 " + cred + ", " + sh + ", " + sig,
		"lower-case prefix":             "tc3-hmac-sha256 " + cred + ", " + sh + ", " + sig,
		"no space after prefix":         "TC3-HMAC-SHA256" + cred + ", " + sh + ", " + sig,
		"SKIP":                          "SKIP",
		"v1 style":                      "HmacSHA256 " + cred,
		"missing Credential":            "TC3-HMAC-SHA256 " + sh + ", " + sig,
		"missing SignedHeaders":         "TC3-HMAC-SHA256 " + cred + ", " + sig,
		"missing Signature":             "TC3-HMAC-SHA256 " + cred + ", " + sh,
		"repeated Credential":           "TC3-HMAC-SHA256 " + cred + ", " + cred + ", " + sh + ", " + sig,
		"repeated SignedHeaders":        "TC3-HMAC-SHA256 " + cred + ", " + sh + ", " + sh + ", " + sig,
		"repeated Signature":            "TC3-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + ", " + sig,
		"unknown field":                 "TC3-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + ", Foo=bar",
		"field without =":               "TC3-HMAC-SHA256 " + cred + ", " + sh + ", Signature",
		"empty value":                   "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=, " + sig,
		"empty field":                   "TC3-HMAC-SHA256 " + cred + ", , " + sh + ", " + sig,
		"trailing comma":                "TC3-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + ",",
		"field name case":               "TC3-HMAC-SHA256 credential=AKID/2019-02-25/dbbrain/tc3_request, " + sh + ", " + sig,
		"unsorted SignedHeaders":        "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=host;content-type, " + sig,
		"duplicate SignedHeaders entry": "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;host;host, " + sig,
		"missing host":                  "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=content-type, " + sig,
		"missing content-type":          "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=host;x-tc-action, " + sig,
		"upper-case header name":        "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=Content-Type;Host, " + sig,
		"empty header name":             "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;;host, " + sig,
		"trailing semicolon":            "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=content-type;host;, " + sig,
		"space in header list":          "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=content-type; host, " + sig,
		"too many signed headers":       "TC3-HMAC-SHA256 " + cred + ", SignedHeaders=a0;a1;a2;a3;a4;a5;a6;a7;a8;a9;b0;b1;b2;b3;b4;b5;b6;b7;b8;b9;c0;c1;c2;c3;c4;c5;c6;c7;c8;c9;d0;content-type;host, " + sig,
		"credential 3 parts":            "TC3-HMAC-SHA256 Credential=AKID/2019-02-25/dbbrain, " + sh + ", " + sig,
		"credential 5 parts":            "TC3-HMAC-SHA256 Credential=AKID/2019-02-25/dbbrain/tc3_request/x, " + sh + ", " + sig,
		"credential wrong terminator":   "TC3-HMAC-SHA256 Credential=AKID/2019-02-25/dbbrain/aws4_request, " + sh + ", " + sig,
		"credential empty secret id":    "TC3-HMAC-SHA256 Credential=/2019-02-25/dbbrain/tc3_request, " + sh + ", " + sig,
		"credential empty date":         "TC3-HMAC-SHA256 Credential=AKID//dbbrain/tc3_request, " + sh + ", " + sig,
		"credential empty service":      "TC3-HMAC-SHA256 Credential=AKID/2019-02-25//tc3_request, " + sh + ", " + sig,
		"credential date shape":         "TC3-HMAC-SHA256 Credential=AKID/20190225/dbbrain/tc3_request, " + sh + ", " + sig,
		"credential date letters":       "TC3-HMAC-SHA256 Credential=AKID/2019-0a-25/dbbrain/tc3_request, " + sh + ", " + sig,
		"signature short":               "TC3-HMAC-SHA256 " + cred + ", " + sh + ", Signature=abcd",
		"signature long":                "TC3-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + "00",
		"signature not hex":             "TC3-HMAC-SHA256 " + cred + ", " + sh + ", Signature=" + strings.Repeat("zz", 32),
		"huge header":                   "TC3-HMAC-SHA256 " + cred + ", " + sh + ", " + sig + strings.Repeat(" ", 5000),
	}
	for name, h := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := ParseAuthorization(h)
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("ParseAuthorization(%q) = %v, want ErrMalformed", h, err)
			}
		})
	}
}

func TestCheckSkew(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name   string
		ts     int64
		now    time.Time
		window time.Duration
		ok     bool
	}{
		{"same second", 1700000000, now, 300 * time.Second, true},
		{"299 s behind", 1700000000 - 299, now, 300 * time.Second, true},
		{"299 s ahead", 1700000000 + 299, now, 300 * time.Second, true},
		{"boundary behind", 1700000000 - 300, now, 300 * time.Second, true},
		{"boundary ahead", 1700000000 + 300, now, 300 * time.Second, true},
		{"301 s behind", 1700000000 - 301, now, 300 * time.Second, false},
		{"301 s ahead", 1700000000 + 301, now, 300 * time.Second, false},
		{"default window refuses 301 s", 1700000000 + 301, now, 0, false},
		{"default window accepts 299 s", 1700000000 - 299, now, 0, true},
		{"sub-second server clock", 1700000000 - 299, now.Add(999 * time.Millisecond), 300 * time.Second, true},
		{"one-minute window", 1700000000 + 61, now, time.Minute, false},
		{"zero", 0, now, 0, false},
		{"negative", -1, now, 0, false},
		{"max int64", math.MaxInt64, now, 0, false},
		{"min int64", math.MinInt64, now, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckSkew(tc.ts, tc.now, tc.window)
			if (err == nil) != tc.ok {
				t.Errorf("CheckSkew(%d, %d, %s) = %v, want ok=%v", tc.ts, tc.now.Unix(), tc.window, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrExpired) {
				t.Errorf("CheckSkew error %v is not ErrExpired", err)
			}
		})
	}
}

func TestTC3RandomAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 200 {
		ts := int64(1_500_000_000 + r.IntN(500_000_000))
		body := strings.Repeat("x", r.IntN(3000))
		q := ""
		if r.IntN(2) == 0 {
			q = "Limit=" + strconv.Itoa(r.IntN(100)) + strings.Repeat("&A=b", r.IntN(500))
		}
		key := strings.Repeat("k", 1+r.IntN(100))
		host := "h" + strconv.Itoa(i) + ":8080"
		want := refTC3Sig(key, "dbbrain", "POST", q, "content-type:application/json\nhost:"+host+"\n", "content-type;host", body, ts)
		h := signTC3("AKID", key, "dbbrain", host, "application/json", ts, "POST", q, []byte(body))
		if !strings.HasSuffix(h, want) {
			t.Fatalf("case %d: Sign %s, reference %s", i, h, want)
		}
		auth, err := ParseAuthorization(h)
		if err != nil {
			t.Fatal(err)
		}
		req := Request{Method: "POST", Host: host, RawQuery: q, ContentType: "application/json", Body: []byte(body)}
		if err := verify(key, "dbbrain", auth, req, ts); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
	}
}

func TestKeyCache(t *testing.T) {
	v := tc3Vectors[3]
	signed := func(id, key string) Auth {
		t.Helper()
		a, err := ParseAuthorization(Sign(id, key, v.service, v.request(), v.ts))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	t.Run("bounded", func(t *testing.T) {
		ver := NewVerifier(ServiceDBbrain)
		ver.maxKeys = 100
		for i := range ver.maxKeys + 50 {
			id, key := "AKID"+strconv.Itoa(i), "secret-"+strconv.Itoa(i)
			if err := ver.Verify(key, signed(id, key), v.request(), v.ts); err != nil {
				t.Fatal(err)
			}
			if n := ver.cached(); n > ver.maxKeys {
				t.Fatalf("cache holds %d keys, bound %d", n, ver.maxKeys)
			}
		}
	})
	t.Run("failures are not cached", func(t *testing.T) {
		ver := NewVerifier(ServiceDBbrain)
		auth := signed("AKID", "right")
		for i := range 50 {
			if err := ver.Verify("wrong"+strconv.Itoa(i), auth, v.request(), v.ts); !errors.Is(err, ErrMismatch) {
				t.Fatalf("wrong key: %v", err)
			}
		}
		if n := ver.cached(); n != 0 {
			t.Fatalf("failed verifications cached %d keys", n)
		}
	})
	t.Run("a cached key counts only for its secret", func(t *testing.T) {
		// Two credential sets reuse a SecretId (a rotated key): the key
		// cached for the old secret must not verify for the new one, nor
		// the reverse.
		ver := NewVerifier(ServiceDBbrain)
		old, rotated := signed("AKID", "old-secret"), signed("AKID", "new-secret")
		if err := ver.Verify("old-secret", old, v.request(), v.ts); err != nil {
			t.Fatal(err)
		}
		if err := ver.Verify("new-secret", old, v.request(), v.ts); !errors.Is(err, ErrMismatch) {
			t.Fatalf("old signature with the new secret: %v", err)
		}
		if err := ver.Verify("new-secret", rotated, v.request(), v.ts); err != nil {
			t.Fatalf("new signature with the new secret: %v", err)
		}
		if err := ver.Verify("old-secret", rotated, v.request(), v.ts); !errors.Is(err, ErrMismatch) {
			t.Fatalf("new signature with the old secret: %v", err)
		}
	})
	t.Run("keyed by SecretId, date and service", func(t *testing.T) {
		ver := NewVerifier(ServiceDBbrain)
		req := v.request()
		req.Host = "killgate.internal:8080"
		for _, service := range []string{"dbbrain", "killgate"} {
			for _, ts := range []int64{v.ts, v.ts + 86400} {
				a, _ := ParseAuthorization(Sign("AKID", "k", service, req, ts))
				if err := ver.Verify("k", a, req, ts); err != nil {
					t.Fatalf("%s at %d: %v", service, ts, err)
				}
			}
		}
		if n := ver.cached(); n != 4 {
			t.Fatalf("%d keys cached, want 4", n)
		}
	})
}

func TestVerifyConcurrent(t *testing.T) {
	vers := map[string]*Verifier{"cvm": NewVerifier("cvm"), "dbbrain": NewVerifier("dbbrain")}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				v := tc3Vectors[(g+i)%len(tc3Vectors)]
				auth, _ := ParseAuthorization("TC3-HMAC-SHA256 Credential=" + docSecretID + "/" + v.wantDate + "/" + v.service +
					"/tc3_request, SignedHeaders=content-type;host, Signature=" + v.wantSig)
				if err := vers[v.service].Verify(docSecretKey, auth, v.request(), v.ts); err != nil {
					t.Error(err)
					return
				}
				p := docV1Params()
				p.Set("Signature", "EliP9YW3pW28FpsEdkXt/+WcGeI=")
				if err := VerifyV1(docSecretKey, "GET", "cvm.tencentcloudapi.com", "/", p); err != nil {
					t.Error(err)
					return
				}
				if i%50 == 0 {
					vers[v.service].clear()
				}
			}
		})
	}
	wg.Wait()
}
