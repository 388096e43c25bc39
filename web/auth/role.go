package auth

import "fmt"

// Role is what a principal may do. The three user roles are RoleViewer,
// RoleWriter and RoleAdmin; RolePublic and RoleAnyUser exist only as
// requirements of a route (see Policy) and are never given to a user.
type Role string

const (
	// RoleViewer reads: query and metadata APIs, the UI, dashboards.
	RoleViewer Role = "viewer"
	// RoleWriter ingests: remote write, imports, Pushgateway groups and the
	// event API. A writer cannot read, so a leaked ingestion token exposes
	// no data.
	RoleWriter Role = "writer"
	// RoleAdmin does everything: it includes RoleViewer and RoleWriter and
	// adds silences, reload, the admin TSDB APIs, dashboards and users.
	RoleAdmin Role = "admin"

	// RolePublic as a requirement lets everyone through, authenticated or
	// not (login page, health checks).
	RolePublic Role = "public"
	// RoleAnyUser as a requirement lets every authenticated principal
	// through whatever its role (a user's own API tokens).
	RoleAnyUser Role = "any-user"
)

// UserRoles returns the roles a user or token can have.
func UserRoles() []Role { return []Role{RoleViewer, RoleWriter, RoleAdmin} }

// Valid reports whether r is a role a user or a token can have.
func (r Role) Valid() bool {
	switch r {
	case RoleViewer, RoleWriter, RoleAdmin:
		return true
	}
	return false
}

// Allows reports whether a principal with role r meets the requirement.
// Admin includes viewer and writer; viewer and writer are disjoint.
func (r Role) Allows(required Role) bool {
	switch required {
	case RolePublic:
		return true
	case RoleAnyUser:
		return r.Valid()
	case RoleViewer, RoleWriter, RoleAdmin:
		return r == required || r == RoleAdmin
	}
	return false
}

// ParseRole parses a user role as written in the CLI, the config or the
// admin API.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", fmt.Errorf("%w: unknown role %q (want one of viewer, writer, admin)", ErrInvalidInput, s)
	}
	return r, nil
}

// narrow returns the role a token grants when its owner has role user and
// the token was limited to role token (empty: the owner's role). The result
// never exceeds the owner's current role, so demoting a user demotes the
// user's tokens; ok is false when the two share nothing (viewer and writer).
func narrow(user, token Role) (Role, bool) {
	switch {
	case token == "":
		return user, user.Valid()
	case user.Allows(token):
		return token, true
	case token.Allows(user):
		return user, true
	}
	return "", false
}
