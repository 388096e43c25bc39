package web

import (
	"errors"
	"io/fs"
	"mime"
	"net/http"
	"path"

	"github.com/labstack/echo/v4"

	"github.com/vigil-monitoring/vigil/web/auth"
	"github.com/vigil-monitoring/vigil/web/ui"
)

// uiPages are the paths of the single-page UI, as Grafana names them
// (web/ui/src/routes.js routes the same paths in the browser). Each serves
// index.html; the front end draws the page.
var uiPages = []string{
	"/", "/d/:uid", "/d/:uid/:slug", "/dashboard/import",
	"/explore", "/alerts", "/silences", "/targets", "/rules", "/status",
}

// uiCSP allows the UI's own script and styles and requests to Vigil only.
// uPlot sets element styles from script, hence style-src 'unsafe-inline';
// no inline or foreign script can run.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// registerUI serves the web UI (package web/ui's embedded build): its
// pages, its assets, and GET /api/v1/session, which tells the UI who is
// signed in.
func (s *Server) registerUI(e *echo.Echo) {
	for _, p := range uiPages {
		e.GET(p, s.uiIndex)
		e.HEAD(p, s.uiIndex)
	}
	assets := http.FS(ui.Assets())
	serveAsset := func(c echo.Context) error {
		name := path.Clean("/" + c.Param("*"))
		f, err := assets.Open(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return echo.NewHTTPError(http.StatusNotFound, "no UI asset "+name)
			}
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			return echo.NewHTTPError(http.StatusNotFound, "no UI asset "+name)
		}
		h := c.Response().Header()
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			h.Set(echo.HeaderContentType, ct)
		}
		// Bundle names carry a content hash: a new build has new names,
		// so what a browser holds never goes stale. The icon has a fixed
		// name and is revalidated daily.
		if name == "/favicon.svg" {
			h.Set(echo.HeaderCacheControl, "public, max-age=86400")
		} else {
			h.Set(echo.HeaderCacheControl, "public, max-age=31536000, immutable")
		}
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		http.ServeContent(c.Response(), c.Request(), name, st.ModTime(), f)
		return nil
	}
	e.GET("/assets/*", serveAsset)
	e.HEAD("/assets/*", serveAsset)
	e.GET("/api/v1/session", s.api(s.session))
}

// uiIndex serves index.html with the session's CSRF token. It is never
// cached: the token belongs to the session.
func (s *Server) uiIndex(c echo.Context) error {
	page, err := ui.Index(ui.Page{CSRFToken: auth.CSRFTokenFrom(c)})
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set(echo.HeaderCacheControl, "no-store")
	h.Set(echo.HeaderContentSecurityPolicy, uiCSP)
	h.Set(echo.HeaderXFrameOptions, "DENY")
	h.Set(echo.HeaderXContentTypeOptions, "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	return c.HTMLBlob(http.StatusOK, page)
}

// sessionInfo is GET /api/v1/session: who the request acts as.
type sessionInfo struct {
	User string `json:"user"`
	Role string `json:"role"`
	// Method is how the request was authenticated: session (a browser
	// login, which can log out), basic, bearer, or none with
	// authentication off.
	Method      string `json:"method"`
	AuthEnabled bool   `json:"authEnabled"`
}

func (s *Server) session(c echo.Context) apiResult {
	p := auth.PrincipalFrom(c)
	if p == nil {
		// Without an auth store (tests that build a bare server) every
		// request is let in, as an administrator would be.
		return apiResult{data: sessionInfo{User: auth.AnonymousUser, Role: string(auth.RoleAdmin), Method: string(auth.MethodNone)}}
	}
	return apiResult{data: sessionInfo{
		User: p.User, Role: string(p.Role), Method: string(p.Method),
		AuthEnabled: p.Method != auth.MethodNone,
	}}
}
