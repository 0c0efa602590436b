package actions

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"killgate/killtask"
)

// Kill-task filter limits (CreateKillTask, PreviewKillTask), documented in
// docs/actions/CreateKillTask.md#limits. A filter is a few KB at most, as on
// the cloud: these bound what every later step costs (the duplicate check,
// the store, every listing). Tasks stored before the limits existed still
// load and are enforced; only new filters are checked.
const (
	// MaxFilterHostBytes: a DNS name is at most 253 bytes, an IPv6 address
	// with a zone well under that.
	MaxFilterHostBytes = 255
	// MaxFilterUserChars: MariaDB user names are at most 80 characters
	// (MySQL: 32).
	MaxFilterUserChars = 80
	// MaxFilterDBItems and MaxFilterDBChars: a DB list of at most 32 names,
	// each at most 64 characters (the MySQL/MariaDB identifier limit).
	MaxFilterDBItems = 32
	MaxFilterDBChars = 64
	// MaxFilterCommandItems and MaxFilterCommandBytes: the server has about
	// 35 command names (Sleep, Query, Binlog Dump GTID, …), the longest
	// under 32 bytes.
	MaxFilterCommandItems = 40
	MaxFilterCommandBytes = 32
	// MaxFilterInfoBytes bounds Info and each Infos item; MaxFilterInfos the
	// number of Infos items.
	MaxFilterInfoBytes = 1024
	MaxFilterInfos     = 20
	// MaxFilterBytes bounds the whole filter: the bytes of Host, User, DB,
	// Command, Info and every Infos item together.
	MaxFilterBytes = 4096
)

// checkLimits refuses a filter beyond the limits above, naming the
// parameter and the limit.
func (f *TaskFilter) checkLimits() error {
	host, user, db, command, info, infos := f.Host, f.User, f.DB, f.Command, f.Info, f.Infos
	if len(host) > MaxFilterHostBytes {
		return E(InvalidParameterValue, "The parameter `Host` is %d bytes; at most %d are allowed.", len(host), MaxFilterHostBytes)
	}
	if n := utf8.RuneCountInString(user); n > MaxFilterUserChars {
		return E(InvalidParameterValue, "The parameter `User` is %d characters; at most %d are allowed.", n, MaxFilterUserChars)
	}
	dbs := killtask.SplitList(db)
	if len(dbs) > MaxFilterDBItems {
		return E(InvalidParameterValue, "The parameter `DB` lists %d databases; at most %d are allowed.", len(dbs), MaxFilterDBItems)
	}
	for _, d := range dbs {
		if n := utf8.RuneCountInString(d); n > MaxFilterDBChars {
			return E(InvalidParameterValue, "A database name in parameter `DB` is %d characters; at most %d are allowed.", n, MaxFilterDBChars)
		}
	}
	cmds := killtask.SplitList(command)
	if len(cmds) > MaxFilterCommandItems {
		return E(InvalidParameterValue, "The parameter `Command` lists %d commands; at most %d are allowed.", len(cmds), MaxFilterCommandItems)
	}
	for _, c := range cmds {
		if len(c) > MaxFilterCommandBytes {
			return E(InvalidParameterValue, "A command in parameter `Command` is %d bytes; at most %d are allowed.", len(c), MaxFilterCommandBytes)
		}
	}
	if len(info) > MaxFilterInfoBytes {
		return E(InvalidParameterValue, "The parameter `Info` is %d bytes; at most %d are allowed.", len(info), MaxFilterInfoBytes)
	}
	if len(infos) > MaxFilterInfos {
		return E(InvalidParameterValue, "The parameter `Infos` has %d items; at most %d are allowed.", len(infos), MaxFilterInfos)
	}
	total := len(host) + len(user) + len(db) + len(command) + len(info)
	for i, s := range infos {
		if len(s) > MaxFilterInfoBytes {
			return E(InvalidParameterValue, "The parameter `Infos.%d` is %d bytes; at most %d are allowed.", i, len(s), MaxFilterInfoBytes)
		}
		total += len(s)
	}
	if total > MaxFilterBytes {
		return E(InvalidParameterValue, "The filters (`Host`, `User`, `DB`, `Command`, `Info`, `Infos`) total %d bytes; at most %d are allowed.", total, MaxFilterBytes)
	}
	return nil
}

// hostFilter reads a Host filter value (already trimmed): an IPv4 or IPv6
// address or a host name, never a port — except in the one unambiguous
// port form, a bracketed IPv6 address followed by a port ("[v6]:port"),
// and the "v4:port" / "name:port" forms, which hasPort reports. A bare
// IPv6 address is an address whatever its last group looks like
// ("2001:db8::8a2e:370"); "[v6]" is the address v6. ok is false for text
// that is none of these (several colons that do not make an IPv6 address,
// unbalanced brackets).
func hostFilter(h string) (addr, port string, ok bool) {
	if rest, found := strings.CutPrefix(h, "["); found {
		a, after, closed := strings.Cut(rest, "]")
		if !closed || !isIPv6(a) {
			return "", "", false
		}
		if after == "" {
			return a, "", true
		}
		p, colon := strings.CutPrefix(after, ":")
		if !colon || !isPort(p) {
			return "", "", false
		}
		return a, p, true
	}
	if strings.ContainsAny(h, "[]") {
		return "", "", false
	}
	switch strings.Count(h, ":") {
	case 0:
		return h, "", true
	case 1:
		a, p, _ := strings.Cut(h, ":")
		if a == "" || !isPort(p) {
			return "", "", false
		}
		return a, p, true
	}
	if isIPv6(h) {
		return h, "", true
	}
	return "", "", false
}

func isIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6()
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
