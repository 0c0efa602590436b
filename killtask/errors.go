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

	// Store: tasks and prepared kills.
	ErrNotFound      = errors.New("killtask: not found")
	ErrDuplicate     = errors.New("killtask: identical active task exists")
	ErrLimitExceeded = errors.New("killtask: too many active tasks")
	ErrExpired       = errors.New("killtask: expired")
	ErrUsed          = errors.New("killtask: already used")
)
