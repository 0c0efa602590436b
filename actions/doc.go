// Package actions is killgate's API surface. Its one job is to turn a
// decoded request into engine calls and an answer: every action is a plain
// func(ctx, *Req) (*Resp, error), one file per action, registered in
// registry.go; errors are *Error values whose Code comes from one catalogue
// (errors.go, Tencent Cloud API 3.0 names), which the doors render.
//
// # Imports
//
// actions knows nothing of HTTP: no gin, no net/http types, no envelopes or
// status codes. The gateway parses the wire into a generic map (ParseJSON,
// or its unflattened query and form), and Decode fills typed requests from
// it strictly: unknown parameters, missing required ones and wrong types
// are errors of the catalogue. It imports killtask and zap, never the
// gateway, ratelimit or tc3.
//
// # The engine is the only door
//
// actions reaches sessions, tasks, the kill history, prepared kills and
// intelligent-kill tasks through *killtask.Engine methods only, never a
// *killtask.Store (make deps checks this): whatever the engine guarantees
// (safety exclusions, re-checks before KILL, clocks) holds for every door.
//
// # Files
//
// One file per action (create_kill_task.go, kill_mysql_threads.go, …);
// registry.go (the action table), decode.go, decode_numbers.go and parse.go
// (input), errors.go (the catalogue), task_filter.go (the kill-task filter
// shared by CreateKillTask, PreviewKillTask and DescribeKillTasks),
// limits.go and listing.go (bounds on input and output), service.go (the
// Service, callers and their scope).
package actions
