package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"killgate/actions"
	"killgate/gateway"
	"killgate/ratelimit"
	"killgate/tc3"
)

type echoReq struct {
	Name  string   `json:"Name" kg:"required"`
	IDs   []int64  `json:"Ids"`
	Flag  bool     `json:"Flag"`
	Items []echoKV `json:"Items"`
}

type echoKV struct {
	K string   `json:"K"`
	V []string `json:"V"`
}

type echoResp struct {
	Echo echoReq `json:"Echo"`
}

const (
	testID  = "AKIDunit"
	testKey = "unit-secret-key"
)

// newGateway serves a fake registry (no database): Echo returns its input,
// Boom panics.
func newGateway(t *testing.T, creds ...gateway.Credential) (*httptest.Server, *observer.ObservedLogs) {
	t.Helper()
	reg := actions.NewRegistry([]actions.Action{
		actions.Bind("Echo", func(ctx context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Echo: *r}, nil }),
		actions.Bind("Boom", func(ctx context.Context, r *echoReq) (*echoResp, error) { panic("boom " + testKey) }),
	})
	if creds == nil {
		creds = []gateway.Credential{{SecretID: testID, SecretKey: testKey}}
	}
	core, logs := observer.New(zap.DebugLevel)
	gw, err := gateway.New(gateway.Config{
		Credentials: creds, Registry: reg,
		Limiter: ratelimit.New(ratelimit.Config{PerSecond: 1000, Burst: 1000, MaxKeys: 100, IdleTTL: time.Minute}),
		Log:     zap.New(core),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(srv.Close)
	return srv, logs
}

type envelope struct {
	Response struct {
		Error *struct {
			Code    string
			Message string
		}
		RequestId string
		Echo      *echoReq
	}
}

func do(t *testing.T, req *http.Request) envelope {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d content-type %q body %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("not an envelope: %s", body)
	}
	if env.Response.RequestId == "" {
		t.Fatalf("no RequestId: %s", body)
	}
	return env
}

func code(env envelope) actions.Code {
	if env.Response.Error == nil {
		return ""
	}
	return actions.Code(env.Response.Error.Code)
}

func tc3Request(t *testing.T, srv *httptest.Server, action string, body string, mod func(*http.Request)) *http.Request {
	t.Helper()
	host := strings.TrimPrefix(srv.URL, "http://")
	ts := time.Now().Unix()
	req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-TC-Action", action)
	req.Header.Set("X-TC-Version", gateway.Version)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("Authorization", signTC3(testID, testKey, "dbbrain", host, "application/json", ts, "POST", "", []byte(body)))
	if mod != nil {
		mod(req)
	}
	return req
}

// signTC3 signs like the Go SDK (tc3.Sign with the request spelled out).
func signTC3(secretID, secretKey, service, host, contentType string, ts int64, method, rawQuery string, body []byte) string {
	return tc3.Sign(secretID, secretKey, service,
		tc3.Request{Method: method, Host: host, RawQuery: rawQuery, ContentType: contentType, Body: body}, ts)
}

func v1Values(action string, params map[string]string, method string) url.Values {
	v := url.Values{}
	for k, x := range params {
		v.Set(k, x)
	}
	v.Set("Action", action)
	v.Set("Version", gateway.Version)
	v.Set("Timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	v.Set("Nonce", "12345")
	v.Set("SecretId", testID)
	v.Set("Region", "ap-guangzhou")
	if method != "" {
		v.Set("SignatureMethod", method)
	}
	return v
}

func TestWireStyles(t *testing.T) {
	srv, _ := newGateway(t)
	host := strings.TrimPrefix(srv.URL, "http://")
	flat := map[string]string{"Name": "n", "Ids.0": "11", "Ids.1": "22", "Flag": "true", "Items.0.K": "k", "Items.0.V.0": "p=position"}
	want := echoReq{Name: "n", IDs: []int64{11, 22}, Flag: true, Items: []echoKV{{K: "k", V: []string{"p=position"}}}}
	check := func(t *testing.T, env envelope) {
		t.Helper()
		if code(env) != "" || env.Response.Echo == nil {
			t.Fatalf("error %+v", env.Response.Error)
		}
		got, _ := json.Marshal(env.Response.Echo)
		exp, _ := json.Marshal(want)
		if !bytes.Equal(got, exp) {
			t.Fatalf("decoded %s, want %s", got, exp)
		}
	}
	t.Run("v3-json-post", func(t *testing.T) {
		check(t, do(t, tc3Request(t, srv, "Echo", `{"Name":"n","Ids":[11,22],"Flag":true,"Items":[{"K":"k","V":["p=position"]}]}`, nil)))
	})
	t.Run("v3-get-flattened", func(t *testing.T) {
		v := url.Values{}
		for k, x := range flat {
			v.Set(k, x)
		}
		q := v.Encode()
		ts := time.Now().Unix()
		req, _ := http.NewRequest("GET", srv.URL+"/?"+q, nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-TC-Action", "Echo")
		req.Header.Set("X-TC-Version", gateway.Version)
		req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("Authorization", signTC3(testID, testKey, "dbbrain", host, "application/x-www-form-urlencoded", ts, "GET", q, nil))
		check(t, do(t, req))
	})
	for _, method := range []string{"", "HmacSHA1", "HmacSHA256"} {
		t.Run("v1-get-"+method, func(t *testing.T) {
			v := v1Values("Echo", flat, method)
			v.Set("Signature", tc3.SignV1(testKey, "GET", host, "/", v))
			req, _ := http.NewRequest("GET", srv.URL+"/?"+v.Encode(), nil)
			check(t, do(t, req))
		})
		t.Run("v1-form-post-"+method, func(t *testing.T) {
			v := v1Values("Echo", flat, method)
			v.Set("Signature", tc3.SignV1(testKey, "POST", host, "/", v))
			req, _ := http.NewRequest("POST", srv.URL+"/", strings.NewReader(v.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			check(t, do(t, req))
		})
	}
	t.Run("v1-bad-signature", func(t *testing.T) {
		v := v1Values("Echo", flat, "HmacSHA256")
		v.Set("Signature", tc3.SignV1("other", "GET", host, "/", v))
		req, _ := http.NewRequest("GET", srv.URL+"/?"+v.Encode(), nil)
		if c := code(do(t, req)); c != "AuthFailure.SignatureFailure" {
			t.Fatal(c)
		}
	})
	t.Run("identical-retry-accepted", func(t *testing.T) {
		req := tc3Request(t, srv, "Echo", `{"Name":"again"}`, nil)
		for i := 0; i < 3; i++ {
			r2 := req.Clone(context.Background())
			r2.Body = io.NopCloser(strings.NewReader(`{"Name":"again"}`))
			if c := code(do(t, r2)); c != "" {
				t.Fatalf("retry %d: %s", i, c)
			}
		}
	})
}

func TestPipelineErrors(t *testing.T) {
	srv, _ := newGateway(t, gateway.Credential{SecretID: testID, SecretKey: testKey, Actions: []string{"Echo", "Boom"}},
		gateway.Credential{SecretID: "AKIDnarrow", SecretKey: "narrow-key", Actions: []string{"Other"}})
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name string
		req  func() *http.Request
		want actions.Code
	}{
		{"put-method", func() *http.Request { r, _ := http.NewRequest("PUT", srv.URL+"/", nil); return r }, "UnsupportedProtocol"},
		{"delete-method", func() *http.Request { r, _ := http.NewRequest("DELETE", srv.URL+"/", nil); return r }, "UnsupportedProtocol"},
		{"multipart", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Header.Set("Content-Type", "multipart/form-data; boundary=x") })
		}, "UnsupportedProtocol"},
		{"bare-get", func() *http.Request { r, _ := http.NewRequest("GET", srv.URL+"/", nil); return r }, "MissingParameter"},
		{"missing-action", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Header.Del("X-TC-Action") })
		}, "MissingParameter"},
		{"unknown-action", func() *http.Request { return tc3Request(t, srv, "Nope", `{}`, nil) }, "InvalidAction"},
		{"missing-version", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Header.Del("X-TC-Version") })
		}, "MissingParameter"},
		{"wrong-version", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Header.Set("X-TC-Version", "2019-10-16") })
		}, "NoSuchVersion"},
		{"no-authorization", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Header.Del("Authorization") })
		}, "AuthFailure.InvalidAuthorization"},
		{"garbage-authorization", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Header.Set("Authorization", "Basic Zm9vOmJhcg==") })
		}, "AuthFailure.InvalidAuthorization"},
		{"token", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Header.Set("X-TC-Token", "sts") })
		}, "AuthFailure.TokenFailure"},
		{"bad-timestamp", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Header.Set("X-TC-Timestamp", "yesterday") })
		}, "InvalidParameter"},
		{"old-timestamp", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) {
				r.Header.Set("X-TC-Timestamp", strconv.FormatInt(time.Now().Unix()-301, 10))
			})
		}, "AuthFailure.SignatureExpire"},
		{"body-changed", func() *http.Request {
			r := tc3Request(t, srv, "Echo", `{"Name":"x"}`, nil)
			r.Body = io.NopCloser(strings.NewReader(`{"Name":"y"}`))
			r.ContentLength = -1
			return r
		}, "AuthFailure.SignatureFailure"},
		{"host-changed", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"x"}`, func(r *http.Request) { r.Host = "evil.example:80" })
		}, "AuthFailure.SignatureFailure"},
		{"out-of-scope-action", func() *http.Request {
			body := `{"Name":"x"}`
			ts := time.Now().Unix()
			return tc3Request(t, srv, "Echo", body, func(r *http.Request) {
				r.Header.Set("Authorization", signTC3("AKIDnarrow", "narrow-key", "dbbrain", host, "application/json", ts, "POST", "", []byte(body)))
			})
		}, "UnauthorizedOperation"},
		{"oversized-body", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"`+strings.Repeat("x", 10<<20)+`"}`, nil)
		}, "RequestSizeLimitExceeded"},
		{"oversized-get", func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL+"/?Name="+strings.Repeat("x", 33<<10), nil)
			return r
		}, "RequestSizeLimitExceeded"},
		{"not-json", func() *http.Request { return tc3Request(t, srv, "Echo", `{"Name":`, nil) }, "InvalidParameter"},
		{"json-array", func() *http.Request { return tc3Request(t, srv, "Echo", `[1]`, nil) }, "InvalidParameter"},
		{"duplicate-key", func() *http.Request { return tc3Request(t, srv, "Echo", `{"Name":"a","Name":"b"}`, nil) }, "InvalidParameter"},
		{"missing-required", func() *http.Request { return tc3Request(t, srv, "Echo", `{}`, nil) }, "MissingParameter"},
		{"null-required", func() *http.Request { return tc3Request(t, srv, "Echo", `{"Name":null}`, nil) }, "MissingParameter"},
		{"unknown-param", func() *http.Request { return tc3Request(t, srv, "Echo", `{"Name":"a","Nmae":"b"}`, nil) }, "UnknownParameter"},
		{"int-overflow", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"a","Ids":[99999999999999999999]}`, nil)
		}, "InvalidParameterValue"},
		{"int-as-float", func() *http.Request { return tc3Request(t, srv, "Echo", `{"Name":"a","Ids":[1.5]}`, nil) }, "InvalidParameter"},
		{"deep-nesting", func() *http.Request {
			return tc3Request(t, srv, "Echo", `{"Name":"a","X":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}`, nil)
		}, "InvalidParameter"},
		{"non-utf8", func() *http.Request { return tc3Request(t, srv, "Echo", "{\"Name\":\"\xff\xfe\"}", nil) }, "InvalidParameter"},
		{"panic-is-internal-error", func() *http.Request { return tc3Request(t, srv, "Boom", `{"Name":"a"}`, nil) }, "InternalError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := code(do(t, tt.req())); got != tt.want {
				t.Fatalf("code = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestNumericStrings: integers and booleans may come as strings (Tencent's
// own examples send "Limit":"20").
func TestNumericStrings(t *testing.T) {
	srv, _ := newGateway(t)
	env := do(t, tc3Request(t, srv, "Echo", `{"Name":"a","Ids":["7", 8],"Flag":"true"}`, nil))
	if code(env) != "" || env.Response.Echo.IDs[0] != 7 || !env.Response.Echo.Flag {
		t.Fatalf("%+v %+v", env.Response.Error, env.Response.Echo)
	}
}

// TestAccessLog: exactly one access line per request, with the request id,
// action, caller and code, and never the secret key (even from a panic).
func TestAccessLog(t *testing.T) {
	srv, logs := newGateway(t)
	do(t, tc3Request(t, srv, "Echo", `{"Name":"a"}`, nil))
	env := do(t, tc3Request(t, srv, "Boom", `{"Name":"a"}`, nil))
	entries := logs.FilterMessage("request").All()
	if len(entries) != 2 {
		t.Fatalf("%d access lines, want 2", len(entries))
	}
	last := entries[1].ContextMap()
	if last["request_id"] != env.Response.RequestId || last["action"] != "Boom" || last["caller"] != testID || last["code"] != "InternalError" {
		t.Fatalf("access line %v", last)
	}
	for _, e := range logs.All() {
		b, _ := json.Marshal(e.ContextMap())
		if strings.Contains(string(b)+e.Message, testKey) {
			t.Fatalf("secret key in log line: %s", b)
		}
	}
}
