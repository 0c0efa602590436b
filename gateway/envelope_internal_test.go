package gateway

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// refEnvelope is the encoding/json rendering errorEnvelope must equal.
func refEnvelope(code, msg, rid string) []byte {
	var e struct {
		Response struct {
			Error struct {
				Code    string `json:"Code"`
				Message string `json:"Message"`
			} `json:"Error"`
			RequestId string `json:"RequestId"`
		} `json:"Response"`
	}
	e.Response.Error.Code, e.Response.Error.Message, e.Response.RequestId = code, msg, rid
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(e)
	return bytes.TrimRight(b.Bytes(), "\n")
}

func TestErrorEnvelopeMatchesEncodingJSON(t *testing.T) {
	same := func(t *testing.T, s string) {
		t.Helper()
		got, want := errorEnvelope("Code."+s, s, s), refEnvelope("Code."+s, s, s)
		if !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	}
	for _, tc := range []struct{ name, s string }{
		{"empty", ""},
		{"plain", "plain"},
		{"quote and backslash", "quote \" backslash \\ slash /"},
		{"whitespace escapes", "tab\tnl\nret\r"},
		{"control characters", "\x00\x01\x1f\x7f"},
		{"html", "<html>&amp;"},
		{"non-ASCII", "ünïcödé 中文 🙂"},
		{"line separators", "\u2028\u2029"},
		{"invalid UTF-8", "bad \xff\xfe utf8 \xc3"},
		{"backquotes", "`Duration` must be -1"},
	} {
		t.Run(tc.name, func(t *testing.T) { same(t, tc.s) })
	}
	t.Run("2000 random byte strings", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for range 2000 {
			b := make([]byte, r.IntN(24))
			for i := range b {
				b[i] = byte(r.IntN(256))
			}
			same(t, string(b))
		}
	})
}

func BenchmarkErrorEnvelope(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		errorEnvelope("RequestLimitExceeded", "Your current request times equals to `20` in a second, which exceeds the frequency limit `20` for a second.", "0d6f3c6e-5b7a-4b8e-9f1e-2c3d4e5f6a7b")
	}
}
