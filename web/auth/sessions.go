package auth

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"
)

// SessionCookie is the name of the browser session cookie.
const SessionCookie = "vigil_session"

// sessionRecord is a browser session in bucket auth_sessions, keyed by the
// SHA-256 of the session ID so that a copy of the bbolt file holds no
// usable session.
type sessionRecord struct {
	User      string    `json:"user"`
	CSRFToken string    `json:"csrf_token"`
	ClientIP  string    `json:"client_ip,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
}

func sessionKey(id string) []byte {
	h := sha256.Sum256([]byte(id))
	return h[:]
}

func (s *Store) sessionExpired(r *sessionRecord, now time.Time) bool {
	return now.Sub(r.LastSeen) >= s.opts.SessionIdleTimeout || now.Sub(r.CreatedAt) >= s.opts.SessionMaxAge
}

// Login checks a user name and password from the login form, subject to
// the failed-login limits, and starts a session. It returns the session ID
// for the cookie and the CSRF token the UI must send with state-changing
// requests. Errors: *LockedError, ErrInvalidCredentials.
func (s *Store) Login(name, password, clientIP string) (sessionID, csrfToken string, err error) {
	if _, err := s.passwordLogin(MethodForm, name, password, clientIP); err != nil {
		return "", "", err
	}
	return s.newSession(name, clientIP)
}

// passwordLogin checks a password subject to the failed-login limits and
// counts the attempt.
func (s *Store) passwordLogin(method Method, name, password, clientIP string) (*User, error) {
	if err := s.checkLogin(name, clientIP); err != nil {
		s.metrics.attempt(method, resultLocked)
		return nil, err
	}
	u, err := s.Authenticate(name, password)
	switch {
	case err == nil:
		s.recordLogin(name, clientIP, true)
		s.metrics.attempt(method, resultSuccess)
	case errors.Is(err, ErrInvalidCredentials):
		s.recordLogin(name, clientIP, false)
		s.metrics.attempt(method, resultFailure)
	}
	return u, err
}

func (s *Store) newSession(user, clientIP string) (sessionID, csrfToken string, err error) {
	sessionID = randomURLSafe(43) // 258 bits
	csrfToken = randomURLSafe(43)
	now := s.now().UTC()
	rec := sessionRecord{User: user, CSRFToken: csrfToken, ClientIP: clientIP, CreatedAt: now, LastSeen: now}
	v, err := json.Marshal(&rec)
	if err != nil {
		return "", "", err
	}
	err = s.db.Update(func(tx *bbolt.Tx) error {
		if err := s.deleteExpiredSessions(tx, now); err != nil {
			return err
		}
		return tx.Bucket([]byte(bucketSessions)).Put(sessionKey(sessionID), v)
	})
	if err != nil {
		return "", "", fmt.Errorf("store session: %w", err)
	}
	return sessionID, csrfToken, nil
}

// Logout ends a session. Ending an unknown session is not an error.
func (s *Store) Logout(sessionID string) error {
	key := sessionKey(sessionID)
	s.forgetTouch(string(key))
	return s.db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucketSessions)).Delete(key)
	})
}

// session resolves a session ID to its principal, refreshing last_seen at
// most once a minute. Expired sessions are deleted.
func (s *Store) session(sessionID string) (*Principal, string, error) {
	key := sessionKey(sessionID)
	now := s.now()
	var rec sessionRecord
	var user *userRecord
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket([]byte(bucketSessions)).Get(key)
		if v == nil {
			return ErrSessionNotFound
		}
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode session: %w", err)
		}
		var err error
		user, err = getUser(tx, rec.User)
		return err
	})
	if isNotFound(err) {
		err = ErrSessionNotFound
	}
	if err != nil {
		return nil, "", err
	}
	if s.sessionExpired(&rec, now) {
		_ = s.Logout(sessionID)
		return nil, "", ErrSessionNotFound
	}
	if s.shouldTouch(string(key), rec.LastSeen, now) {
		rec.LastSeen = now.UTC()
		if v, err := json.Marshal(&rec); err == nil {
			// Best effort: a failed write only shortens the idle timeout.
			_ = s.db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket([]byte(bucketSessions))
				if b.Get(key) == nil {
					return nil // logged out meanwhile
				}
				return b.Put(key, v)
			})
		}
	}
	return &Principal{User: user.Name, Role: user.Role}, rec.CSRFToken, nil
}

func (s *Store) deleteExpiredSessions(tx *bbolt.Tx, now time.Time) error {
	return deleteSessionsWhere(tx, func(r *sessionRecord) bool { return s.sessionExpired(r, now) })
}

func deleteSessionsOf(tx *bbolt.Tx, user string) error {
	return deleteSessionsWhere(tx, func(r *sessionRecord) bool { return r.User == user })
}

func deleteSessionsWhere(tx *bbolt.Tx, match func(*sessionRecord) bool) error {
	b := tx.Bucket([]byte(bucketSessions))
	var keys [][]byte
	err := b.ForEach(func(k, v []byte) error {
		var r sessionRecord
		if json.Unmarshal(v, &r) != nil || match(&r) {
			keys = append(keys, append([]byte(nil), k...))
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
