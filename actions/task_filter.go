package actions

import (
	"strconv"
	"strings"

	"killgate/killtask"
)

// TaskFilter is the session filter of a kill task, with DBbrain's parameter
// names: CreateKillTask and PreviewKillTask take it, DescribeKillTasks shows
// it. Requests embed it, so its fields stay top-level parameters on the
// wire. An absent or empty field is no filter; every given field must match.
type TaskFilter struct {
	Host    string   `json:"Host"`    // client address, no port
	DB      string   `json:"DB"`      // comma list: any of
	Command string   `json:"Command"` // comma list: any of
	Info    string   `json:"Info"`    // statement prefix; not with Infos
	Infos   []string `json:"Infos"`   // statement prefixes: any of
	User    string   `json:"User"`
	Time    int64    `json:"Time"` // minimum TIME in seconds

	// killgate extensions (docs/matching-and-safety.md): 0 = no filter.
	TrxTime       int64 `json:"TrxTime"`       // the session's transaction open at least this many seconds
	BlockingCount int64 `json:"BlockingCount"` // head of a lock-wait chain with at least this many sessions behind it
	BlockingTime  int64 `json:"BlockingTime"`  // ... holding them up at least this many seconds
}

// Validate checks the filter. An absent or empty field is no filter
// (DBbrain's semantics); a field that is given but holds only blanks or
// commas is refused rather than read as "no filter", which would widen the
// task to every session. Sizes are bounded (limits.go).
// maxFilterNumber bounds Time, TrxTime, BlockingCount and BlockingTime
// (seconds or sessions): ten years, as Duration, far beyond any session.
const maxFilterNumber = maxDuration

func (f *TaskFilter) Validate() error {
	if f.Info != "" && len(f.Infos) > 0 {
		return E(InvalidParameterValue, "The parameters `Info` and `Infos` cannot be used together.")
	}
	for _, p := range []struct {
		name, value string
		list        bool // a comma list: "," is as blank as "  "
	}{{"Host", f.Host, false}, {"DB", f.DB, true}, {"Command", f.Command, true}, {"Info", f.Info, false}} {
		blank := strings.TrimSpace(p.value) == ""
		if p.list {
			blank = len(killtask.SplitList(p.value)) == 0
		}
		if p.value != "" && blank {
			return E(InvalidParameterValue, "The parameter `%s` is blank; leave it out to filter nothing.", p.name)
		}
	}
	for _, p := range []struct {
		name  string
		value int64
	}{{"Time", f.Time}, {"TrxTime", f.TrxTime}, {"BlockingCount", f.BlockingCount}, {"BlockingTime", f.BlockingTime}} {
		if p.value < 0 {
			return E(InvalidParameterValue, "The parameter `%s` must not be negative; got %d.", p.name, p.value)
		}
		if p.value > maxFilterNumber {
			return E(InvalidParameterValue, "The parameter `%s` must be at most %d; got %d.", p.name, maxFilterNumber, p.value)
		}
	}
	if err := f.checkLimits(); err != nil {
		return err
	}
	if h := strings.TrimSpace(f.Host); h != "" {
		addr, port, ok := hostFilter(h)
		switch {
		case !ok:
			return E(InvalidParameterValue, "The parameter `Host` must be an IPv4 or IPv6 address or a host name; got `%s`.", h)
		case port != "":
			return E(InvalidParameterValue, "The parameter `Host` is a client address without a port (`%s`); a port would select nothing.", addr)
		}
	}
	for i, s := range f.Infos {
		if strings.TrimSpace(s) == "" {
			return E(InvalidParameterValue, "The parameter `Infos.%d` is empty; an empty prefix would match every statement.", i)
		}
	}
	return nil
}

// Filter turns a validated filter into the engine's. A bracketed IPv6 Host
// ("[::1]") is stored bare, as the processlist shows it.
func (f *TaskFilter) Filter() killtask.Filter {
	host := strings.TrimSpace(f.Host)
	if addr, port, ok := hostFilter(host); ok && port == "" {
		host = addr
	}
	kf := killtask.Filter{
		Host:     host,
		User:     f.User,
		DBs:      killtask.SplitList(f.DB),
		Commands: killtask.SplitList(f.Command),
		Infos:    f.Infos,
		MinTime:  f.Time,

		MinTrxTime:   f.TrxTime,
		MinBlocked:   f.BlockingCount,
		MinBlockTime: f.BlockingTime,
	}
	if strings.TrimSpace(f.Info) != "" {
		kf.Infos = []string{f.Info}
	}
	return kf.Normalize()
}

// taskFilterOf shows an engine filter with the API's names: lists joined
// with commas, Infos always listing the statement prefixes and Info set too
// when there is exactly one. Text longer than ListTextMax (only in tasks
// stored before the filter limits) is cut.
func taskFilterOf(kf killtask.Filter) TaskFilter {
	f := TaskFilter{
		Host: cutText(kf.Host), DB: cutText(strings.Join(kf.DBs, ",")), Command: cutText(strings.Join(kf.Commands, ",")),
		Infos: make([]string, len(kf.Infos)), User: cutText(kf.User), Time: kf.MinTime,
		TrxTime: kf.MinTrxTime, BlockingCount: kf.MinBlocked, BlockingTime: kf.MinBlockTime,
	}
	for i, s := range kf.Infos {
		f.Infos[i] = cutText(s)
	}
	if len(f.Infos) == 1 {
		f.Info = f.Infos[0]
	}
	return f
}

// filterSummary renders a filter in one line with the API's names, every
// given filter as Name=value, AND-ed ("User=app Command=Sleep TrxTime=60");
// "" for the empty filter (every user session).
func filterSummary(kf killtask.Filter) string {
	f := taskFilterOf(kf)
	var parts []string
	for _, p := range []struct{ name, value string }{{"Host", f.Host}, {"DB", f.DB}, {"Command", f.Command}, {"User", f.User}} {
		if p.value != "" {
			parts = append(parts, p.name+"="+p.value)
		}
	}
	if len(f.Infos) > 0 {
		q := make([]string, len(f.Infos))
		for i, s := range f.Infos {
			q[i] = strconv.Quote(s)
		}
		parts = append(parts, "Infos=["+strings.Join(q, ",")+"]")
	}
	for _, p := range []struct {
		name  string
		value int64
	}{{"Time", f.Time}, {"TrxTime", f.TrxTime}, {"BlockingCount", f.BlockingCount}, {"BlockingTime", f.BlockingTime}} {
		if p.value > 0 {
			parts = append(parts, p.name+"="+strconv.FormatInt(p.value, 10))
		}
	}
	return strings.Join(parts, " ")
}
