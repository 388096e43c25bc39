package web

import (
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/vigil-monitoring/vigil/dashboards"
)

// The dashboards API: Grafana dashboard JSON in and out, in Prometheus'
// envelope (except the export, which is the dashboard's JSON itself).
//
//	GET    /api/v1/dashboards[?query=&tag=]   the list, by title
//	GET    /api/v1/dashboards/<uid>           the dashboard and its meta
//	GET    /api/v1/dashboards/<uid>/export    the JSON as a file
//	POST   /api/v1/dashboards                 import (a dashboard, Grafana's
//	                                          {"dashboard", "overwrite"}, or
//	                                          a form's file field "file")
//	PUT    /api/v1/dashboards/<uid>           replace
//	DELETE /api/v1/dashboards/<uid>           delete

// DashboardStore is what the dashboards API needs of the store;
// dashboards.Store implements it.
type DashboardStore interface {
	List(f dashboards.ListFilter) ([]dashboards.Summary, error)
	Get(uid string) (dashboards.Entry, error)
	Import(raw []byte, overwrite bool) (string, error)
	Replace(uid string, raw []byte) error
	Delete(uid string) error
}

var _ DashboardStore = (*dashboards.Store)(nil)

func (s *Server) registerDashboards(e *echo.Echo) {
	e.GET("/api/v1/dashboards", s.api(s.listDashboards))
	e.POST("/api/v1/dashboards", s.withDashboardBody(s.importDashboard))
	e.GET("/api/v1/dashboards/:uid", s.api(s.getDashboard))
	e.PUT("/api/v1/dashboards/:uid", s.withDashboardBody(s.replaceDashboard))
	e.DELETE("/api/v1/dashboards/:uid", s.api(s.deleteDashboard))
	e.GET("/api/v1/dashboards/:uid/export", s.exportDashboard)
}

// The JSON of the dashboards API, field for field the contract the UI
// codes against.
type (
	dashboardListItem struct {
		UID      string   `json:"uid"`
		Title    string   `json:"title"`
		Tags     []string `json:"tags"`
		Source   string   `json:"source"`
		ReadOnly bool     `json:"readOnly"`
	}
	dashboardMeta struct {
		UID      string    `json:"uid"`
		Source   string    `json:"source"`
		ReadOnly bool      `json:"readOnly"`
		Created  time.Time `json:"created"`
		Updated  time.Time `json:"updated"`
	}
	dashboardWithMeta struct {
		// Dashboard is the dashboard's JSON as stored (Grafana's model).
		Dashboard jsonRaw       `json:"dashboard"`
		Meta      dashboardMeta `json:"meta"`
	}
	dashboardSaved struct {
		UID string `json:"uid"`
	}
)

// jsonRaw is JSON written as it is.
type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }

var errNoDashboards = &apiError{typ: errorUnavailable, err: errors.New("this server has no dashboard store")}

func (s *Server) listDashboards(c echo.Context) apiResult {
	if s.deps.Dashboards == nil {
		return errResult(errNoDashboards)
	}
	r := c.Request()
	list, err := s.deps.Dashboards.List(dashboards.ListFilter{Query: r.FormValue("query"), Tags: r.Form["tag"]})
	if err != nil {
		return errResult(dashboardError(err))
	}
	out := make([]dashboardListItem, 0, len(list))
	for _, d := range list {
		tags := d.Tags
		if tags == nil {
			tags = []string{}
		}
		out = append(out, dashboardListItem{UID: d.UID, Title: d.Title, Tags: tags, Source: string(d.Source), ReadOnly: d.ReadOnly})
	}
	return apiResult{data: out}
}

func (s *Server) getDashboard(c echo.Context) apiResult {
	if s.deps.Dashboards == nil {
		return errResult(errNoDashboards)
	}
	e, err := s.deps.Dashboards.Get(c.Param("uid"))
	if err != nil {
		return errResult(dashboardError(err))
	}
	m := e.Meta
	return apiResult{data: dashboardWithMeta{
		Dashboard: e.Dashboard.JSON(),
		Meta:      dashboardMeta{UID: m.UID, Source: string(m.Source), ReadOnly: m.ReadOnly, Created: m.Created, Updated: m.Updated},
	}}
}

// exportDashboard answers the dashboard's JSON as a file to save, as it
// was imported: a Grafana export imported into Vigil exports unchanged.
func (s *Server) exportDashboard(c echo.Context) error {
	if s.deps.Dashboards == nil {
		return errNoDashboards
	}
	uid := c.Param("uid")
	e, err := s.deps.Dashboards.Get(uid)
	if err != nil {
		return dashboardError(err)
	}
	// uids hold only letters, digits, - and _ (dashboards.CheckUID), so
	// the name needs no quoting beyond the quotes.
	c.Response().Header().Set(echo.HeaderContentDisposition, fmt.Sprintf(`attachment; filename="%s.json"`, e.Meta.UID))
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, e.Dashboard.JSON())
}

func (s *Server) importDashboard(c echo.Context, body []byte) apiResult {
	raw, overwrite, err := dashboards.DecodeImport(body)
	if err != nil {
		return errResult(dashboardError(err))
	}
	uid, err := s.deps.Dashboards.Import(raw, overwrite)
	if err != nil {
		return errResult(dashboardError(err))
	}
	return apiResult{data: dashboardSaved{UID: uid}}
}

func (s *Server) replaceDashboard(c echo.Context, body []byte) apiResult {
	raw, _, err := dashboards.DecodeImport(body)
	if err != nil {
		return errResult(dashboardError(err))
	}
	uid := c.Param("uid")
	if err := s.deps.Dashboards.Replace(uid, raw); err != nil {
		return errResult(dashboardError(err))
	}
	return apiResult{data: dashboardSaved{UID: uid}}
}

func (s *Server) deleteDashboard(c echo.Context) apiResult {
	if s.deps.Dashboards == nil {
		return errResult(errNoDashboards)
	}
	uid := c.Param("uid")
	if err := s.deps.Dashboards.Delete(uid); err != nil {
		return errResult(dashboardError(err))
	}
	return apiResult{data: dashboardSaved{UID: uid}}
}

// dashboardFormField is the form field a browser uploads a dashboard file
// in.
const dashboardFormField = "file"

// withDashboardBody adapts a handler that takes the dashboard sent: the
// body itself, whatever its Content-Type (curl -d sends JSON as a form),
// or the file field of a multipart form. The body limit applies to both.
func (s *Server) withDashboardBody(f func(c echo.Context, body []byte) apiResult) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		var body []byte
		multipart := strings.HasPrefix(strings.ToLower(r.Header.Get(echo.HeaderContentType)), echo.MIMEMultipartForm)
		if !multipart {
			// Read it before api() parses the form, which would take a
			// urlencoded body for form fields.
			b, err := io.ReadAll(r.Body)
			if err != nil {
				return err // 413 past the limit (handleError)
			}
			body, r.Body = b, http.NoBody
		}
		return s.api(func(c echo.Context) apiResult {
			if s.deps.Dashboards == nil {
				return errResult(errNoDashboards)
			}
			if multipart {
				b, err := formFile(c.Request())
				if err != nil {
					return errResult(err)
				}
				body = b
			}
			return f(c, body)
		})(c)
	}
}

// formFile reads the dashboard file of a multipart form that api() has
// parsed.
func formFile(r *http.Request) ([]byte, *apiError) {
	var fhs []*multipart.FileHeader
	if r.MultipartForm != nil {
		fhs = r.MultipartForm.File[dashboardFormField]
	}
	if len(fhs) == 0 {
		return nil, badData(fmt.Errorf("the form has no file field %q; upload the dashboard's JSON file in it", dashboardFormField))
	}
	f, err := fhs[0].Open()
	if err != nil {
		return nil, badData(fmt.Errorf("cannot read the uploaded file: %w", err))
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, badData(fmt.Errorf("cannot read the uploaded file: %w", err))
	}
	return b, nil
}

// dashboardError maps the store's errors onto the API's.
func dashboardError(err error) *apiError {
	switch {
	case dashboards.IsInvalid(err):
		return badData(fmt.Errorf("invalid dashboard: %w", err))
	case errors.Is(err, dashboards.ErrNotFound):
		return &apiError{typ: errorNotFound, err: err}
	case errors.Is(err, dashboards.ErrExists):
		return &apiError{typ: errorConflict, err: err}
	case errors.Is(err, dashboards.ErrReadOnly):
		return &apiError{typ: errorForbidden, err: err}
	}
	return &apiError{typ: errorInternal, err: err}
}
