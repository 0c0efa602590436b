package ratelimit

import (
	"math"
	"testing"
)

// TestRate: limiters tell their configured rate (the gateway quotes it in
// RequestLimitExceeded); unlimited ones say 0.
func TestRate(t *testing.T) {
	for _, tt := range []struct {
		name string
		ps   float64
		want float64
	}{
		{"20", 20, 20},
		{"half", 0.5, 0.5},
		{"unlimited", 0, 0},
		{"negative", -1, 0},
		{"inf", math.Inf(1), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{PerSecond: tt.ps, Burst: 1, MaxKeys: 10, IdleTTL: 0}
			if got := New(cfg).Rate(); got != tt.want {
				t.Fatalf("Limiter.Rate() = %v, want %v", got, tt.want)
			}
			r := NewRedis(RedisConfig{Addr: "127.0.0.1:1"}, cfg, nil, nil)
			defer r.Close()
			if got := r.Rate(); got != tt.want {
				t.Fatalf("Redis.Rate() = %v, want %v", got, tt.want)
			}
		})
	}
}
