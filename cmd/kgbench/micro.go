package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

func execCommand(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

// microBench is one go test benchmark, medians over -count runs.
type microBench struct {
	Pkg, Name           string
	NsOp, BOp, AllocsOp float64
	Extra               map[string]float64 // custom metrics (pairs/op …)
	Runs                int
}

// microSpec lists what runs: package → benchmark regexp.
var microSpec = []struct{ pkg, re string }{
	{"./tc3", `^(BenchmarkVerifyTC3|BenchmarkVerifyTC3NoKeyCache|BenchmarkVerifyV1|BenchmarkFloorTC3)$`},
	{"./gateway", `^(BenchmarkUnflatten|BenchmarkUnflattenDecodeCreateKillTask)$`},
	{"./actions", `^(BenchmarkParseJSONDecodeCreateKillTask|BenchmarkFloorJSONUnmarshalCreateKillTask)$`},
	{"./killtask", `^(BenchmarkMatch|BenchmarkSQLTemplate|BenchmarkGroupSessions|BenchmarkFloorToLower)$`},
	{"./ratelimit", `^(BenchmarkAllowHotKey|BenchmarkAllowHotKeyRefused)$`},
}

var benchLine = regexp.MustCompile(`^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

func (o *options) micro() ([]microBench, error) {
	count, benchtime := "3", "1s"
	if o.quick {
		count, benchtime = "1", "300ms"
	}
	var out []microBench
	for _, s := range microSpec {
		args := []string{"test", "-run", "^$", "-bench", s.re, "-benchmem", "-count", count, "-benchtime", benchtime, s.pkg}
		if o.profile != "" {
			name := strings.TrimPrefix(s.pkg, "./")
			args = append(args, "-cpuprofile", o.profile+"/micro-"+name+".cpu.pprof", "-o", o.profile+"/"+name+".test")
		}
		logf("go %s", strings.Join(args, " "))
		cmd := exec.Command("go", args...)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Run(); err != nil {
			return nil, fmt.Errorf("go test %s: %w\n%s", s.pkg, err, buf.String())
		}
		byName := map[string][]map[string]float64{}
		var order []string
		sc := bufio.NewScanner(&buf)
		for sc.Scan() {
			m := benchLine.FindStringSubmatch(sc.Text())
			if m == nil {
				continue
			}
			f := strings.Fields(m[2])
			vals := map[string]float64{}
			for i := 0; i+1 < len(f); i += 2 {
				v, err := strconv.ParseFloat(f[i], 64)
				if err == nil {
					vals[f[i+1]] = v
				}
			}
			if _, ok := byName[m[1]]; !ok {
				order = append(order, m[1])
			}
			byName[m[1]] = append(byName[m[1]], vals)
		}
		for _, name := range order {
			runs := byName[name]
			med := func(k string) float64 {
				var xs []float64
				for _, r := range runs {
					if v, ok := r[k]; ok {
						xs = append(xs, v)
					}
				}
				if len(xs) == 0 {
					return 0
				}
				slices.Sort(xs)
				return xs[len(xs)/2]
			}
			mb := microBench{Pkg: strings.TrimPrefix(s.pkg, "./"), Name: name, NsOp: med("ns/op"), BOp: med("B/op"), AllocsOp: med("allocs/op"), Runs: len(runs), Extra: map[string]float64{}}
			for k := range runs[0] {
				if k != "ns/op" && k != "B/op" && k != "allocs/op" {
					mb.Extra[k] = med(k)
				}
			}
			out = append(out, mb)
		}
	}
	return out, nil
}
