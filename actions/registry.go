package actions

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"time"
)

// Actions is the API surface: one row per action. Adding an action is one
// new file in this package and one line here.
func (s *Service) Actions() []Action {
	return []Action{
		Bind("CreateKillTask", s.CreateKillTask, Writes()),
		Bind("CancelKillTask", s.CancelKillTask, Writes()),
		Bind("KillMySqlThreads", s.KillMySqlThreads, Writes(), Timeout(30*time.Second)),
		Bind("DescribeMySqlProcessList", s.DescribeMySqlProcessList),
		Bind("PreviewKillTask", s.PreviewKillTask),
		Bind("DescribeKillTasks", s.DescribeKillTasks),
		Bind("DescribeKillRecords", s.DescribeKillRecords),
		Bind("DescribeDiagDBInstances", s.DescribeDiagDBInstances),
	}
}

// HuaweiActions is the Huawei GaussDB door's surface (docs/huawei.md): one
// row per route, served on its REST path rather than by name (the names are
// the SDK's operations, for logs, metrics and rate-limit keys).
func (s *Service) HuaweiActions() []Action {
	return []Action{
		Bind("ExecuteIntelligentKillSession", s.ExecuteIntelligentKillSession,
			Route("POST", HuaweiKillSessionPath), Writes(), Timeout(60*time.Second)),
		Bind("ShowIntelligentKillSessionStatistic", s.ShowIntelligentKillSessionStatistic,
			Route("GET", HuaweiKillSessionPath+"/statistic")),
		Bind("ListIntelligentKillSessionHistory", s.ListIntelligentKillSessionHistory,
			Route("GET", HuaweiKillSessionPath+"/history")),
		Bind("DownloadIntelligentKillSessionHistory", s.DownloadIntelligentKillSessionHistory,
			Route("GET", huaweiDownloadPath)),
	}
}

// Action is one callable API action.
type Action struct {
	Name    string
	Timeout time.Duration // handler deadline; default 10s
	Write   bool          // changes state (documentation, metrics)
	// Method and Path route an action of a REST door (Huawei): the HTTP
	// method and the path, {name} marking a path parameter. Empty for the
	// Tencent door's actions, which are found by name.
	Method, Path string

	reqType reflect.Type
	decode  func(m map[string]any) (any, error)
	call    func(ctx context.Context, m map[string]any) (any, error)
}

// Option tunes an Action.
type Option func(*Action)

// Timeout sets the handler deadline.
func Timeout(d time.Duration) Option { return func(a *Action) { a.Timeout = d } }

// Route sets the method and path of an action served on a REST door.
func Route(method, path string) Option {
	return func(a *Action) { a.Method, a.Path = method, path }
}

// Writes marks an action that changes state.
func Writes() Option { return func(a *Action) { a.Write = true } }

// Validator is implemented by requests that check their own values after
// decoding.
type Validator interface{ Validate() error }

// Bind makes an Action of a plain handler: the generic map is decoded
// strictly into *Req (see Decode), Validate runs if Req has it, then fn.
func Bind[Req, Resp any](name string, fn func(context.Context, *Req) (*Resp, error), opts ...Option) Action {
	a := Action{Name: name, Timeout: 10 * time.Second, reqType: reflect.TypeFor[Req]()}
	fieldsOf(a.reqType) // a request type the decoder cannot read panics here, at start-up
	a.decode = func(m map[string]any) (any, error) {
		req := new(Req)
		if err := Decode(m, req); err != nil {
			return nil, err
		}
		if v, ok := any(req).(Validator); ok {
			if err := v.Validate(); err != nil {
				return nil, err
			}
		}
		return req, nil
	}
	a.call = func(ctx context.Context, m map[string]any) (any, error) {
		req, err := a.decode(m)
		if err != nil {
			return nil, err
		}
		return fn(ctx, req.(*Req))
	}
	for _, o := range opts {
		o(&a)
	}
	return a
}

// Call decodes the parameters and runs the action under its timeout.
func (a Action) Call(ctx context.Context, params map[string]any) (any, error) {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout)
	defer cancel()
	return a.call(ctx, params)
}

// Decode decodes and validates parameters without calling the handler
// (fuzzing, docs).
func (a Action) Decode(params map[string]any) (any, error) { return a.decode(params) }

// Params lists the wire names of the action's parameters and whether each is
// required (for docs and their drift test).
func (a Action) Params() map[string]bool {
	out := map[string]bool{}
	for _, f := range fieldsOf(a.reqType) {
		out[f.name] = f.required
	}
	return out
}

// Registry finds actions by name.
type Registry struct {
	byName map[string]Action
}

// All returns every action, sorted by name.
func (r *Registry) All() []Action {
	out := make([]Action, 0, len(r.byName))
	for _, n := range r.Names() {
		out = append(out, r.byName[n])
	}
	return out
}

// NewRegistry indexes actions; an empty or repeated name is a programming
// error and panics at start-up.
func NewRegistry(actions []Action) *Registry {
	r := &Registry{byName: map[string]Action{}}
	for _, a := range actions {
		if a.Name == "" || a.call == nil {
			panic("actions: action without name or handler")
		}
		if _, dup := r.byName[a.Name]; dup {
			panic(fmt.Sprintf("actions: action %s registered twice", a.Name))
		}
		r.byName[a.Name] = a
	}
	return r
}

// Lookup returns the named action.
func (r *Registry) Lookup(name string) (Action, bool) {
	a, ok := r.byName[name]
	return a, ok
}

// Names returns every action name, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.byName))
	for n := range r.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
