// Package ratelimit decides whether one more request may pass for a key:
// keyed token buckets (one golang.org/x/time/rate bucket per key) with a
// bounded key set and an injectable clock (Limiter), and a fleet-wide GCRA
// limiter over Redis that falls back to the local one while Redis is
// unavailable (Redis).
//
// Keys are opaque strings built by the caller, typically
// SecretId + "\x00" + Action. Allow takes the request's context, so a Redis
// decision is bounded by the request as well as by its own timeout.
//
// It is a leaf of killgate's dependency graph: it may import the standard
// library, golang.org/x/time/rate, the Redis client and zap, and never
// another killgate package; it has no HTTP, Tencent or Huawei vocabulary.
package ratelimit
