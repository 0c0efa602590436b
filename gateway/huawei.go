package gateway

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"

	"github.com/gin-gonic/gin"

	"killgate/actions"
)

// The Huawei GaussDB(for MySQL)/TaurusDB v3 door: the intelligent
// kill-session family (docs/huawei.md), whose actions and routes come from
// Config.HuaweiActions (actions.Service.HuaweiActions). The stage order is in
// doc.go; errors are rendered by writeHuawei.

const hwMaxBody = 1 << 20

// mountHuawei adds a route per Huawei action.
func (s *Server) mountHuawei(e *gin.Engine) {
	for _, act := range s.cfg.HuaweiActions.All() {
		if act.Method == "" || act.Path == "" {
			panic(fmt.Sprintf("gateway: Huawei action %s has no route", act.Name))
		}
		e.Handle(act.Method, ginPath(act.Path), s.huawei(act))
	}
}

// pathParam is a {name} path parameter of an action's route.
var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// ginPath turns /v3/{project_id}/… into gin's /v3/:project_id/….
func ginPath(p string) string { return pathParam.ReplaceAllString(p, ":$1") }

// huawei serves one Huawei action through the door's pipeline.
func (s *Server) huawei(act actions.Action) gin.HandlerFunc {
	return func(c *gin.Context) {
		ri := info(c)
		ri.Door, ri.Action = doorHuawei, act.Name
		c.Header("X-Request-Id", ri.RequestID)
		resp, err := s.serveHuawei(c, ri, act)
		s.writeHuawei(c, resp, err)
	}
}

func (s *Server) serveHuawei(c *gin.Context, ri *reqInfo, act actions.Action) (any, error) {
	r := c.Request
	// What needs no body is checked first (declared size, token, or AK
	// and X-Sdk-Date); the body is read within the process-wide budget
	// (body.go), then the signature over it is verified.
	if r.ContentLength > hwMaxBody {
		return nil, bodyError(errBodyTooLarge, hwMaxBody)
	}
	id, err := s.huaweiIdentify(r)
	if err != nil {
		return nil, err
	}
	body, release, err := s.bodies.readBody(r.Context(), r.Body, r.ContentLength, hwMaxBody)
	defer release()
	if err != nil {
		return nil, bodyError(err, hwMaxBody)
	}
	ri.bodyRead = true
	if err := huaweiVerify(r, id, body); err != nil {
		return nil, err
	}
	ri.Caller = id.caller
	project := c.Param("project_id")
	if !reProjectID.MatchString(project) {
		return nil, actions.E(actions.InvalidParameter, "project_id must be 32 letters or digits.")
	}
	if project != s.cfg.Huawei.ProjectID {
		return nil, actions.E(actions.UnauthorizedOperation, "The operation is not authorized: project %s is not served here.", project)
	}
	if p := r.Header.Get(hwHeaderProject); p != "" && p != project {
		return nil, actions.E(actions.UnauthorizedOperation, "The operation is not authorized: X-Project-Id does not match the project in the path.")
	}
	if s.cfg.Limiter != nil && !s.cfg.Limiter.Allow(r.Context(), "hw\x00"+id.caller+"\x00"+act.Name) {
		return nil, actions.E(actions.RequestLimitExceeded, "too many requests for this API; retry later.")
	}
	params, err := huaweiParams(c, body)
	if err != nil {
		return nil, err
	}
	ctx := context.WithValue(r.Context(), requestIDKey{}, ri.RequestID)
	ctx = actions.WithCaller(ctx, actions.Caller{ID: id.caller})
	ctx = actions.WithOrigin(ctx, origin(r))
	return act.Call(ctx, params)
}

// huaweiParams binds a request's parameters into the map actions.Decode
// reads: the route's path parameters, and the query of a GET or the JSON
// body of a POST (the other is ignored). The action decodes them strictly:
// an unknown name is UnknownParameter. A name given twice (a repeated query
// parameter, or a body key or query parameter naming a path parameter) is
// InvalidParameter; an empty query value is the same as an absent one.
func huaweiParams(c *gin.Context, body []byte) (map[string]any, error) {
	var m map[string]any
	if c.Request.Method == http.MethodPost {
		if len(bytes.TrimSpace(body)) == 0 {
			return nil, actions.Wrap(actions.MissingParameter, errNullRequest, "The request is null: send the parameters as a JSON object in the body.")
		}
		var err error
		if m, err = actions.ParseJSON(body); err != nil {
			return nil, err
		}
	} else {
		q, err := url.ParseQuery(c.Request.URL.RawQuery)
		if err != nil {
			return nil, actions.E(actions.InvalidParameter, "The query string is malformed.")
		}
		if err := checkUTF8(q); err != nil {
			return nil, err
		}
		m = make(map[string]any, len(q)+len(c.Params))
		for k, vs := range q {
			if len(vs) > 1 {
				return nil, actions.E(actions.InvalidParameter, "The parameter `%s` is given more than once.", k)
			}
			if vs[0] != "" {
				m[k] = vs[0]
			}
		}
	}
	for _, p := range c.Params {
		if _, dup := m[p.Key]; dup {
			return nil, actions.E(actions.InvalidParameter, "The parameter `%s` is given more than once: it is part of the path.", p.Key)
		}
		m[p.Key] = p.Value
	}
	return m, nil
}

// origin is the scheme and host the request came in on, for absolute links.
func origin(r *http.Request) string {
	if r.TLS != nil {
		return "https://" + r.Host
	}
	return "http://" + r.Host
}

// huaweiNotFound answers unknown paths under /v3/.
func (s *Server) huaweiNotFound(c *gin.Context) {
	ri := info(c)
	ri.Door = doorHuawei
	c.Header("X-Request-Id", ri.RequestID)
	s.writeHuawei(c, nil, actions.E(actions.InvalidAction, "The API does not exist or has not been published in the environment."))
}
