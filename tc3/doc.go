// Package tc3 signs and verifies Tencent Cloud API 3.0 request signatures:
// TC3-HMAC-SHA256 (signature v3) and the legacy HmacSHA1 / HmacSHA256
// (signature v1). That is its one job.
//
// It works on plain data (a Request, a parsed Auth, url.Values), never on a
// server framework's types, so killgate's gateway, killgatectl, the load
// generators and the tests share one implementation. It imports only the
// standard library (make deps checks this), so a client that only signs —
// killgatectl — links nothing else, and no package init of the server runs
// in it.
//
// The gateway verifies with a Verifier, which holds the derived signing
// keys of verified requests. Which credential scopes and Host lines a
// Verifier accepts, and why (the SDKs differ), is on Verifier.Verify and in
// docs/sdks.md.
//
// Error mapping (done by the caller):
//
//	ErrMalformed → AuthFailure.InvalidAuthorization
//	ErrScope     → AuthFailure.SignatureFailure (wrong service or date in Credential)
//	ErrMismatch  → AuthFailure.SignatureFailure
//	ErrExpired   → AuthFailure.SignatureExpire
package tc3
