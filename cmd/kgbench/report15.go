package main

// Longer than 400 lines on purpose: the issue-15 report is one long table-and-prose generator;
// splitting it would scatter one document's wording over files.

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// The issue-15 part of the report: the targets table at the top and
// sections A (threshold lateness) and B (reads and CPU).

// Issue-15 targets.
const (
	tgtLateness    = 5 * time.Millisecond
	tgtReads30     = 6.0  // reads per minute with only a Time ≥ 30 task
	tgtRestCPU     = 1.1  // × an idle net/http server
	tgtRestSlack   = 1.0  // ms of CPU per minute allowed over 1.1 × the idle server (measurement noise)
	tgtPollCPU     = 1.2  // × the bare poller, per read
	tgtBurst       = 1.2  // × the floor
	tgtCheapRead   = 70.0 // % of bare net/http
	pollPerMinute  = float64(time.Minute / i15Interval)
	notRun         = "not run"
	ptAbsentMarker = "—"
)

func cpuMs(d time.Duration) string {
	switch {
	case d == 0:
		return "0 ms"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/1e3)
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	}
}

// lat formats a lateness (can be negative for the KILL-only oracle figure).
func lat(d time.Duration) string {
	if d < 0 {
		return "−" + lat(-d)
	}
	switch {
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// dur formats a configured duration: "500 ms", "2 s", "1 min".
func dur(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d%time.Minute == 0:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	case d%time.Second == 0:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		if a == 0 {
			return "1.00×"
		}
		return "∞"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func (l *lateness) triple() string {
	if l.Victims == 0 {
		return notRun
	}
	s := fmt.Sprintf("p50 %s / p99 %s / max %s", lat(l.p(50)), lat(l.p(99)), lat(l.max()))
	if l.Missed > 0 || l.Early > 0 {
		s += fmt.Sprintf(" (**%d missed, %d early**)", l.Missed, l.Early)
	}
	return s
}

func (l *lateness) ok() bool {
	return l.Victims > 0 && l.Missed == 0 && l.Early == 0 && l.p(99) <= tgtLateness
}

func (r *report) ptCell(s string) string {
	if r.o.pt.Path == "" {
		return "pt-kill absent"
	}
	return s
}

// writeI15Targets writes the table at the top of the report.
func (r *report) writeI15Targets(p func(string, ...any)) {
	p("")
	p("## Issue 15 targets")
	p("")
	if r.o.pt.Path == "" {
		p("> **pt-kill is NOT available (%s): every pt-kill column below is empty and", r.o.pt.Reason)
		p("> killgate is shown alone.** Install it (`apt-get install -y percona-toolkit`) and rerun `make bench`")
		p("> to get the side-by-side figures.")
		p("")
	}
	p("killgate at its default `poll_interval` (%s); pt-kill %s at `--interval 1` (whole seconds only), same MariaDB,", dur(i15Interval), r.ptVersion())
	p("same victims (sessions parked in `GET_LOCK` on a lock the bench holds), runs interleaved. Floors are measured in")
	p("the same run; \"ratio\" columns are killgate ÷ floor and killgate ÷ pt-kill (below 1 = killgate better).")
	p("The machine is shared with other engineers' test runs: single figures are noisy (see the load averages under Machine).")
	p("")
	p("| Target | killgate | Floor | killgate ÷ floor | pt-kill | killgate ÷ pt-kill | Verdict |")
	p("|---|---|---|---|---|---|---|")
	row := func(cells ...string) { p("| %s |", strings.Join(cells, " | ")) }
	i := r.I15
	// 1. Threshold lateness T=3.
	if i != nil && i.KG3.Victims > 0 {
		fl := i.Floor3.p(99)
		row(fmt.Sprintf("Threshold lateness p99 ≤ %s (`Time ≥ 3`, %d victims at random phases, %s idle sessions)", lat(tgtLateness), i.KG3.Victims, thousands(i.Others)),
			i.KG3.triple(), "p99 "+lat(fl)+" (oracle: re-check + KILL at the deadline)", ratio(float64(i.KG3.p(99)), float64(fl)),
			r.ptCell(i.PT3.triple()), r.ptCell(ratio(float64(i.KG3.p(99)), float64(i.PT3.p(99)))), verdict(i.KG3.ok()))
	} else {
		row("Threshold lateness p99 ≤ 5 ms (`Time ≥ 3`)", notRun, "", "", "", "", "")
	}
	// 2. Reads per minute with only Time ≥ 30.
	if i != nil && i.KG30.Victims > 0 {
		w := i.KG30Win
		kg := w.perMin(w.Reads)
		pt, ptr := "not run (quick run)", "–"
		if i.PT30Win.Dur > 0 {
			pt = fmt.Sprintf("%.1f /min", i.PT30Win.perMin(i.PT30Win.Reads))
			ptr = ratio(kg, i.PT30Win.perMin(i.PT30Win.Reads))
		} else if len(i.PollPT) > 0 {
			m := medWin(i.PollPT)
			pt = fmt.Sprintf("%.1f /min (measured in B; its pace does not depend on the rule)", m.perMin(m.Reads))
			ptr = ratio(kg, m.perMin(m.Reads))
		}
		srv := w.perMin(w.fullReads(i.Rows))
		row(fmt.Sprintf("Full processlist reads per minute with only a `Time ≥ 30` task ≤ %.0f", tgtReads30),
			fmt.Sprintf("%.1f /min (server: ≈ %.1f full reads/min; %.1f SELECTs/min in all, re-checks included)", kg, srv, w.perMin(w.Server)),
			"4 /min (one read per T/2)", ratio(kg, 4), r.ptCell(pt), r.ptCell(ptr), verdict(kg <= tgtReads30 && srv <= tgtReads30+0.5))
		fl := i.Floor3.p(99)
		pt30, pt30r := "not run (quick run)", "–"
		if i.PT30.Victims > 0 {
			pt30, pt30r = i.PT30.triple(), ratio(float64(i.KG30.p(99)), float64(i.PT30.p(99)))
		}
		row(fmt.Sprintf("… with lateness p99 still ≤ %s (`Time ≥ 30`, %d victims over %s)", lat(tgtLateness), i.KG30.Victims, dur(i.Spread30)),
			i.KG30.triple(), "p99 "+lat(fl)+" (oracle, T = 3 s)", ratio(float64(i.KG30.p(99)), float64(fl)), r.ptCell(pt30), r.ptCell(pt30r), verdict(i.KG30.ok()))
		// 3. At rest.
		rw := i.RestWin
		ptRest, ptRestR := "–", "–"
		if len(i.PollPT) > 0 {
			m := medWin(i.PollPT)
			ptRest = fmt.Sprintf("%.0f /min (pt-kill always polls)", m.perMin(m.Reads))
		}
		row("Reads per minute at rest, no task: 0",
			fmt.Sprintf("%.1f /min (server: %.1f SELECTs/min on its account)", rw.perMin(rw.Reads), rw.perMin(rw.Server)),
			"0", "–", r.ptCell(ptRest), r.ptCell(ptRestR), verdict(rw.Reads == 0 && rw.Server == 0))
		kgc, flc := rw.cpuPerMin(), i.IdleHTTPWin.cpuPerMin()
		ptc, ptcr := "–", "–"
		if len(i.PollPT) > 0 {
			m := medWin(i.PollPT)
			ptc = cpuMs(m.cpuPerMin()) + "/min (polling; it has no rest)"
			ptcr = ratio(float64(kgc), float64(m.cpuPerMin()))
		}
		row(fmt.Sprintf("CPU at rest (no task) ≤ %.1f× an idle net/http server", tgtRestCPU),
			cpuMs(kgc)+"/min", cpuMs(flc)+"/min (idle bare `net/http` server, same window)", ratio(float64(kgc), float64(flc)),
			r.ptCell(ptc), r.ptCell(ptcr), verdict(float64(kgc) <= tgtRestCPU*float64(flc)+tgtRestSlack*1e6))
	} else {
		row("Reads per minute with only a `Time ≥ 30` task ≤ 6", notRun, "", "", "", "", "")
		row("Reads per minute at rest / CPU at rest", notRun, "", "", "", "", "")
	}
	// 4. Per poll.
	if i != nil && len(i.PollKG) > 0 {
		kg, fl := medWin(i.PollKG), medWin(i.PollFloor)
		pt, ptr := "–", "–"
		if len(i.PollPT) > 0 {
			m := medWin(i.PollPT)
			pt, ptr = cpuMs(m.cpuPerRead())+" per read", ratio(float64(kg.cpuPerRead()), float64(m.cpuPerRead()))
		}
		row(fmt.Sprintf("CPU per poll ≤ %.1f× a bare Go poller (same query, %s rows)", tgtPollCPU, thousands(fl.Rows)),
			cpuMs(kg.cpuPerRead())+" per read", cpuMs(fl.cpuPerRead())+" per read", ratio(float64(kg.cpuPerRead()), float64(fl.cpuPerRead())),
			r.ptCell(pt), r.ptCell(ptr), verdict(float64(kg.cpuPerRead()) <= tgtPollCPU*float64(fl.cpuPerRead())))
		row(fmt.Sprintf("(information) reads per minute with a task without `Time` (= 60 s ÷ poll_interval = %.0f)", pollPerMinute),
			fmt.Sprintf("%.0f /min (server: %.0f SELECTs/min)", kg.perMin(kg.Reads), kg.perMin(kg.Server)), "–", "–",
			r.ptCell(pt2(i.PollPT)), "–", "–")
	} else {
		row("CPU per poll ≤ 1.2× a bare Go poller", notRun, "", "", "", "", "")
	}
	// 5. Burst.
	if b := r.Burst; b != nil {
		var fl, kg, pt, ff []time.Duration
		for _, run := range b.Runs {
			fl, kg, pt, ff = append(fl, run.Floor), append(kg, run.KG), append(pt, run.PT), append(ff, run.FloorFresh)
		}
		f, k, t := medD(fl), medD(kg), medD(pt)
		ptv, ptr := "–", "–"
		if r.o.pt.Path != "" {
			ptv = fmt.Sprintf("%s from its start (%s the floor)", ms(t), ratio(float64(t), float64(f)))
			ptr = ratio(float64(k), float64(t))
		}
		row(fmt.Sprintf("%d-victim burst ≤ %.1f× its floor (task created with all sessions present → all dead)", b.N, tgtBurst),
			ms(k), ms(f)+fmt.Sprintf(" (one read + KILLs over 8 connections); %s under killgate's %s re-check rule (%s)", ms(medD(ff)), dur(freshWindow), ratio(float64(k), float64(medD(ff)))),
			ratio(float64(k), float64(f)), r.ptCell(ptv), r.ptCell(ptr), verdict(float64(k) <= tgtBurst*float64(f)))
	} else {
		row("Burst ≤ 1.2× its floor", notRun, "", "", "", "", "")
	}
	// 6. New-session reaction.
	if rr := r.React; rr != nil && len(rr.Sizes) > 0 {
		worst := rr.Sizes[0]
		for _, s := range rr.Sizes {
			if float64(s.KillP99)/float64(s.Target) > float64(worst.KillP99)/float64(worst.Target) {
				worst = s
			}
		}
		all := true
		for _, s := range rr.Sizes {
			all = all && s.KillP99 <= s.Target
		}
		pt := "–"
		for _, s := range rr.Sizes {
			if s.PTVictims > 0 {
				pt = fmt.Sprintf("p99 %s at %s sessions (1 s interval)", ms(s.PTGoneP99), thousands(s.Others))
			}
		}
		row(fmt.Sprintf("New-session reaction p99 ≤ interval + 2 reads (poll %s; worst of %d sizes)", dur(rr.Interval), len(rr.Sizes)),
			fmt.Sprintf("p99 %s at %s sessions", ms(worst.KillP99), thousands(worst.Others)), ms(worst.Target), ratio(float64(worst.KillP99), float64(worst.Target)),
			r.ptCell(pt), "–", verdict(all))
	} else {
		row("New-session reaction ≤ interval + 2 reads", notRun, "", "", "", "", "")
	}
	// 7. Cheap read.
	if g := r.GW; g != nil {
		var fl, rd []float64
		for _, run := range g.Runs {
			fl, rd = append(fl, run.Floor.RPS), append(rd, run.Read.RPS)
		}
		pc := 100 * medF(rd) / medF(fl)
		row(fmt.Sprintf("Cheap-read throughput ≥ %.0f %% of bare net/http", tgtCheapRead),
			fmt.Sprintf("%.0f req/s", medF(rd)), fmt.Sprintf("%.0f req/s", medF(fl)), fmt.Sprintf("%.0f %%", pc), "–", "–", verdict(pc >= tgtCheapRead))
	} else {
		row("Cheap-read throughput ≥ 70 % of bare net/http", notRun, "", "", "", "", "")
	}
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func pt2(ws []window) string {
	if len(ws) == 0 {
		return "–"
	}
	m := medWin(ws)
	return fmt.Sprintf("%.0f /min", m.perMin(m.Reads))
}

func (r *report) ptVersion() string {
	if r.o.pt.Path == "" {
		return "(absent)"
	}
	return strings.TrimPrefix(r.o.pt.Version, "pt-kill ")
}

// writeI15 writes sections A and B.
func (r *report) writeI15(p func(string, ...any)) {
	i := r.I15
	if i == nil {
		return
	}
	p("")
	p("## A. Threshold kills: lateness (issue 15)")
	p("")
	if i.KG3.Victims == 0 {
		p("Not run.")
	} else {
		p("Rule: \"kill sessions of user U running a statement (`Command` `Query`) for `Time` ≥ T seconds\". Victims are")
		p("sessions of U that send `SELECT GET_LOCK(<lock held by the bench>, …)` at a uniform random offset within a")
		p("%s window (T = 3 s) or %s (T = 30 s), so at random phases of any poller; %s idle sessions of another user", dur(i.Spread3), dur(i.Spread30), thousands(i.Others))
		p("are present (%s processlist rows). **Lateness = the moment the victim's own blocked statement returned with", thousands(i.Rows))
		p("its connection's error − (the moment the bench sent it + T).** A victim still alive %s after its crossing", dur(missGrace))
		p("counts as *missed* (the bench kills it); one killed before sent + T as *early* (a wrong kill: the server's")
		p("statement start is never before the send). %d round(s) per tool at T = 3 s, the oracle floor, killgate and pt-kill", i.ThresholdRoundsPerTool)
		p("in turn (the order rotates each round).")
		p("")
		p("| Who | Interval | T | Victims | p50 | p99 | max | Missed | Early | p99 ÷ floor p99 |")
		p("|---|---|---|---|---|---|---|---|---|---|")
		fl := i.Floor3.p(99)
		lrow := func(who, iv, T string, l *lateness) {
			if l.Victims == 0 {
				return
			}
			p("| %s | %s | %s | %d | %s | %s | %s | %d | %d | %s |", who, iv, T, l.Victims, lat(l.p(50)), lat(l.p(99)), lat(l.max()), l.Missed, l.Early, ratio(float64(l.p(99)), float64(fl)))
		}
		lrow("**Floor**: oracle — at sent + T, re-check the session by id (killgate's columns, `information_schema`) and KILL it, 8 root connections", "–", "3 s", &i.Floor3)
		if len(i.Floor3.KillOnly) > 0 {
			p("| … the same oracle without its re-check read (KILL only) | – | 3 s | %d | %s | %s | %s | – | – | – |", len(i.Floor3.KillOnly), lat(pct2(i.Floor3.KillOnly, 50)), lat(pct2(i.Floor3.KillOnly, 99)), lat(i.Floor3.KillOnly[len(i.Floor3.KillOnly)-1]))
			p("| … its re-check read alone (by id, %s rows scanned by the server) | – | – | %d | %s | %s | %s | – | – | – |", thousands(i.Rows), len(i.Floor3.Reads), lat(pct2(i.Floor3.Reads, 50)), lat(pct2(i.Floor3.Reads, 99)), lat(i.Floor3.Reads[len(i.Floor3.Reads)-1]))
		}
		lrow("killgate", dur(i15Interval), "3 s", &i.KG3)
		if r.o.pt.Path != "" {
			lrow("pt-kill", "1 s", "3 s", &i.PT3)
		}
		lrow("killgate (the only task)", dur(i15Interval), "30 s", &i.KG30)
		if r.o.pt.Path != "" {
			lrow("pt-kill", "1 s", "30 s", &i.PT30)
		}
		p("")
		if r.o.pt.Path == "" {
			p("**pt-kill absent (%s): killgate alone.**", r.o.pt.Reason)
			p("")
		} else if i.PT3.Victims > 0 {
			p("killgate ÷ pt-kill at T = 3 s: p50 %s, p99 %s.", ratio(float64(i.KG3.p(50)), float64(i.PT3.p(50))), ratio(float64(i.KG3.p(99)), float64(i.PT3.p(99))))
			p("")
		}
		var offs, snaps []time.Duration
		slow := 0
		for _, l := range []*lateness{&i.Floor3, &i.KG3, &i.PT3, &i.KG30, &i.PT30} {
			offs = append(offs, l.Offsets...)
			snaps = append(snaps, l.Snaps...)
			slow += l.SlowSnaps
		}
		slices.Sort(offs)
		slices.Sort(snaps)
		if len(snaps) > 0 {
			p("Cross-check of the statement start: in each round, once every victim runs, one read of MariaDB's `TIME_MS`")
			p("gives the server's own start of each statement (the read's midpoint − `TIME_MS`, uncertain by ± half the read;")
			p("those %d reads took p50 %s, max %s; %d slower than %s under the machine's load were left out).", len(snaps), lat(pct2(snaps, 50)), lat(snaps[len(snaps)-1]), slow, lat(maxSnap))
			if len(offs) > 0 {
				p("Server start − bench send over %d victims: median %s, p90 %s, min %s, max %s.", len(offs), lat(pct2(offs, 50)), lat(pct2(offs, 90)), lat(offs[0]), lat(offs[len(offs)-1]))
			}
			moved, movedMax := 0, time.Duration(0)
			for _, l := range []*lateness{&i.KG3, &i.PT3, &i.KG30, &i.PT30} {
				moved += l.Moved
				movedMax = max(movedMax, l.MovedMax)
			}
			if moved > 0 {
				p("Where that read proves the server started a statement after the send (a stall of the victim's goroutine or of")
				p("its server thread), the crossing is counted from the read's lower bound of the server's start instead: %d", moved)
				p("victims of the tool rounds, moved by up to %s. The bound is never later than the true start, so a tool is", lat(movedMax))
				p("never shown earlier or less late than it was; the oracle's own deadline stays send + T.")
			}
			p("")
		}
		p("- killgate's task: `{\"User\": U, \"Command\": \"Query\", \"Time\": T}` through `CreateKillTask`, created before and")
		p("  cancelled after each round. Its account has `PROCESS, CONNECTION ADMIN` only.")
		if r.o.pt.Path != "" {
			p("- pt-kill: `pt-kill --kill --victims all --interval 1 --busy-time T --match-command Query --match-user '^U$'")
			p("  --verbose --print F=<defaults file>,h=127.0.0.1,P=3306`, started before and stopped after each round. pt-kill")
			p("  keeps a session when `Time >= --busy-time` (as killgate does) and reads with `SHOW FULL PROCESSLIST`; its")
			p("  period is one read + its kills + a 1 s sleep.")
		}
		p("- Floor: the oracle knows each statement's start exactly and needs no processlist poll; what is left is a timer,")
		p("  the re-check every safe kill needs (ids are reused) and the KILL round trip. With %s sessions an", thousands(i.Rows))
		p("  `information_schema.PROCESSLIST` read costs the server a full scan even by id, which is most of the floor.")
		if len(i.Floor3.Reads) > 0 && pct2(i.Floor3.Reads, 99) > tgtLateness/2 {
			p("  **Note for the %s target:** a re-check read started at the deadline takes p50 %s / p99 %s here — most of", lat(tgtLateness), lat(pct2(i.Floor3.Reads, 50)), lat(pct2(i.Floor3.Reads, 99)))
			p("  the budget, or more. To land within %s at p99 with %s sessions the re-check has to happen before the", lat(tgtLateness), thousands(i.Others))
			p("  deadline or read less; the KILL alone costs p50 %s / p99 %s.", lat(pct2(i.Floor3.KillOnly, 50)), lat(pct2(i.Floor3.KillOnly, 99)))
		}
	}
	p("")
	p("## B. Processlist reads and CPU (issue 15)")
	p("")
	p("Same %s idle sessions present (%s rows per read). Reads are counted two ways: by the reader itself", thousands(i.Others), thousands(i.Rows))
	p("(killgate's `killgate_processlist_polls_total{result=\"ok\"}` from `/metrics`; pt-kill's `--verbose` \"Checking")
	p("processlist\" lines; the bare poller's own trace) and **by the server**: every reader connects with its own account")
	p("and the bench turns MariaDB's `userstat` on for the run (restored after), so `information_schema.USER_STATISTICS`")
	p("gives each account's `SELECT_COMMANDS` — every SELECT killgate sent: full reads, re-checks by id, connection")
	p("identification — and `ROWS_SENT`; rows sent ÷ rows per full read counts full reads whatever query text they use")
	p("(a re-check by id sends a row or two). pt-kill reads with `SHOW FULL PROCESSLIST`, which that table does not")
	p("count; for it the server-side figure is the server-wide `Com_show_processlist` delta (includes any other")
	p("client's SHOW PROCESSLIST on the shared server). `performance_schema` is off on this server and needs a restart,")
	p("and the general log would log every other engineer's statements too, so neither is used. The bare poller's")
	p("row is a check of the method: its own count and the server's should agree.")
	p("")
	p("| Situation | killgate reads/min (own count) | killgate account, server side: full reads/min (rows sent ÷ %s) / SELECTs/min | pt-kill reads/min (own count) | `Com_show_processlist`/min (server-wide) | Window |", thousands(i.Rows))
	p("|---|---|---|---|---|---|")
	srv := func(w window) string {
		return fmt.Sprintf("%.1f / %.1f", w.perMin(w.fullReads(i.Rows)), w.perMin(w.Server))
	}
	if i.RestWin.Dur > 0 {
		ptv := "always polls: see below"
		p("| At rest: no task at all (a killgate process that never had one) | %.1f | %s | %s | – | %s |", i.RestWin.perMin(i.RestWin.Reads), srv(i.RestWin), r.ptCell(ptv), dur(i.RestWin.Dur.Round(time.Second)))
	}
	if i.KG30Win.Dur > 0 {
		ptr, pts := "not run (quick run)", "–"
		if i.PT30Win.Dur > 0 {
			ptr, pts = fmt.Sprintf("%.1f", i.PT30Win.perMin(i.PT30Win.Reads)), fmt.Sprintf("%.1f", i.PT30Win.perMin(i.PT30Win.Server))
		}
		p("| Only a `Time ≥ 30` task (its %d victims killed during the window) | %.1f | %s | %s | %s | %s |", i.KG30.Victims, i.KG30Win.perMin(i.KG30Win.Reads), srv(i.KG30Win), r.ptCell(ptr), r.ptCell(pts), dur(i.KG30Win.Dur.Round(time.Second)))
	}
	for n, w := range i.PollKG {
		ptr, pts := "–", "–"
		if n < len(i.PollPT) {
			ptr, pts = fmt.Sprintf("%.1f", i.PollPT[n].perMin(i.PollPT[n].Reads)), fmt.Sprintf("%.1f", i.PollPT[n].perMin(i.PollPT[n].Server))
		}
		p("| A task without `Time` matching nothing (pt-kill: a rule matching nothing), run %d | %.1f | %s | %s | %s | %s |", n+1, w.perMin(w.Reads), srv(w), r.ptCell(ptr), r.ptCell(pts), dur(w.Dur.Round(time.Second)))
	}
	for n, w := range i.PollFloor {
		p("| (check of the method) the bare poller, run %d | %.1f (its trace) | %s | – | – | %s |", n+1, w.perMin(w.Reads), srv(w), dur(w.Dur.Round(time.Second)))
	}
	p("")
	if i.RestWin.Dur > 0 {
		p("**CPU at rest** (utime+stime as the sum of the process's threads' scheduler run time, `/proc/<pid>/task/*/schedstat`,")
		p("nanoseconds; over the same %s window): killgate with no task **%s per minute**, an idle bare `net/http`", dur(i.RestWin.Dur.Round(time.Second)), cpuMs(i.RestWin.cpuPerMin()))
		p("server (`kgbench floor-server`) **%s per minute** — %s. (Target met when killgate ≤ %.1f× the idle server + %.0f ms/min", cpuMs(i.IdleHTTPWin.cpuPerMin()), ratio(float64(i.RestWin.cpuPerMin()), float64(i.IdleHTTPWin.cpuPerMin())), tgtRestCPU, tgtRestSlack)
		p("of measurement slack: an idle Go server with no timers uses next to nothing. The window starts %s after the bench's", dur(restSettle))
		p("own /metrics scrape of killgate, whose access line and garbage cost a few hundred µs within a second of it.)")
		p("")
	}
	if len(i.PollKG) > 0 {
		p("**CPU per poll**: each reader alone for %s after a 1 s warm-up, at the same pace where it can choose", dur(r.o.pollWindow))
		p("(killgate and the bare poller every %s, timer reset after each read; pt-kill every 1 s + its read), %d run(s)", dur(i15Interval), len(i.PollKG))
		p("in turn; median run quoted. CPU per read = process CPU over the window ÷ reads in the window, so killgate's")
		p("fixed costs (timers, store reloads, its HTTP side idle) are in its figure, as the bare poller's are in its own.")
		p("")
		p("| Reader | Reads/min | CPU per read | CPU per minute | vs bare poller (per read) |")
		p("|---|---|---|---|---|")
		fl := medWin(i.PollFloor)
		wrow := func(name string, ws []window) {
			if len(ws) == 0 {
				return
			}
			m := medWin(ws)
			p("| %s | %.0f | %s | %s | %s |", name, m.perMin(m.Reads), cpuMs(m.cpuPerRead()), cpuMs(m.cpuPerMin()), ratio(float64(m.cpuPerRead()), float64(fl.cpuPerRead())))
		}
		wrow(fmt.Sprintf("**Floor**: bare Go poller (`kgbench poll-floor`: one pinned connection, the same query, rows scanned into a struct, %s rows)", thousands(fl.Rows)), i.PollFloor)
		wrow("killgate, one task without `Time` matching nothing", i.PollKG)
		if r.o.pt.Path != "" {
			wrow("pt-kill "+r.ptVersion()+", `--interval 1`, a rule matching nothing", i.PollPT)
		} else {
			p("| pt-kill | pt-kill absent | | | |")
		}
		p("")
		p("The bare poller's query: `%s` — %s.", i.FloorQuery, i.FloorQuerySource)
		if len(i.Observed) > 0 {
			p("Statements of killgate's account caught in the processlist while it polled: %s.", "`"+strings.Join(i.Observed, "`; `")+"`")
		}
		p("")
		r.writeI15Profile(p)
		if kg := medWin(i.PollKG); i.RestWin.Dur > 0 && kg.Reads > 0 {
			restPerRead := time.Duration(float64(i.RestWin.cpuPerMin()) / kg.perMin(kg.Reads))
			p("Rough split (two processes, two windows): killgate's CPU at rest, %s/min, spread over its %.0f reads/min is", cpuMs(i.RestWin.cpuPerMin()), kg.perMin(kg.Reads))
			if restPerRead < kg.cpuPerRead() {
				p("about %s of its %s per read; the read itself is then about %s, against the bare poller's %s.", cpuMs(restPerRead), cpuMs(kg.cpuPerRead()), cpuMs(kg.cpuPerRead()-restPerRead), cpuMs(fl.cpuPerRead()))
			} else {
				p("%s per read — as much as its whole %s per read in this run (noise between the two windows).", cpuMs(restPerRead), cpuMs(kg.cpuPerRead()))
			}
		}
	}
}

// writeI15Profile writes the findings of the last profiling pass (static:
// re-check them after changes with BENCH_PROFILE, see "How it is measured").
func (r *report) writeI15Profile(p func(string, ...any)) {
	p("**Where killgate's CPU went, and where it goes now.** A profiling pass on commit 57abb93, before the issue-15")
	p("worker changes (`BENCH_PROFILE=/tmp/prof BENCH_PROFILE_WINDOW=90s BENCH_ONLY=poll make bench`, `go tool pprof`,")
	p("`strace -c -f`), found the per-poll excess to be the at-rest cost spread over the reads:")
	p("")
	p("1. **Idle wake-ups, ~24 per second with no task at all**: the kill-history writer's 50 ms ticker, the task")
	p("   reload every `poll_interval`, each node's poll timer every `poll_interval` (96 %% of the at-rest profile was")
	p("   the Go scheduler parking and waking threads for them).")
	p("2. **A store reload every `poll_interval`, task or not** (an UPDATE and a SELECT on SQLite, re-parsed each time).")
	p("3. **The read itself close to the floor**: the query and scanning 1,000 rows through `database/sql` — the bare")
	p("   poller's work; matching the rows against the tasks ~2 %%.")
	p("")
	p("What changed: with no task a node arms no timer and holds no connection (it waits for a task to be created);")
	p("the history writer arms a timer only while rows wait; the embedded store is reloaded only when something")
	p("changes (a task's expiry, a doubtful cancel); history retention runs after writes and once an hour. `strace`")
	p("of an idle killgate now counts one syscall in 30 s. What is left per poll beyond the bare poller is planning the")
	p("Time crossings and matching (a few %%) and the garbage of the rows.")
	p("")
	p("")
}
