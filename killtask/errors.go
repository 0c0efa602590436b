package killtask

import "errors"

// Sentinel errors. Callers branch on them with errors.Is; the errors
// returned wrap them with detail (an instance id, a task id).
var (
	// Engine: the request names what is not configured, or the node
	// cannot be read.
	ErrUnknownInstance = errors.New("killtask: unknown instance")
	ErrUnknownNode     = errors.New("killtask: unknown node")
	ErrUnavailable     = errors.New("killtask: instance unavailable")
	// ErrStaleTrxCache: the server's INNODB_TRX cache was not refreshed
	// since a read began (see trxCacheIdle in enrich.go).
	ErrStaleTrxCache = errors.New("information_schema.INNODB_TRX is stale: its cache was not refreshed since this read began " +
		"(another client reads INNODB_TRX or the lock tables more often than every 100 ms); TrxTime and Blocking filters wait for a fresh read")

	// Store: tasks and prepared kills.
	ErrNotFound      = errors.New("killtask: not found")
	ErrDuplicate     = errors.New("killtask: identical active task exists")
	ErrLimitExceeded = errors.New("killtask: too many active tasks")
	ErrExpired       = errors.New("killtask: expired")
	ErrUsed          = errors.New("killtask: already used")
)
