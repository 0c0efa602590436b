package gateway

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"killgate/actions"
)

// FuzzHuaweiAuthorization feeds arbitrary Authorization, X-Sdk-Date, token,
// path, query and body values to the Huawei door's authentication. Every
// input is either accepted with a valid signature or refused with a 401
// APIGW.0301 — never a panic. When sign is set, the harness signs the
// request properly (HuaweiSignature over the fuzzed path, query, body and a
// fuzzed set of extra headers) and authentication must then succeed.
func FuzzHuaweiAuthorization(f *testing.F) {
	const ak, sk, token = "HWAKFUZZ", "hw-fuzz-sk-0123456789", "hw-fuzz-token-0123456789"
	s, err := New(Config{
		Registry: actions.NewRegistry(nil),
		Huawei:   HuaweiConfig{ProjectID: strings.Repeat("a", 32), Tokens: []string{token}, Keys: map[string]string{ak: sk}},
	})
	if err != nil {
		f.Fatal(err)
	}
	now := time.Now().UTC()
	date := now.Format(HuaweiDateFormat)
	for _, seed := range []struct {
		auth, date, tok, path, query, body, extra string
		sign                                      bool
	}{
		{"", date, "", "/v3/p/instances/i/intelligent-kill-session", "", `{"node_id":"n"}`, "x-project-id", true},
		{"", date, "", "/v3/p/instances/i/intelligent-kill-session/statistic", "node_id=a%20b&z=1&a=2", "", "", true},
		{"SDK-HMAC-SHA256 Access=HWAKFUZZ, SignedHeaders=host;x-sdk-date, Signature=" + strings.Repeat("0", 64), date, "", "/v3/", "", "", "", false},
		{"SDK-HMAC-SHA256 Access=HWAKFUZZ, SignedHeaders=Host, Signature=00", date, "", "/", "", "", "", false},
		{"SDK-HMAC-SHA256 Access=, SignedHeaders=;;, Signature=", "bad", "", "/", "", "", "", false},
		{"SDK-HMAC-SHA256 ,,,,", "", "", "/", "%zz", "", "", false},
		{"Bearer x", date, token, "/", "", "", "", false},
		{"", "", "wrong-token", "/", "", "", "", false},
		{"", "19700101T000000Z", "", "/a b/%2F", "a=1&a=2", "\xff", "x-sdk-content-sha256", true},
	} {
		f.Add(seed.auth, seed.date, seed.tok, seed.path, seed.query, []byte(seed.body), seed.extra, seed.sign)
	}
	f.Fuzz(func(t *testing.T, auth, dateHdr, tok, path, query string, body []byte, extra string, sign bool) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r, err := http.NewRequest("POST", "http://127.0.0.1:8080"+path, bytes.NewReader(body))
		if err != nil || r.URL.Host != "127.0.0.1:8080" {
			return
		}
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/json")
		if !headerValueOK(dateHdr) || !headerValueOK(auth) || !headerValueOK(tok) {
			return
		}
		if tok != "" {
			r.Header.Set("X-Auth-Token", tok)
		}
		if sign {
			r.Header.Set("X-Sdk-Date", date)
			signed := []string{"host", "x-sdk-date"}
			if extra = strings.ToLower(extra); headerNameOK(extra) && extra != "host" && extra != "x-sdk-date" &&
				extra != "x-auth-token" && extra != "x-security-token" && extra != "content-type" && extra != "authorization" {
				if extra == "x-sdk-content-sha256" {
					r.Header.Set(extra, hwUnsignedPayload)
				} else {
					r.Header.Set(extra, "v")
				}
				signed = append(signed, extra)
				sortStrings(signed)
			}
			sig, err := HuaweiSignature(sk, r, signed, body)
			if err != nil {
				return // e.g. a malformed query: the verifier refuses it too
			}
			r.Header.Set("Authorization", HuaweiAlgorithm+" Access="+ak+", SignedHeaders="+strings.Join(signed, ";")+", Signature="+sig)
		} else {
			if dateHdr != "" {
				r.Header.Set("X-Sdk-Date", dateHdr)
			}
			if auth != "" {
				r.Header.Set("Authorization", auth)
			}
		}
		caller, herr := s.huaweiAuthenticate(r, body)
		switch {
		case herr != nil:
			status, code, msg := huaweiError(herr)
			if status != http.StatusUnauthorized || code != hwCodeAuth || msg == "" {
				t.Fatalf("refusal %d %s %q", status, code, msg)
			}
			if strings.Contains(msg, sk) || strings.Contains(msg, token) {
				t.Fatalf("secret in message %q", msg)
			}
			if sign && tok == "" {
				t.Fatalf("a properly signed request was refused: %v", herr)
			}
		case tok != "":
			if tok != token || caller != "token#1" {
				t.Fatalf("token %q accepted as %q", tok, caller)
			}
		default:
			if !sign || caller != ak {
				t.Fatalf("unsigned request accepted as %q (auth %q)", caller, auth)
			}
		}
		// The parser alone: whatever it accepts is well formed.
		if a, err := parseHuaweiAuthorization(auth); err == nil {
			if a.Access == "" || len(a.Signature) != 64 || len(a.SignedHeaders) == 0 {
				t.Fatalf("parsed %q into %+v", auth, a)
			}
			for _, h := range a.SignedHeaders {
				if h == "" || strings.ToLower(h) != h {
					t.Fatalf("parsed %q: signed header %q", auth, h)
				}
			}
		}
	})
}

func headerValueOK(v string) bool {
	for _, c := range []byte(v) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return len(v) < 8192
}

func headerNameOK(k string) bool {
	if k == "" || len(k) > 64 {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
