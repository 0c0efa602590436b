package killtask

import (
	"context"
	"time"
)

// ActiveTaskCounts returns how many running, unexpired tasks each instance
// has in the store (instances without any are absent): the scrape-time
// question of the gateway's metrics, answered in plain types.
func (s *Store) ActiveTaskCounts(ctx context.Context, now time.Time) (map[string]int, error) {
	tasks, err := s.ActiveTasks(ctx, now)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, t := range tasks {
		out[t.InstanceID]++
	}
	return out, nil
}
