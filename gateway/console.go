package gateway

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"killgate/gateway/console"
)

// mountConsole serves the web console's embedded files under /console/
// (docs/console.md). The console is an API client only: it adds static files
// and security headers, no endpoint that acts and no authentication path.
// consoleAction is the action label of the console's file requests.
const consoleAction = "static"

func (s *Server) mountConsole(e *gin.Engine) error {
	project := ""
	if s.cfg.HuaweiActions != nil {
		project = s.cfg.Huawei.ProjectID
	}
	h, err := console.New(console.Options{HuaweiProjectID: project})
	if err != nil {
		return err
	}
	serve := func(c *gin.Context) {
		ri := info(c)
		ri.Door, ri.Action = doorConsole, consoleAction
		h.ServeHTTP(c.Writer, c.Request)
	}
	redirect := func(c *gin.Context) {
		ri := info(c)
		ri.Door, ri.Action = doorConsole, consoleAction
		console.SetHeaders(c.Writer.Header())
		c.Redirect(http.StatusMovedPermanently, console.Prefix)
	}
	e.GET("/console", redirect)
	e.HEAD("/console", redirect)
	e.GET(console.Prefix+"*file", serve)
	e.HEAD(console.Prefix+"*file", serve)
	return nil
}
