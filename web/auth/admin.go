package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
)

// The admin and token APIs speak JSON in Prometheus' envelope:
// {"status":"success","data":...} or {"status":"error","errorType":...,
// "error":...}.

// MountAdminAPI registers the user administration API on g, each route
// requiring RoleAdmin. Mount it at /api/v1/admin:
//
//	GET    /users                     list users
//	POST   /users                     create {"name","password","role"}
//	GET    /users/:name               one user
//	PATCH  /users/:name               change {"password"} and/or {"role"} (PUT too)
//	DELETE /users/:name               delete (not the last admin)
//	GET    /users/:name/tokens        the user's tokens
//	POST   /users/:name/tokens        create {"name","role","expires_at"}
//	DELETE /users/:name/tokens/:id    revoke
//	GET    /tokens                    every user's tokens
func (s *Store) MountAdminAPI(g *echo.Group) {
	admin := s.RequireRole(RoleAdmin)
	g.GET("/users", s.listUsersHandler, admin)
	g.POST("/users", s.createUserHandler, admin)
	g.GET("/users/:name", s.getUserHandler, admin)
	g.PATCH("/users/:name", s.updateUserHandler, admin)
	g.PUT("/users/:name", s.updateUserHandler, admin)
	g.DELETE("/users/:name", s.deleteUserHandler, admin)
	g.GET("/users/:name/tokens", s.listUserTokensHandler, admin)
	g.POST("/users/:name/tokens", s.createUserTokenHandler, admin)
	g.DELETE("/users/:name/tokens/:id", s.revokeUserTokenHandler, admin)
	g.GET("/tokens", s.listAllTokensHandler, admin)
}

// MountTokenAPI registers the caller's own token API on g, open to every
// authenticated principal whatever its role. Mount it at /api/v1:
//
//	GET    /tokens        the caller's tokens
//	POST   /tokens        create {"name","role","expires_at"}; the answer holds the secret once
//	DELETE /tokens/:id    revoke one of the caller's tokens (admins: any token)
func (s *Store) MountTokenAPI(g *echo.Group) {
	anyUser := s.RequireRole(RoleAnyUser)
	g.GET("/tokens", s.listOwnTokensHandler, anyUser)
	g.POST("/tokens", s.createOwnTokenHandler, anyUser)
	g.DELETE("/tokens/:id", s.revokeOwnTokenHandler, anyUser)
}

type successBody struct {
	Status string `json:"status"`
	Data   any    `json:"data"`
}

func writeData(c echo.Context, status int, data any) error {
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(status, successBody{Status: "success", Data: data})
}

func writeError(c echo.Context, status int, errorType, msg string) error {
	return c.JSON(status, errorBody{Status: "error", ErrorType: errorType, Error: msg})
}

// writeStoreError maps the package's errors to status codes.
func writeStoreError(c echo.Context, err error) error {
	switch {
	case errors.Is(err, ErrInvalidInput):
		return writeError(c, http.StatusBadRequest, "bad_data", err.Error())
	case errors.Is(err, ErrUserNotFound), errors.Is(err, ErrTokenNotFound):
		return writeError(c, http.StatusNotFound, "not_found", err.Error())
	case errors.Is(err, ErrUserExists), errors.Is(err, ErrLastAdmin):
		return writeError(c, http.StatusConflict, "conflict", err.Error())
	}
	return writeError(c, http.StatusInternalServerError, "internal", err.Error())
}

const maxAdminBody = 64 << 10

// decodeJSON decodes the request body into v, refusing unknown fields so
// a typo ("passwd") is an error rather than a silent no-op.
func decodeJSON(c echo.Context, v any) error {
	dec := json.NewDecoder(io.LimitReader(c.Request().Body, maxAdminBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body is not the expected JSON object: %v", ErrInvalidInput, err)
	}
	return nil
}

type createUserRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
	Role     Role   `json:"role"`
}

type updateUserRequest struct {
	Password *string `json:"password"`
	Role     *Role   `json:"role"`
}

type createTokenRequest struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	ExpiresAt time.Time `json:"expires_at"`
}

// createdToken is the answer to a token creation: the only time the
// secret is shown.
type createdToken struct {
	Token
	Secret string `json:"secret"`
}

func (s *Store) listUsersHandler(c echo.Context) error {
	users, err := s.ListUsers()
	if err != nil {
		return writeStoreError(c, err)
	}
	if users == nil {
		users = []User{}
	}
	return writeData(c, http.StatusOK, users)
}

func (s *Store) getUserHandler(c echo.Context) error {
	u, err := s.GetUser(c.Param("name"))
	if err != nil {
		return writeStoreError(c, err)
	}
	return writeData(c, http.StatusOK, u)
}

func (s *Store) createUserHandler(c echo.Context) error {
	var req createUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return writeStoreError(c, err)
	}
	if req.Role == "" {
		return writeStoreError(c, fmt.Errorf("%w: role is missing (want one of viewer, writer, admin)", ErrInvalidInput))
	}
	if err := s.AddUser(req.Name, req.Password, req.Role); err != nil {
		return writeStoreError(c, err)
	}
	u, err := s.GetUser(req.Name)
	if err != nil {
		return writeStoreError(c, err)
	}
	return writeData(c, http.StatusCreated, u)
}

func (s *Store) updateUserHandler(c echo.Context) error {
	name := c.Param("name")
	var req updateUserRequest
	if err := decodeJSON(c, &req); err != nil {
		return writeStoreError(c, err)
	}
	if req.Password == nil && req.Role == nil {
		return writeStoreError(c, fmt.Errorf("%w: nothing to change; send \"password\" and/or \"role\"", ErrInvalidInput))
	}
	// Validate both before changing either.
	if req.Password != nil {
		if err := ValidatePassword(*req.Password); err != nil {
			return writeStoreError(c, err)
		}
	}
	if req.Role != nil {
		if _, err := ParseRole(string(*req.Role)); err != nil {
			return writeStoreError(c, err)
		}
		if err := s.SetRole(name, *req.Role); err != nil {
			return writeStoreError(c, err)
		}
	}
	if req.Password != nil {
		if err := s.SetPassword(name, *req.Password); err != nil {
			return writeStoreError(c, err)
		}
	}
	u, err := s.GetUser(name)
	if err != nil {
		return writeStoreError(c, err)
	}
	return writeData(c, http.StatusOK, u)
}

func (s *Store) deleteUserHandler(c echo.Context) error {
	if err := s.DeleteUser(c.Param("name")); err != nil {
		return writeStoreError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Store) listUserTokensHandler(c echo.Context) error {
	name := c.Param("name")
	if _, err := s.GetUser(name); err != nil {
		return writeStoreError(c, err)
	}
	tokens, err := s.ListTokens(name)
	if err != nil {
		return writeStoreError(c, err)
	}
	return writeData(c, http.StatusOK, tokens)
}

func (s *Store) listAllTokensHandler(c echo.Context) error {
	tokens, err := s.ListTokens("")
	if err != nil {
		return writeStoreError(c, err)
	}
	return writeData(c, http.StatusOK, tokens)
}

func (s *Store) createUserTokenHandler(c echo.Context) error {
	var req createTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return writeStoreError(c, err)
	}
	return s.createToken(c, c.Param("name"), req)
}

func (s *Store) createToken(c echo.Context, user string, req createTokenRequest) error {
	secret, tok, err := s.CreateToken(user, req.Name, TokenOptions{Role: req.Role, ExpiresAt: req.ExpiresAt})
	if err != nil {
		return writeStoreError(c, err)
	}
	return writeData(c, http.StatusCreated, createdToken{Token: tok, Secret: secret})
}

func (s *Store) revokeUserTokenHandler(c echo.Context) error {
	tok, err := s.GetToken(c.Param("id"))
	if err == nil && tok.User != c.Param("name") {
		err = fmt.Errorf("%w: user %q has no token %q", ErrTokenNotFound, c.Param("name"), c.Param("id"))
	}
	if err == nil {
		err = s.RevokeToken(tok.ID)
	}
	if err != nil {
		return writeStoreError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}

// errNoUsers answers the token API when authentication is off.
const errNoUsers = "authentication is disabled (--auth=none): there are no users and tokens are not needed"

func (s *Store) listOwnTokensHandler(c echo.Context) error {
	p := PrincipalFrom(c)
	if p.Method == MethodNone {
		return writeData(c, http.StatusOK, []Token{})
	}
	tokens, err := s.ListTokens(p.User)
	if err != nil {
		return writeStoreError(c, err)
	}
	return writeData(c, http.StatusOK, tokens)
}

func (s *Store) createOwnTokenHandler(c echo.Context) error {
	p := PrincipalFrom(c)
	if p.Method == MethodNone {
		return writeError(c, http.StatusConflict, "conflict", errNoUsers)
	}
	var req createTokenRequest
	if err := decodeJSON(c, &req); err != nil {
		return writeStoreError(c, err)
	}
	// A token must not mint a stronger one: a viewer-limited token of an
	// admin creates viewer tokens at most.
	if req.Role != "" {
		if _, err := ParseRole(string(req.Role)); err != nil {
			return writeStoreError(c, err)
		}
		if !p.Role.Allows(req.Role) {
			return writeError(c, http.StatusForbidden, "forbidden",
				fmt.Sprintf("cannot create a token with role %s: this request has role %s", req.Role, p.Role))
		}
	} else if u, err := s.GetUser(p.User); err != nil {
		return writeStoreError(c, err)
	} else if u.Role != p.Role {
		req.Role = p.Role
	}
	return s.createToken(c, p.User, req)
}

func (s *Store) revokeOwnTokenHandler(c echo.Context) error {
	p := PrincipalFrom(c)
	tok, err := s.GetToken(c.Param("id"))
	if err == nil && tok.User != p.User && !p.Role.Allows(RoleAdmin) {
		// Someone else's token: as unknown as a missing one.
		err = fmt.Errorf("%w: id %q", ErrTokenNotFound, c.Param("id"))
	}
	if err == nil {
		err = s.RevokeToken(tok.ID)
	}
	if err != nil {
		return writeStoreError(c, err)
	}
	return c.NoContent(http.StatusNoContent)
}
