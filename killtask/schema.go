package killtask

// migrations are applied in order at start-up; each runs once per store and is
// recorded in schema_migrations. Append only: never edit an applied step.
// {{autoinc}}, {{text}}, {{key}} are replaced per dialect (see Store.rewrite).
var migrations = []string{
	// 1: tasks, history, prepared (two-stage) kills in sql_execs, intelligent-kill tasks.
	`CREATE TABLE IF NOT EXISTS tasks (
		id          {{key}} NOT NULL PRIMARY KEY,
		instance_id {{key}} NOT NULL,
		product     VARCHAR(32) NOT NULL,
		filter_json {{text}} NOT NULL,
		duration_s  BIGINT NOT NULL,
		created_ms  BIGINT NOT NULL,
		expires_ms  BIGINT NOT NULL,
		status      VARCHAR(16) NOT NULL,
		ended_ms    BIGINT NOT NULL DEFAULT 0,
		creator     VARCHAR(128) NOT NULL DEFAULT '',
		kills       BIGINT NOT NULL DEFAULT 0,
		last_error  {{text}} NOT NULL
	)`,
	`CREATE INDEX idx_tasks_instance_status ON tasks (instance_id, status)`,
	`CREATE INDEX idx_tasks_status ON tasks (status)`,
	`CREATE TABLE IF NOT EXISTS instance_locks (
		instance_id {{key}} NOT NULL PRIMARY KEY
	)`,
	`CREATE TABLE IF NOT EXISTS kill_records (
		id          {{autoinc}},
		source      VARCHAR(16) NOT NULL,
		task_id     {{key}} NOT NULL,
		instance_id {{key}} NOT NULL,
		node_id     {{key}} NOT NULL,
		product     VARCHAR(32) NOT NULL,
		thread_id   BIGINT UNSIGNED NOT NULL,
		user_name   VARCHAR(128) NOT NULL,
		host        VARCHAR(300) NOT NULL,
		db          VARCHAR(128) NOT NULL,
		command     VARCHAR(32) NOT NULL,
		time_s      BIGINT NOT NULL,
		state       VARCHAR(128) NOT NULL,
		info        {{text}} NOT NULL,
		outcome     VARCHAR(16) NOT NULL,
		error       {{text}} NOT NULL,
		killed_ms   BIGINT NOT NULL
	)`,
	`CREATE INDEX idx_records_killed ON kill_records (killed_ms)`,
	`CREATE INDEX idx_records_task ON kill_records (task_id)`,
	`CREATE INDEX idx_records_instance ON kill_records (instance_id, killed_ms)`,
	`CREATE TABLE IF NOT EXISTS sql_execs (
		id           {{key}} NOT NULL PRIMARY KEY,
		instance_id  {{key}} NOT NULL,
		product      VARCHAR(32) NOT NULL,
		threads_json {{text}} NOT NULL,
		created_ms   BIGINT NOT NULL,
		expires_ms   BIGINT NOT NULL,
		committed_ms BIGINT NOT NULL DEFAULT 0,
		creator      VARCHAR(128) NOT NULL DEFAULT ''
	)`,
	`CREATE TABLE IF NOT EXISTS intelligent_tasks (
		id          {{key}} NOT NULL PRIMARY KEY,
		instance_id {{key}} NOT NULL,
		node_id     {{key}} NOT NULL,
		created_ms  BIGINT NOT NULL,
		ended_ms    BIGINT NOT NULL DEFAULT 0,
		summary     {{text}} NOT NULL
	)`,
	`CREATE INDEX idx_intelligent_node ON intelligent_tasks (instance_id, node_id, created_ms)`,
	// 12-14: scale-out (docs/scale-out.md). One lease row per instance node:
	// the replica that owns the node's enforcement until expires_ms (store
	// clock, milliseconds). One heartbeat row per running replica, to share
	// the nodes out. The replica that made each kill-history row.
	`CREATE TABLE IF NOT EXISTS node_leases (
		node_key    VARCHAR(191) NOT NULL PRIMARY KEY,
		owner       VARCHAR(128) NOT NULL,
		expires_ms  BIGINT NOT NULL,
		acquired_ms BIGINT NOT NULL DEFAULT 0,
		renewals    BIGINT NOT NULL DEFAULT 0
	)`,
	`CREATE TABLE IF NOT EXISTS replicas (
		id         VARCHAR(128) NOT NULL PRIMARY KEY,
		started_ms BIGINT NOT NULL,
		expires_ms BIGINT NOT NULL
	)`,
	`ALTER TABLE kill_records ADD COLUMN replica VARCHAR(128) NOT NULL DEFAULT ''`,
	// 15: the canonical key of each task's normalised filter (Filter.Key),
	// compared by the duplicate check; '' in rows written before it (their
	// key is computed from filter_json when needed).
	`ALTER TABLE tasks ADD COLUMN filter_key VARCHAR(64) NOT NULL DEFAULT ''`,
	// 16-20: kill modes and observe-only tasks (docs/matching-and-safety.md).
	// A task's kill mode ('' = CONNECTION, as every task before it) and
	// whether it only observes; how many sessions it observed. Each history
	// row's KILL sent ('' before it was recorded) and the filter that
	// matched (NULL before it was recorded and for manual kills).
	`ALTER TABLE tasks ADD COLUMN kill_mode VARCHAR(16) NOT NULL DEFAULT ''`,
	`ALTER TABLE tasks ADD COLUMN observe BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE tasks ADD COLUMN observed BIGINT NOT NULL DEFAULT 0`,
	`ALTER TABLE kill_records ADD COLUMN kill_mode VARCHAR(16) NOT NULL DEFAULT ''`,
	`ALTER TABLE kill_records ADD COLUMN matched {{text}} NULL`,
}
