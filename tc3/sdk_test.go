package tc3

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// The official SDKs sign differently when their endpoint is killgate's own
// address instead of <service>.tencentcloudapi.com. Each sdkStyle below
// imitates one of them, from its source (read for this test):
//
//   - Go, tencentcloud-sdk-go tencentcloud/common/client.go,
//     sendWithSignatureV3: service = request.GetService() ("dbbrain"); the
//     host line and the Host header are the endpoint, port included;
//     Content-Type application/json.
//   - Python, tencentcloud-sdk-python tencentcloud/common/abstract_client.py,
//     _build_req_with_tc3_signature / _get_tc3_signature: service =
//     self._service ("dbbrain"); req.header["Host"] = the endpoint, signed as
//     is; Content-Type application/json.
//   - Java, tencentcloud-sdk-java
//     src/main/java/com/tencentcloudapi/common/AbstractClient.java,
//     doRequestWithTC3 (and getAuthorization for call()): service =
//     endpoint.split("\\.")[0]; "host:" + endpoint, and Host = endpoint;
//     Content-Type "application/json; charset=utf-8" (okhttp adds the
//     charset, so the SDK signs it).
//   - Node.js, tencentcloud-sdk-nodejs src/common/abstract_client.ts,
//     doRequestWithSign3: service = this.endpoint.split(".")[0];
//     src/common/sign.ts, sign3: "host:" + new URL(url).hostname (no port);
//     src/common/http/http_connection.ts, doRequestWithSign3: Host = new
//     URL(url).host (port included); Content-Type application/json.
type sdkStyle struct {
	name        string
	contentType string
	// service is the credential scope's service for an endpoint.
	service func(endpoint string) string
	// hostLine is the value signed on the host line for an endpoint.
	hostLine func(endpoint string) string
}

// firstLabel is endpoint.split(".")[0], as in the Java and Node.js SDKs.
func firstLabel(endpoint string) string {
	label, _, _ := strings.Cut(endpoint, ".")
	return label
}

// urlHostname is what Node.js's new URL("http://"+endpoint).hostname gives
// for the endpoints below: lower case, no port, IPv6 brackets kept.
func urlHostname(endpoint string) string {
	if strings.HasPrefix(endpoint, "[") {
		return endpoint[:strings.IndexByte(endpoint, ']')+1]
	}
	h, _, _ := strings.Cut(endpoint, ":")
	return strings.ToLower(h)
}

func dbbrain(string) string          { return ServiceDBbrain }
func asGiven(endpoint string) string { return endpoint }

var sdkStyles = []sdkStyle{
	{"Go", "application/json", dbbrain, asGiven},
	{"Python", "application/json", dbbrain, asGiven},
	{"Java", "application/json; charset=utf-8", firstLabel, asGiven},
	{"Node.js", "application/json", firstLabel, urlHostname},
}

// sdkRequest signs a request the way style does for endpoint, with an
// independent implementation (refTC3Sig), and returns the parsed
// Authorization and the request as killgate receives it.
func sdkRequest(t *testing.T, style sdkStyle, endpoint, secretKey string, ts int64) (Auth, Request) {
	t.Helper()
	date := time.Unix(ts, 0).UTC().Format("2006-01-02")
	service := style.service(endpoint)
	sig := refTC3Sig(secretKey, service, "POST", "",
		"content-type:"+style.contentType+"\nhost:"+style.hostLine(endpoint)+"\n", "content-type;host", dbbrainBody, ts)
	auth, err := ParseAuthorization(refAuth(docSecretID, date, service, "content-type;host", sig))
	if err != nil {
		t.Fatal(err)
	}
	host := endpoint
	if style.name == "Node.js" {
		host = strings.ToLower(endpoint) // URL.host
	}
	return auth, Request{Method: "POST", Host: host, ContentType: style.contentType, Body: []byte(dbbrainBody)}
}

// TestSDKStyles: what each official SDK sends to killgate at an address of
// the user's choosing verifies, and the Verifier tries at most four
// candidates.
func TestSDKStyles(t *testing.T) {
	const ts = 1700000000
	endpoints := []string{
		"127.0.0.1:8080",         // Java/Node.js service "127"
		"killgate.internal:8080", // service "killgate"
		"killgate.internal",      // no port: Node.js signs what it sends
		"[::1]:8080",             // no dot: service "[::1]:8080"; Node.js host line "[::1]"
		"localhost:8080",         // no dot: service "localhost:8080"
		"dbbrain.internal:9000",  // label "dbbrain": the SDK's own service name
		"KillGate.Internal:8080", // Java signs "KillGate" and that Host; Node.js sends it lower-cased
	}
	for _, style := range sdkStyles {
		for _, ep := range endpoints {
			t.Run(style.name+"/"+ep, func(t *testing.T) {
				auth, req := sdkRequest(t, style, ep, docSecretKey, ts)
				ver := NewVerifier(ServiceDBbrain)
				for _, cache := range []string{"cold", "warm"} {
					if err := ver.Verify(docSecretKey, auth, req, ts); err != nil {
						t.Fatalf("%s: %s-style request to %s (service %q, Host %q): %v", cache, style.name, ep, auth.Service, req.Host, err)
					}
				}
			})
		}
	}
}

// TestSDKStylesRejects: accepting those scopes and host lines takes nothing
// away from what a signature must prove.
func TestSDKStylesRejects(t *testing.T) {
	const ts = 1700000000
	node, java := sdkStyles[3], sdkStyles[2]
	tests := []struct {
		name string
		// the request as signed (style, endpoint) and where it is sent
		style    sdkStyle
		endpoint string
		service  string // overrides the style's service when set
		key      string // the key the client signs with; the server has docSecretKey
		sentHost string // the Host killgate receives; default: what the style sends
		want     error
	}{
		{name: "Node.js style, wrong key", style: node, endpoint: "127.0.0.1:8080", key: "wrong", want: ErrMismatch},
		{name: "Java style, wrong key", style: java, endpoint: "killgate.internal:8080", key: "wrong", want: ErrMismatch},
		{name: "service cvm", style: node, endpoint: "127.0.0.1:8080", service: "cvm", want: ErrScope},
		{name: "service cvm, Java style", style: java, endpoint: "killgate.internal:8080", service: "cvm", want: ErrScope},
		{name: "first label of a different host", style: node, endpoint: "other.internal:8080",
			sentHost: "killgate.internal:8080", want: ErrScope},
		{name: "first label of a different host, Java style", style: java, endpoint: "killgate.internal:8080",
			service: "other", want: ErrScope},
		{name: "the right label, another host signed", style: node, endpoint: "killgate.other:8080",
			sentHost: "killgate.internal:8080", want: ErrMismatch},
		{name: "second label", style: node, endpoint: "killgate.internal:8080", service: "internal", want: ErrScope},
		{name: "label without the port a dotless host sends", style: node, endpoint: "localhost:8080",
			service: "localhost", want: ErrScope},
		{name: "another port than signed (Java style)", style: java, endpoint: "127.0.0.1:8080",
			sentHost: "127.0.0.1:8081", want: ErrMismatch},
		{name: "tencentcloudapi.com host earns no label", style: java, endpoint: "cvm.tencentcloudapi.com", want: ErrScope},
		{name: "regional tencentcloudapi.com host earns no label", style: java,
			endpoint: "cvm.ap-guangzhou.tencentcloudapi.com:443", want: ErrScope},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			style := tc.style
			if tc.service != "" {
				style.service = func(string) string { return tc.service }
			}
			key := docSecretKey
			if tc.key != "" {
				key = tc.key
			}
			auth, req := sdkRequest(t, style, tc.endpoint, key, ts)
			if tc.sentHost != "" {
				req.Host = tc.sentHost
			}
			err := NewVerifier(ServiceDBbrain).Verify(docSecretKey, auth, req, ts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestCandidates(t *testing.T) {
	tests := []struct {
		name, host  string
		lowerOthers bool
		want        []candidate
	}{
		{"Go SDK to a lower-case host:port", "127.0.0.1:8080", false,
			[]candidate{{"127.0.0.1:8080", false}, {"127.0.0.1", false}}},
		{"no port", "killgate.internal", false, []candidate{{"killgate.internal", false}}},
		{"upper case host", "KillGate.internal:8080", false, []candidate{
			{"KillGate.internal:8080", false}, {"KillGate.internal:8080", true},
			{"KillGate.internal", false}, {"KillGate.internal", true}}},
		{"upper case content type", "h:1", true, []candidate{{"h:1", false}, {"h:1", true}, {"h", false}, {"h", true}}},
		{"IPv6 with port", "[::1]:8080", false, []candidate{{"[::1]:8080", false}, {"[::1]", false}}},
		{"IPv6 without port", "[::1]", false, []candidate{{"[::1]", false}}},
		{"unbracketed IPv6", "::1", false, []candidate{{"::1", false}}},
		{"empty port", "h:", false, []candidate{{"h:", false}}},
		{"port not numeric", "h:x", false, []candidate{{"h:x", false}}},
		{"empty", "", false, []candidate{{"", false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf [maxCandidates]candidate
			got := candidates(&buf, tc.host, tc.lowerOthers)
			if len(got) > maxCandidates || len(got) != len(tc.want) {
				t.Fatalf("candidates(%q) = %v, want %v", tc.host, got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("candidates(%q) = %v, want %v", tc.host, got, tc.want)
				}
			}
		})
	}
}

func TestIsHostLabel(t *testing.T) {
	tests := []struct {
		service, host string
		want          bool
	}{
		{"127", "127.0.0.1:8080", true},
		{"killgate", "killgate.internal:8080", true},
		{"KILLGATE", "killgate.internal:8080", true},
		{"killgate", "killgate.internal.:8080", true},
		{"[::1]:8080", "[::1]:8080", true},
		{"localhost:8080", "localhost:8080", true},
		{"localhost", "localhost:8080", false},
		{"internal", "killgate.internal:8080", false},
		{"cvm", "cvm.tencentcloudapi.com", false},
		{"cvm", "cvm.tencentcloudapi.com:443", false},
		{"cvm", "CVM.TencentCloudAPI.com.", false},
		{"cvm", "cvm.ap-guangzhou.tencentcloudapi.com", false},
		{"tencentcloudapi", "tencentcloudapi.com", false},
		{"cvm", "cvm.tencentcloudapi.com.evil.example", true}, // not Tencent's: an ordinary host
		{"", ".internal", false},
		{"x", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.service+"@"+tc.host, func(t *testing.T) {
			if got := isHostLabel(tc.service, tc.host); got != tc.want {
				t.Fatalf("isHostLabel(%q, %q) = %v, want %v", tc.service, tc.host, got, tc.want)
			}
		})
	}
}
