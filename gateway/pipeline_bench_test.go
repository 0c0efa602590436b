package gateway_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"killgate/actions"
	"killgate/gateway"
	"killgate/ratelimit"
)

// benchPipeline measures the whole Tencent pipeline in-process (no sockets):
// a pre-signed request replayed through the handler, with a JSON access log
// written to a discarding sink as in production.
func benchPipeline(b *testing.B, limit ratelimit.Config, action, body string) {
	reg := actions.NewRegistry([]actions.Action{
		actions.Bind("Echo", func(ctx context.Context, r *echoReq) (*echoResp, error) { return &echoResp{Echo: *r}, nil }),
	})
	core := zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(discard{}), zap.InfoLevel)
	gw, err := gateway.New(gateway.Config{
		Credentials: []gateway.Credential{{SecretID: testID, SecretKey: testKey}},
		Registry:    reg, Limiter: ratelimit.New(limit), Log: zap.New(core),
	})
	if err != nil {
		b.Fatal(err)
	}
	h := gw.Handler()
	ts := time.Now().Unix()
	auth := signTC3(testID, testKey, "dbbrain", "127.0.0.1:8080", "application/json", ts, "POST", "", []byte(body))
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "http://127.0.0.1:8080/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-TC-Action", action)
		req.Header.Set("X-TC-Version", gateway.Version)
		req.Header.Set("X-TC-Timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

func BenchmarkPipelineEcho(b *testing.B) {
	benchPipeline(b, ratelimit.Config{PerSecond: 0}, "Echo", `{"Name":"bench"}`)
}

func BenchmarkPipelineRejected(b *testing.B) {
	benchPipeline(b, ratelimit.Config{PerSecond: 1e-9, Burst: 1, MaxKeys: 10, IdleTTL: time.Hour}, "Echo", `{"Name":"bench"}`)
}
