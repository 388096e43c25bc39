package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// Limits on user input.
const (
	MaxNameLength     = 64
	MinPasswordLength = 8
	// MaxPasswordBytes is bcrypt's limit: it ignores nothing and refuses
	// longer input.
	MaxPasswordBytes = 72

	// AdminUser is the user EnsureAdmin creates on first start.
	AdminUser = "admin"

	generatedPasswordLength = 20
)

// User is a user as callers see it; the password hash never leaves the
// package.
type User struct {
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// userRecord is the stored form of a user in bucket auth_users, keyed by
// name.
type userRecord struct {
	Name         string    `json:"name"`
	Role         Role      `json:"role"`
	PasswordHash []byte    `json:"password_hash"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

func (r *userRecord) user() *User {
	return &User{Name: r.Name, Role: r.Role, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// ValidateName checks a user name: 1 to 64 characters, no ':' (it
// separates name and password in basic auth), no control characters and no
// surrounding spaces.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: user name is empty", ErrInvalidInput)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: user name %q is not valid UTF-8", ErrInvalidInput, name)
	case utf8.RuneCountInString(name) > MaxNameLength:
		return fmt.Errorf("%w: user name %q has %d characters; the limit is %d", ErrInvalidInput, name, utf8.RuneCountInString(name), MaxNameLength)
	case strings.Contains(name, ":"):
		return fmt.Errorf("%w: user name %q contains ':', which basic auth uses as separator; choose a name without it", ErrInvalidInput, name)
	case strings.TrimSpace(name) != name:
		return fmt.Errorf("%w: user name %q starts or ends with white space", ErrInvalidInput, name)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: user name %q contains control characters", ErrInvalidInput, name)
	}
	return nil
}

// ValidatePassword checks a new password: at least 8 characters, at most
// 72 bytes (bcrypt's limit), and not starting with the API token prefix.
func ValidatePassword(password string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLength:
		return fmt.Errorf("%w: password has %d characters; use at least %d", ErrInvalidInput, utf8.RuneCountInString(password), MinPasswordLength)
	case len(password) > MaxPasswordBytes:
		return fmt.Errorf("%w: password has %d bytes; bcrypt accepts at most %d", ErrInvalidInput, len(password), MaxPasswordBytes)
	case strings.HasPrefix(password, TokenPrefix):
		return fmt.Errorf("%w: passwords must not start with %q, which marks API tokens", ErrInvalidInput, TokenPrefix)
	}
	return nil
}

func getUser(tx *bbolt.Tx, name string) (*userRecord, error) {
	v := tx.Bucket([]byte(bucketUsers)).Get([]byte(name))
	if v == nil {
		return nil, fmt.Errorf("%w: %q", ErrUserNotFound, name)
	}
	var r userRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("decode user %q: %w", name, err)
	}
	return &r, nil
}

func putUser(tx *bbolt.Tx, r *userRecord) error {
	v, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketUsers)).Put([]byte(r.Name), v)
}

// countAdmins counts users with RoleAdmin.
func countAdmins(tx *bbolt.Tx) (int, error) {
	n := 0
	err := tx.Bucket([]byte(bucketUsers)).ForEach(func(k, v []byte) error {
		var r userRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("decode user %q: %w", k, err)
		}
		if r.Role == RoleAdmin {
			n++
		}
		return nil
	})
	return n, err
}

// AddUser creates a user.
func (s *Store) AddUser(name, password string, role Role) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	if err := ValidatePassword(password); err != nil {
		return err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	now := s.now().UTC()
	return s.db.Update(func(tx *bbolt.Tx) error {
		if tx.Bucket([]byte(bucketUsers)).Get([]byte(name)) != nil {
			return fmt.Errorf("%w: %q; use SetPassword or SetRole to change it", ErrUserExists, name)
		}
		return putUser(tx, &userRecord{Name: name, Role: role, PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
	})
}

// GetUser returns one user.
func (s *Store) GetUser(name string) (*User, error) {
	var u *User
	err := s.db.View(func(tx *bbolt.Tx) error {
		r, err := getUser(tx, name)
		if err != nil {
			return err
		}
		u = r.user()
		return nil
	})
	return u, err
}

// SetPassword changes a user's password and ends the user's sessions.
func (s *Store) SetPassword(name, password string) error {
	if err := ValidatePassword(password); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		r, err := getUser(tx, name)
		if err != nil {
			return err
		}
		r.PasswordHash = hash
		r.UpdatedAt = s.now().UTC()
		if err := putUser(tx, r); err != nil {
			return err
		}
		return deleteSessionsOf(tx, name)
	})
}

// SetRole changes a user's role. Demoting the last admin is refused.
func (s *Store) SetRole(name string, role Role) error {
	if _, err := ParseRole(string(role)); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		r, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if r.Role == role {
			return nil
		}
		if r.Role == RoleAdmin {
			n, err := countAdmins(tx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return fmt.Errorf("%w: %q is the only admin; make another user admin before changing its role", ErrLastAdmin, name)
			}
		}
		r.Role = role
		r.UpdatedAt = s.now().UTC()
		return putUser(tx, r)
	})
}

// DeleteUser removes a user with its tokens and sessions. Deleting the last
// admin is refused.
func (s *Store) DeleteUser(name string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		r, err := getUser(tx, name)
		if err != nil {
			return err
		}
		if r.Role == RoleAdmin {
			n, err := countAdmins(tx)
			if err != nil {
				return err
			}
			if n <= 1 {
				return fmt.Errorf("%w: %q is the only admin; make another user admin before deleting it", ErrLastAdmin, name)
			}
		}
		if err := tx.Bucket([]byte(bucketUsers)).Delete([]byte(name)); err != nil {
			return err
		}
		if err := deleteTokensOf(tx, name); err != nil {
			return err
		}
		return deleteSessionsOf(tx, name)
	})
}

// ListUsers returns all users sorted by name.
func (s *Store) ListUsers() ([]User, error) {
	var users []User
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketUsers)).ForEach(func(k, v []byte) error {
			var r userRecord
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode user %q: %w", k, err)
			}
			users = append(users, *r.user())
			return nil
		})
	})
	return users, err
}

// Authenticate checks a user name and password. It does not rate-limit;
// Login and the middleware do. Unknown users and wrong passwords both give
// ErrInvalidCredentials and take the same time.
func (s *Store) Authenticate(name, password string) (*User, error) {
	var r *userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		var err error
		r, err = getUser(tx, name)
		return err
	})
	if err != nil {
		s.comparePassword(s.dummyHash, password)
		if isNotFound(err) {
			return nil, ErrInvalidCredentials
		}
		return nil, err
	}
	if s.verified.hit(r.Name, password, r.PasswordHash) {
		return r.user(), nil
	}
	if !s.comparePassword(r.PasswordHash, password) {
		return nil, ErrInvalidCredentials
	}
	s.verified.add(r.Name, password, r.PasswordHash)
	return r.user(), nil
}

// EnsureAdmin prepares the first admin. With no users at all it creates
// user "admin" with passwordFromFile or, if that is empty, a random
// 20-character password it returns as generated so the caller prints it
// once. When users exist and passwordFromFile is set, it sets the password
// of "admin" (creating that user as admin if missing), which is how
// automation and tests log in; an unchanged password is left alone so
// sessions survive restarts. created reports whether a user was created.
//
// Pass the content of --admin-password-file through ReadPasswordFile, which
// trims the trailing newline and rejects an empty file.
func (s *Store) EnsureAdmin(passwordFromFile string) (generated string, created bool, err error) {
	password := passwordFromFile
	if password != "" {
		if err := ValidatePassword(password); err != nil {
			return "", false, fmt.Errorf("admin password file: %w", err)
		}
	}
	var empty bool
	var existing *userRecord
	err = s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(bucketUsers))
		k, _ := b.Cursor().First()
		empty = k == nil
		if r, err := getUser(tx, AdminUser); err == nil {
			existing = r
		} else if !isNotFound(err) {
			return err
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	switch {
	case empty || (existing == nil && password != ""):
		if password == "" {
			password = randomURLSafe(generatedPasswordLength)
			generated = password
		}
		if err := s.AddUser(AdminUser, password, RoleAdmin); err != nil {
			return "", false, fmt.Errorf("create first admin: %w", err)
		}
		return generated, true, nil
	case password != "":
		if bcrypt.CompareHashAndPassword(existing.PasswordHash, []byte(password)) == nil {
			return "", false, nil
		}
		if err := s.SetPassword(AdminUser, password); err != nil {
			return "", false, fmt.Errorf("set admin password from file: %w", err)
		}
	}
	return "", false, nil
}

// ReadPasswordFile reads a password file such as --admin-password-file:
// trailing CR/LF characters are removed, other white space is kept, and an
// empty file is an error.
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read password file: %w", err)
	}
	p := strings.TrimRight(string(b), "\r\n")
	if p == "" {
		return "", fmt.Errorf("%w: password file %s is empty", ErrInvalidInput, path)
	}
	return p, nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrUserNotFound) }
