package serve

import (
	"embed"

	"github.com/valyala/fasthttp"
)

// The status page: one HTML file, its script and its style sheet, embedded
// in the binary. They load nothing else: the page reads /admin/status and
// draws its charts itself (inline SVG), so it works offline and talks to
// no host but mlgate.
//
//go:embed statuspage/index.html statuspage/status.js statuspage/status.css
var statusFiles embed.FS

const (
	statusPagePath   = "/status"
	statusScriptPath = "/status/status.js"
	statusStylePath  = "/status/status.css"
)

// statusPageCSP allows the page its own script, style and feed, and
// nothing else: no other host, no inline script, no framing.
const statusPageCSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// statusPage serves the page's files (GET or HEAD).
func (s *Server) statusPage(ctx *fasthttp.RequestCtx, path string) {
	if !ctx.IsGet() && !ctx.IsHead() {
		writeError(ctx, errorf(fasthttp.StatusMethodNotAllowed, codeBadRequest, "%s: use GET", path), "")
		return
	}
	name, ctype := "statuspage/index.html", "text/html; charset=utf-8"
	switch path {
	case statusScriptPath:
		name, ctype = "statuspage/status.js", "text/javascript; charset=utf-8"
	case statusStylePath:
		name, ctype = "statuspage/status.css", "text/css; charset=utf-8"
	}
	body, err := statusFiles.ReadFile(name)
	if err != nil {
		writeError(ctx, err, "")
		return
	}
	h := &ctx.Response.Header
	h.Set(fasthttp.HeaderContentType, ctype)
	h.Set(fasthttp.HeaderCacheControl, "no-cache")
	h.Set("Content-Security-Policy", statusPageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	ctx.SetBody(body)
}
