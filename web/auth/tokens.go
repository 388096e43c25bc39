package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"
)

// TokenPrefix starts every API token secret, so secret scanners recognise
// leaked tokens and basic auth can tell tokens from passwords.
const TokenPrefix = "vgl_"

const maxTokenNameLength = 128

// Token describes an API token; the secret itself is shown once by
// CreateToken and stored only as a SHA-256 hash.
type Token struct {
	ID   string `json:"id"`
	User string `json:"user"`
	Name string `json:"name"`
	// Role limits the token below its user's role; empty means the user's
	// role. Either way a token never grants more than its user's current
	// role.
	Role      Role      `json:"role,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	// ExpiresAt is zero for tokens that do not expire.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	// LastUsed is updated at most once a minute.
	LastUsed time.Time `json:"last_used,omitzero"`
}

// TokenOptions are the optional properties of a new token.
type TokenOptions struct {
	// Role narrows the token below the user's role; empty: the user's role.
	Role Role
	// ExpiresAt ends the token; zero: never.
	ExpiresAt time.Time
}

// Stored in bucket auth_tokens keyed by the SHA-256 of the secret.
func tokenKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// CreateToken creates an API token for user and returns its secret, which
// is not stored and cannot be shown again.
func (s *Store) CreateToken(user, name string, opts TokenOptions) (secret string, tok Token, err error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", Token{}, fmt.Errorf("%w: token name is empty; name it after its client, e.g. \"grafana\"", ErrInvalidInput)
	case utf8.RuneCountInString(name) > maxTokenNameLength:
		return "", Token{}, fmt.Errorf("%w: token name has %d characters; the limit is %d", ErrInvalidInput, utf8.RuneCountInString(name), maxTokenNameLength)
	}
	if opts.Role != "" {
		if _, err := ParseRole(string(opts.Role)); err != nil {
			return "", Token{}, err
		}
	}
	now := s.now().UTC()
	if !opts.ExpiresAt.IsZero() && !opts.ExpiresAt.After(now) {
		return "", Token{}, fmt.Errorf("%w: token expiry %s is not in the future", ErrInvalidInput, opts.ExpiresAt.Format(time.RFC3339))
	}
	secret = TokenPrefix + randomBase62(32)
	idBytes := make([]byte, 8)
	rand.Read(idBytes)
	tok = Token{
		ID: hex.EncodeToString(idBytes), User: user, Name: name, Role: opts.Role,
		CreatedAt: now,
	}
	if !opts.ExpiresAt.IsZero() {
		tok.ExpiresAt = opts.ExpiresAt.UTC()
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		u, err := getUser(tx, user)
		if err != nil {
			return err
		}
		if opts.Role != "" && !u.Role.Allows(opts.Role) {
			return fmt.Errorf("%w: user %q has role %s and cannot create a token with role %s", ErrInvalidInput, user, u.Role, opts.Role)
		}
		return putToken(tx, tokenKey(secret), &tok)
	})
	if err != nil {
		return "", Token{}, err
	}
	return secret, tok, nil
}

func putToken(tx *bbolt.Tx, key []byte, t *Token) error {
	v, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return tx.Bucket([]byte(bucketTokens)).Put(key, v)
}

// forEachToken calls fn with each token and its bbolt key. The key is
// valid only during fn.
func forEachToken(tx *bbolt.Tx, fn func(key []byte, t *Token) error) error {
	return tx.Bucket([]byte(bucketTokens)).ForEach(func(k, v []byte) error {
		var t Token
		if err := json.Unmarshal(v, &t); err != nil {
			return fmt.Errorf("decode token: %w", err)
		}
		return fn(k, &t)
	})
}

// ListTokens returns the tokens of user, or of all users if user is empty,
// ordered by creation time.
func (s *Store) ListTokens(user string) ([]Token, error) {
	tokens := []Token{}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return forEachToken(tx, func(_ []byte, t *Token) error {
			if user == "" || t.User == user {
				tokens = append(tokens, *t)
			}
			return nil
		})
	})
	sortTokens(tokens)
	return tokens, err
}

// GetToken returns a token by ID.
func (s *Store) GetToken(id string) (Token, error) {
	var tok Token
	err := s.db.View(func(tx *bbolt.Tx) error {
		found := false
		err := forEachToken(tx, func(_ []byte, t *Token) error {
			if t.ID == id {
				tok, found = *t, true
			}
			return nil
		})
		if err == nil && !found {
			err = fmt.Errorf("%w: id %q", ErrTokenNotFound, id)
		}
		return err
	})
	return tok, err
}

// RevokeToken deletes a token by ID; requests with it fail from now on.
func (s *Store) RevokeToken(id string) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		var key []byte
		err := forEachToken(tx, func(k []byte, t *Token) error {
			if t.ID == id {
				key = append([]byte(nil), k...)
			}
			return nil
		})
		if err != nil {
			return err
		}
		if key == nil {
			return fmt.Errorf("%w: id %q", ErrTokenNotFound, id)
		}
		s.forgetTouch(string(key))
		return tx.Bucket([]byte(bucketTokens)).Delete(key)
	})
}

func deleteTokensOf(tx *bbolt.Tx, user string) error {
	var keys [][]byte
	err := forEachToken(tx, func(k []byte, t *Token) error {
		if t.User == user {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	b := tx.Bucket([]byte(bucketTokens))
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

var errBadToken = errors.New("invalid, expired or revoked API token")

// authenticateToken resolves a token secret to its user and effective
// role, and records its use at most once a minute.
func (s *Store) authenticateToken(secret string) (*Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nil, errBadToken
	}
	key := tokenKey(secret)
	now := s.now()
	var tok Token
	var user *userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketTokens)).Get(key)
		if v == nil {
			return errBadToken
		}
		if err := json.Unmarshal(v, &tok); err != nil {
			return fmt.Errorf("decode token: %w", err)
		}
		var err error
		user, err = getUser(tx, tok.User)
		return err
	})
	if err != nil {
		if isNotFound(err) {
			return nil, errBadToken
		}
		return nil, err
	}
	if !tok.ExpiresAt.IsZero() && !now.Before(tok.ExpiresAt) {
		return nil, errBadToken
	}
	role, ok := narrow(user.Role, tok.Role)
	if !ok {
		return nil, fmt.Errorf("%w: token role %s is outside user %q's role %s", errBadToken, tok.Role, user.Name, user.Role)
	}
	if s.shouldTouch(string(key), tok.LastUsed, now) {
		// Best effort: a failed write only loses a last_used update.
		_ = s.db.Update(func(tx *bbolt.Tx) error {
			v := tx.Bucket([]byte(bucketTokens)).Get(key)
			if v == nil {
				return nil // revoked meanwhile
			}
			var t Token
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			t.LastUsed = now.UTC()
			return putToken(tx, key, &t)
		})
	}
	return &Principal{User: user.Name, Role: role, TokenID: tok.ID}, nil
}

func sortTokens(tokens []Token) {
	slices.SortFunc(tokens, func(a, b Token) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
