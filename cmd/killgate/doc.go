// Command killgate serves the Tencent DBbrain and Huawei GaussDB kill-session
// APIs for self-managed MySQL, MariaDB and TDSQL-C instances.
//
//	killgate -config killgate.yaml   (or KILLGATE_CONFIG)
//	killgate -version
//
// Its one job is to wire and run the parts: it reads the YAML configuration
// (config.go: one struct, ${VAR} expansion, unknown keys refused, defaults
// taken from the packages that own them), then opens the store, builds the
// engine (killtask), the action service and its two registries (actions),
// the rate limiter (ratelimit), the ops endpoints and metrics and the HTTP
// front (gateway), and runs them. It is the composition root, so it may
// import every killgate package; nothing imports it. Adapters between
// packages that must not know each other live here (observer.go: the
// gateway's metrics as the engine's observer).
//
// # Lifecycle
//
// The HTTP listener, the ops listener (ops.listen) and the engine run in one
// errgroup. A SIGINT or SIGTERM, or the failure of any part, starts the same
// shutdown: drain the listeners (in-flight requests finish, up to 20s), then
// stop the engine (in-flight kills return, the kill history is flushed),
// then close the store. The whole shutdown runs under a watchdog: past 45s
// the process logs and prints that it did not finish and exits with code 2.
// Exit codes: 0 after a signal, 1 with the cause on stderr when a part
// failed or the start-up did, 2 from the watchdog. A second signal during
// the shutdown ends the process at once. (docs/operations.md#shutdown)
package main
