package procfs

import (
	"os"
	"testing"
)

func TestMemOfThisProcess(t *testing.T) {
	rss, hwm := Mem(os.Getpid())
	if rss <= 0 || hwm < rss {
		t.Fatalf("VmRSS %d KiB, VmHWM %d KiB: want 0 < RSS <= HWM", rss, hwm)
	}
	if rss, hwm := Mem(-1); rss != 0 || hwm != 0 {
		t.Fatalf("no such process: %d %d, want zeros", rss, hwm)
	}
}
