package actions

import "killgate/killtask"

// TaskMode says what a kill task does to the sessions its filter selects:
// killgate extensions of CreateKillTask and PreviewKillTask (shown by
// DescribeKillTasks), documented in docs/matching-and-safety.md. A caller
// who leaves them out gets DBbrain's task: KILL CONNECTION (or the
// instance's default_kill_mode) on every match.
type TaskMode struct {
	// KillMode is CONNECTION (end the session) or QUERY (end its running
	// statement, keep the connection); case-insensitive. Empty: the
	// instance's default_kill_mode, CONNECTION unless configured.
	KillMode string `json:"KillMode"`
	// Observe makes an observe-only task (a dry run): it records what it
	// would kill (outcome observed) and never sends a KILL.
	Observe bool `json:"Observe"`
}

// Validate checks KillMode.
func (m *TaskMode) Validate() error {
	if _, ok := killtask.ParseKillMode(m.KillMode); !ok {
		return E(InvalidParameterValue, "The parameter `KillMode` must be CONNECTION or QUERY; got `%s`.", m.KillMode)
	}
	return nil
}

// mode returns the validated kill mode ("" = the instance's default).
func (m *TaskMode) mode() killtask.KillMode {
	km, _ := killtask.ParseKillMode(m.KillMode)
	return km
}

// taskModeOf shows a task's mode with the API's names.
func taskModeOf(t *killtask.Task) TaskMode {
	mode := t.Mode
	if mode == "" {
		mode = killtask.KillConnection
	}
	return TaskMode{KillMode: string(mode), Observe: t.Observe}
}
