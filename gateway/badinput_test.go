package gateway_test

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"killgate/actions"
	"killgate/gateway"
	"killgate/tc3"
)

// TestBadInput complements TestPipelineErrors: sizes at and over each
// documented limit (GET 32 KB, v1 POST 1 MB, v3 POST 10 MB), nesting and
// list bounds, non-UTF-8 in every wire style, duplicate keys, numbers at and
// past the int64 range, numeric strings and nulls. Each row is a request
// and the code it must get ("" = success).
func TestBadInput(t *testing.T) {
	srv, _ := newGateway(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	json := func(body string) func() *http.Request {
		return func() *http.Request { return tc3Request(t, srv, "Echo", body, nil) }
	}
	// v1 GET / form POST with the given action parameters (raw, so that
	// non-UTF-8 bytes survive), properly signed.
	v1 := func(method string, params url.Values) func() *http.Request {
		return func() *http.Request {
			v := v1Values("Echo", nil, "HmacSHA256")
			for k, vs := range params {
				v[k] = vs
			}
			v.Set("Signature", tc3.SignV1(testKey, method, host, "/", v))
			if method == "GET" {
				r, _ := http.NewRequest("GET", srv.URL+"/?"+v.Encode(), nil)
				return r
			}
			r, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(v.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return r
		}
	}
	// v3 GET with a flattened query, properly signed.
	v3get := func(q string) func() *http.Request {
		return func() *http.Request {
			ts := time.Now().Unix()
			r, _ := http.NewRequest("GET", srv.URL+"/?"+q, nil)
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("X-TC-Action", "Echo")
			r.Header.Set("X-TC-Version", gateway.Version)
			r.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
			r.Header.Set("Authorization", signTC3(testID, testKey, "dbbrain", host, "application/x-www-form-urlencoded", ts, "GET", q, nil))
			return r
		}
	}
	vals := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Add(kv[i], kv[i+1])
		}
		return v
	}
	pad := func(n int) string { return strings.Repeat("x", n) }
	// A v3 body of exactly n bytes: {"Name":"xxx…"}.
	bodyOf := func(n int) string { return `{"Name":"` + pad(n-len(`{"Name":""}`)) + `"}` }
	ids := func(n int) string {
		var b strings.Builder
		b.WriteString(`{"Name":"a","Ids":[`)
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("1")
		}
		b.WriteString("]}")
		return b.String()
	}
	nest := func(depth int) string { // Items.0.V is at depth 4; nest objects inside Name instead
		return `{"Name":"a","Items":[{"K":"k","V":` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}]}`
	}

	tests := []struct {
		name string
		req  func() *http.Request
		want actions.Code
	}{
		// --- sizes -------------------------------------------------------
		{"v3-post-exactly-10MB", json(bodyOf(10 << 20)), "InvalidParameterValue"}, // read, then Name > 64 KB
		{"v3-post-10MB+1", json(bodyOf(10<<20 + 1)), "RequestSizeLimitExceeded"},
		{"v1-form-post-1MB+", v1("POST", vals("Name", pad(1<<20))), "RequestSizeLimitExceeded"},
		{"v1-form-post-under-1MB", v1("POST", vals("Name", pad(60000))), ""},
		{"v1-form-post-with-huge-unknown", v1("POST", vals("Name", "a", "Junk", pad(900<<10))), "UnknownParameter"},
		{"v1-get-32KB+", v1("GET", vals("Name", pad(32<<10))), "RequestSizeLimitExceeded"},
		{"v1-get-under-32KB", v1("GET", vals("Name", pad(30<<10))), ""},
		{"v3-get-32KB+", v3get("Name=" + pad(32<<10)), "RequestSizeLimitExceeded"},
		{"string-over-64KB", json(`{"Name":"` + pad(65537) + `"}`), "InvalidParameterValue"},
		{"string-64KB", json(`{"Name":"` + pad(65536) + `"}`), ""},
		// --- structure ---------------------------------------------------
		{"nesting-at-limit", json(nest(13)), "InvalidParameter"}, // V is []string: a nested list is a type error, not a depth error
		{"nesting-past-limit", json(nest(14)), "InvalidParameter"},
		{"nesting-10000", json(`{"Name":"a","X":` + strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000) + `}`), "InvalidParameter"},
		{"array-10000", json(ids(10000)), ""},
		{"array-10001", json(ids(10001)), "InvalidParameterValue"},
		{"array-flattened-1001", v1("POST", vals("Name", "a", "Ids.1001", "1")), "InvalidParameter"},
		{"duplicate-key-nested", json(`{"Name":"a","Items":[{"K":"x","K":"y"}]}`), "InvalidParameter"},
		{"duplicate-key-v1", v1("GET", vals("Name", "a", "Name", "b")), "AuthFailure.InvalidAuthorization"}, // v1 cannot sign a repeated key
		{"duplicate-key-v3-get", v3get("Name=a&Name=b"), "InvalidParameter"},
		{"trailing-garbage", json(`{"Name":"a"} {}`), "InvalidParameter"},
		{"top-level-string", json(`"Name"`), "InvalidParameter"},
		{"empty-body", json(``), "MissingParameter"},
		// --- non-UTF-8 -----------------------------------------------------
		{"non-utf8-key", json("{\"N\xffame\":\"a\"}"), "InvalidParameter"},
		{"non-utf8-v1-get", v1("GET", vals("Name", "a\xffb")), "InvalidParameter"},
		{"non-utf8-v1-form", v1("POST", vals("Name", "a\xc3")), "InvalidParameter"},
		{"non-utf8-v3-get", v3get("Name=a%FFb"), "InvalidParameter"},
		{"escaped-lone-surrogate", json(`{"Name":"\ud800"}`), ""}, // valid JSON; decodes to U+FFFD
		// --- numbers -------------------------------------------------------
		{"int64-max", json(`{"Name":"a","Ids":[9223372036854775807]}`), ""},
		{"int64-max+1", json(`{"Name":"a","Ids":[9223372036854775808]}`), "InvalidParameterValue"},
		{"int64-min", json(`{"Name":"a","Ids":[-9223372036854775808]}`), ""},
		{"int64-min-1", json(`{"Name":"a","Ids":[-9223372036854775809]}`), "InvalidParameterValue"},
		{"huge-exponent", json(`{"Name":"a","Ids":[1e400]}`), "InvalidParameter"},
		{"exact-float-int", json(`{"Name":"a","Ids":[1e3, 5.0]}`), ""},
		{"numeric-string", json(`{"Name":"a","Ids":["42"]}`), ""},
		{"numeric-string-out-of-range", json(`{"Name":"a","Ids":["99999999999999999999"]}`), "InvalidParameterValue"},
		{"hex-string", json(`{"Name":"a","Ids":["0x10"]}`), "InvalidParameter"},
		{"nan-string", json(`{"Name":"a","Ids":["NaN"]}`), "InvalidParameter"},
		{"bool-string", json(`{"Name":"a","Flag":"true"}`), ""},
		{"bool-string-1", json(`{"Name":"a","Flag":"1"}`), "InvalidParameter"},
		{"bool-as-number", json(`{"Name":"a","Flag":1}`), "InvalidParameter"},
		{"string-as-number", json(`{"Name":5}`), "InvalidParameter"},
		{"v1-number-text", v1("GET", vals("Name", "a", "Ids.0", "12abc")), "InvalidParameter"},
		// --- nulls ---------------------------------------------------------
		{"null-optional", json(`{"Name":"a","Ids":null,"Flag":null,"Items":null}`), ""},
		{"null-in-list", json(`{"Name":"a","Ids":[1,null]}`), "InvalidParameter"},
		{"null-nested-field", json(`{"Name":"a","Items":[{"K":null}]}`), ""},
		{"null-body", json(`null`), "InvalidParameter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := code(do(t, tt.req())); got != tt.want {
				t.Fatalf("code = %q, want %q", got, tt.want)
			}
		})
	}
}
