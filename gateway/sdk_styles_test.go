package gateway_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"killgate/gateway"
	"killgate/gateway/kgtest"
)

// sdkStyle sends a DescribeKillTasks request the way one official Tencent
// SDK does when its endpoint is set to killgate's address. What each one
// signs, from its source:
//
//   - Node.js, tencentcloud-sdk-nodejs src/common/abstract_client.ts,
//     doRequestWithSign3: service = this.endpoint.split(".")[0] ("127" for
//     127.0.0.1:PORT); src/common/sign.ts, sign3: "host:" + new
//     URL(url).hostname, without the port; src/common/http/http_connection.ts,
//     doRequestWithSign3: sends Host = new URL(url).host, with the port;
//     body JSON.stringify, Content-Type application/json.
//   - Python, tencentcloud-sdk-python tencentcloud/common/abstract_client.py,
//     _build_req_with_tc3_signature / _get_tc3_signature: service =
//     self._service ("dbbrain"); req.header["Host"] = the endpoint, port
//     included, signed as sent; body json.dumps (", " and ": " separators),
//     Content-Type application/json.
//   - Java, tencentcloud-sdk-java
//     src/main/java/com/tencentcloudapi/common/AbstractClient.java,
//     doRequestWithTC3: service = endpoint.split("\\.")[0]; "host:" +
//     endpoint and Host = endpoint, port included; Content-Type
//     "application/json; charset=utf-8" (okhttp appends the charset).
//
// The Go SDK (tencentcloud/common/client.go, sendWithSignatureV3: service
// "dbbrain", host = endpoint) is driven for real in tencent_sdk_test.go.
type sdkStyle struct {
	name, contentType, requestClient string
	body                             string
	service                          func(endpoint string) string // credential scope
	hostLine                         func(endpoint string) string // signed
	hostHeader                       func(endpoint string) string // sent
}

func endpointLabel(endpoint string) string { l, _, _ := strings.Cut(endpoint, "."); return l }
func dbbrainService(string) string         { return "dbbrain" }
func endpointAsIs(endpoint string) string  { return endpoint }

// nodeHostname is new URL("http://"+endpoint).hostname: no port, IPv6
// brackets kept.
func nodeHostname(endpoint string) string {
	if strings.HasPrefix(endpoint, "[") {
		return endpoint[:strings.IndexByte(endpoint, ']')+1]
	}
	h, _, _ := strings.Cut(endpoint, ":")
	return h
}

var (
	nodeStyle = sdkStyle{"Node.js", "application/json", "SDK_NODEJS_4.1.60",
		`{"InstanceId":"` + kgtest.Instance + `","Limit":10}`, endpointLabel, nodeHostname, endpointAsIs}
	pythonStyle = sdkStyle{"Python", "application/json", "SDK_PYTHON_3.0.1300",
		`{"InstanceId": "` + kgtest.Instance + `", "Limit": 10}`, dbbrainService, endpointAsIs, endpointAsIs}
	javaStyle = sdkStyle{"Java", "application/json; charset=utf-8", "SDK_JAVA_3.1.987",
		`{"InstanceId":"` + kgtest.Instance + `","Limit":10}`, endpointLabel, endpointAsIs, endpointAsIs}
)

// send signs as the style does for endpoint with key (service overrides
// the style's scope when set) and posts to addr with the Host header the
// style sends, or host when set. It returns the error code ("" for a
// success envelope) and the raw answer.
func (st sdkStyle) send(t *testing.T, addr, endpoint, key, service, host string) (string, []byte) {
	t.Helper()
	ts := time.Now().Unix()
	if service == "" {
		service = st.service(endpoint)
	}
	if host == "" {
		host = st.hostHeader(endpoint)
	}
	req, err := http.NewRequest("POST", "http://"+addr+"/", strings.NewReader(st.body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", st.contentType)
	req.Header.Set("X-TC-Action", "DescribeKillTasks")
	req.Header.Set("X-TC-Version", gateway.Version)
	req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("X-TC-Region", "ap-guangzhou")
	req.Header.Set("X-TC-RequestClient", st.requestClient)
	sig := tc3Sign(key, service, "POST", st.hostLine(endpoint), "", req.Header,
		[]string{"content-type", "host"}, []byte(st.body), ts)
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	req.Header.Set("Authorization", "TC3-HMAC-SHA256 Credential="+kgtest.SecretID+"/"+date+"/"+service+
		"/tc3_request, SignedHeaders=content-type;host, Signature="+sig)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env struct {
		Response struct {
			Error      *struct{ Code string }
			RequestId  string
			TotalCount *int64
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if resp.StatusCode != 200 || dec.Decode(&env) != nil || env.Response.RequestId == "" {
		t.Fatalf("status %d, not an envelope: %s", resp.StatusCode, raw)
	}
	if env.Response.Error != nil {
		return env.Response.Error.Code, raw
	}
	if env.Response.TotalCount == nil {
		t.Fatalf("no DescribeKillTasks result: %s", raw)
	}
	return "", raw
}

// TestOtherSDKSignatures: a killgate reached at its own address — loopback
// IPv4 and IPv6, a name with and without a dot — accepts DescribeKillTasks
// signed the way the Node.js, Python and Java SDKs sign it (issue 12.2), and
// still refuses what a signature must not pass.
func TestOtherSDKSignatures(t *testing.T) {
	s := kgtest.Start(t, kgtest.Options{})
	_, port, err := net.SplitHostPort(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	// All reach the stack's 127.0.0.1 listener; the Host header is what
	// the SDK pointed at that endpoint sends.
	endpoints := []string{s.Addr, "killgate.internal:" + port, "[::1]:" + port, "localhost:" + port}
	for _, st := range []sdkStyle{nodeStyle, pythonStyle, javaStyle} {
		for _, ep := range endpoints {
			t.Run(st.name+"/"+ep, func(t *testing.T) {
				if code, raw := st.send(t, s.Addr, ep, kgtest.SecretKey, "", ""); code != "" {
					t.Fatalf("%s-style request to %s (service %q): %s", st.name, ep, st.service(ep), raw)
				}
			})
		}
	}

	named := "killgate.internal:" + port
	tests := []struct {
		name     string
		style    sdkStyle
		endpoint string // what the client was pointed at
		key      string
		service  string // credential scope, when not the style's
		host     string // Host sent, when not the style's
	}{
		{name: "Node.js style, wrong key", style: nodeStyle, endpoint: s.Addr, key: "wrong-key"},
		{name: "Java style, wrong key", style: javaStyle, endpoint: named, key: "wrong-key"},
		{name: "service cvm", style: nodeStyle, endpoint: s.Addr, service: "cvm"},
		{name: "service cvm, host signed as sent", style: javaStyle, endpoint: named, service: "cvm"},
		{name: "first label of a different host", style: nodeStyle, endpoint: "other.internal:" + port, host: named},
		{name: "first label of a different host, Java style", style: javaStyle, endpoint: named, service: "other"},
		{name: "right label, another host signed", style: nodeStyle, endpoint: "killgate.other:" + port, host: named},
		{name: "tencentcloudapi.com host earns no label", style: javaStyle, endpoint: "cvm.tencentcloudapi.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := kgtest.SecretKey
			if tc.key != "" {
				key = tc.key
			}
			if code, raw := tc.style.send(t, s.Addr, tc.endpoint, key, tc.service, tc.host); code != "AuthFailure.SignatureFailure" {
				t.Fatalf("code %q, want AuthFailure.SignatureFailure: %s", code, raw)
			}
		})
	}
}
