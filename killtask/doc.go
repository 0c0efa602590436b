// Package killtask is killgate's domain: kill tasks and their enforcement.
// Its one job is to decide which database sessions to kill, kill them
// safely and remember every attempt. It holds the task model and the pure
// session matching, the store of tasks, history, prepared kills and
// intelligent-kill tasks (SQLite or MySQL), the per-node pollers and the
// killer, intelligent-kill grouping, and node leases for replicas sharing a
// store.
//
// # Imports
//
// killtask knows nothing of HTTP or of any cloud API: no request, envelope,
// signature or error code of a door appears here, and it speaks of kill
// tasks, kill requests and prepared kills, never of a provider's names for
// them. It imports the standard library, the MySQL driver, sqlx, the
// embedded SQLite driver, zap and the SQL lexer; never actions, gateway,
// ratelimit or tc3 (make deps checks this).
//
// # The engine is the only door
//
// The API layer talks to an *Engine and to nothing else: every read and
// write of tasks, history, prepared kills and intelligent-kill tasks, and
// every kill, goes through its methods. The *Store is opened and owned by
// main (and by tests) and handed to NewEngine; the Engine does not give it
// out.
//
// # Task states
//
// A task is created Running and ends once:
//
//	Running ──(Duration elapsed, from creation)──▶ Finished
//	Running ──(CancelTasks)──────────────────────▶ Cancelled
//
// Expiry is stored and judged by the engine's clock (WithClock); downtime
// never extends a task, and a task that expired while the process was down
// ends at its expiry. Ended tasks are kept for the history's retention.
//
// # Safety invariants
//
// A wrong kill is the worst bug; these hold for task kills and for kills
// asked for through Kill alike:
//
//   - Own connections from the registry only. Every connection killgate
//     opens registers its server identity and connection id (ownconn.go);
//     such a session is never killed. Ownership is never read from what a
//     session shows: its statement text or account name buys it nothing.
//   - Exclusions by server-decided fields only (Exclusion): server threads
//     (no client host), daemons, replication threads, sessions already
//     being killed, and the operator's protected users.
//   - Re-check before KILL. Thread ids are reused: candidates are read
//     again just before their KILL and killed only if unchanged (a task
//     kill: same id, user, host and statement, still matching an active
//     task; a requested kill: per its Match rule). An id not seen in that
//     read is never killed.
//   - Integer ids. The statement is KILL CONNECTION (a QUERY task: KILL
//     QUERY ID / KILL QUERY; the rds method: CALL mysql.rds_kill /
//     rds_kill_query) with the ids formatted from a uint64, on a
//     connection checked to reach the server the session was read on;
//     never an interpolated string (killmethod.go).
//   - Observe-only tasks never send a KILL and never shield a session
//     from a task that kills (observe.go).
//   - Data read beside the processlist (transactions, lock waits) is
//     re-read at the re-check and proven fresh; when it cannot be read the
//     filters that need it match nothing (enrich.go).
//   - Cancellation is a barrier: no KILL for a task starts after
//     CancelTasks returns (in this process, and with leases in any
//     replica).
//
// docs/matching-and-safety.md states the same rules for operators.
package killtask
