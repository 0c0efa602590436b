// Package procfs reads what killgate's tools measure of a process from
// Linux's /proc. It imports only the standard library; the benchmark and
// soak tools share it.
package procfs

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Mem returns pid's resident set size and its peak (VmRSS, VmHWM), in KiB;
// zeros when /proc cannot be read.
func Mem(pid int) (rssKB, hwmKB int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rssKB = v
		case "VmHWM:":
			hwmKB = v
		}
	}
	return rssKB, hwmKB
}
