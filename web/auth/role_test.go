package auth

import (
	"errors"
	"testing"
)

func TestRoleAllows(t *testing.T) {
	// have → required → allowed
	want := map[Role]map[Role]bool{
		RoleViewer: {RoleViewer: true, RoleWriter: false, RoleAdmin: false, RoleAnyUser: true, RolePublic: true},
		RoleWriter: {RoleViewer: false, RoleWriter: true, RoleAdmin: false, RoleAnyUser: true, RolePublic: true},
		RoleAdmin:  {RoleViewer: true, RoleWriter: true, RoleAdmin: true, RoleAnyUser: true, RolePublic: true},
		"":         {RoleViewer: false, RoleWriter: false, RoleAdmin: false, RoleAnyUser: false, RolePublic: true},
		"root":     {RoleViewer: false, RoleWriter: false, RoleAdmin: false, RoleAnyUser: false, RolePublic: true},
	}
	for have, reqs := range want {
		for required, allowed := range reqs {
			if got := have.Allows(required); got != allowed {
				t.Errorf("Role(%q).Allows(%q) = %v, want %v", have, required, got, allowed)
			}
		}
		if have.Allows("unknown") {
			t.Errorf("Role(%q).Allows(unknown requirement) = true", have)
		}
	}
}

func TestParseRole(t *testing.T) {
	for _, r := range UserRoles() {
		got, err := ParseRole(string(r))
		if err != nil || got != r {
			t.Errorf("ParseRole(%q) = %q, %v", r, got, err)
		}
	}
	for _, s := range []string{"", "Admin", "public", "any-user", "root"} {
		if _, err := ParseRole(s); !errors.Is(err, ErrInvalidInput) {
			t.Errorf("ParseRole(%q) error = %v, want ErrInvalidInput", s, err)
		}
	}
}

func TestNarrow(t *testing.T) {
	tests := []struct {
		user, token Role
		want        Role
		ok          bool
	}{
		{RoleAdmin, "", RoleAdmin, true},
		{RoleAdmin, RoleViewer, RoleViewer, true},
		{RoleAdmin, RoleWriter, RoleWriter, true},
		{RoleViewer, "", RoleViewer, true},
		{RoleViewer, RoleAdmin, RoleViewer, true}, // user demoted after the token was made
		{RoleWriter, RoleAdmin, RoleWriter, true},
		{RoleViewer, RoleWriter, "", false},
		{RoleWriter, RoleViewer, "", false},
	}
	for _, tt := range tests {
		got, ok := narrow(tt.user, tt.token)
		if got != tt.want || ok != tt.ok {
			t.Errorf("narrow(%q, %q) = %q, %v; want %q, %v", tt.user, tt.token, got, ok, tt.want, tt.ok)
		}
	}
}
