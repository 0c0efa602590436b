package gateway

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkFloorTC3 is the floor for BenchmarkVerifyTC3: the least work any
// TC3 verifier must do for the same request with a cached signing key — hash
// the body, hash the canonical request, one HMAC over the string to sign —
// written plainly with the standard library (cmd/kgbench quotes the ratio).
func BenchmarkFloorTC3(b *testing.B) {
	auth, req, ts := benchTC3()
	key := deriveTC3Key(docSecretKey, auth.Date, auth.Service)
	want, _ := hex.DecodeString(auth.Signature)
	b.ReportAllocs()
	for b.Loop() {
		bh := sha256.Sum256(req.Body)
		canon := req.Method + "\n/\n" + req.RawQuery + "\ncontent-type:" + strings.ToLower(req.ContentType) +
			"\nhost:" + strings.ToLower(req.Host) + "\n\ncontent-type;host\n" + hex.EncodeToString(bh[:])
		ch := sha256.Sum256([]byte(canon))
		sts := TC3Algorithm + "\n" + strconv.FormatInt(ts, 10) + "\n" + auth.Date + "/" + auth.Service + "/tc3_request\n" + hex.EncodeToString(ch[:])
		m := hmac.New(sha256.New, key[:])
		m.Write([]byte(sts))
		if !hmac.Equal(m.Sum(nil), want) {
			b.Fatal("floor signature differs")
		}
	}
}
