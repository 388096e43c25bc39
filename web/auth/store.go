// Package auth is Vigil's authentication and authorisation: users with
// roles, API tokens, browser sessions with CSRF protection and rate limiting
// of failed logins, exposed as echo middleware and handlers.
//
// All state lives in buckets of the bbolt file the composition root opens;
// only bcrypt hashes of passwords and SHA-256 hashes of API tokens and
// session IDs are stored. Rate-limit state is in memory and resets on
// restart.
package auth

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"go.etcd.io/bbolt"
	"golang.org/x/crypto/bcrypt"
)

// Bucket names in the shared bbolt file.
const (
	bucketUsers    = "auth_users"
	bucketTokens   = "auth_tokens"
	bucketSessions = "auth_sessions"
)

// Errors callers compare with errors.Is. Messages returned by this package
// wrap them with the offending value and what to do.
var (
	ErrInvalidInput       = errors.New("invalid input")
	ErrUserNotFound       = errors.New("user not found")
	ErrUserExists         = errors.New("user already exists")
	ErrLastAdmin          = errors.New("the last admin cannot be removed")
	ErrInvalidCredentials = errors.New("invalid user name or password")
	ErrTokenNotFound      = errors.New("token not found")
	ErrSessionNotFound    = errors.New("session not found or expired")
)

// LockedError is returned when too many logins failed for a user name or a
// client address; retry after RetryAfter.
type LockedError struct {
	RetryAfter time.Duration
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("too many failed logins; retry in %s", e.RetryAfter.Round(time.Second))
}

// Options configures a Store. Zero values take the documented defaults.
type Options struct {
	// Disabled turns authentication off (--auth=none): the middleware lets
	// every request through as an anonymous admin.
	Disabled bool

	// BcryptCost is the cost of new password hashes; default
	// bcrypt.DefaultCost (10). Tests use bcrypt.MinCost.
	BcryptCost int

	// SecureCookies marks the session cookie Secure even on plain HTTP
	// requests, for a TLS-terminating proxy in front of Vigil. Cookies on
	// TLS requests are always Secure.
	SecureCookies bool

	// SessionIdleTimeout ends a session not used for this long; default 12h.
	SessionIdleTimeout time.Duration
	// SessionMaxAge ends a session this long after login, used or not;
	// default 7 days.
	SessionMaxAge time.Duration

	// MaxFailuresPerName failed logins for one user name lock that name;
	// default 5.
	MaxFailuresPerName int
	// MaxFailuresPerIP failed logins from one client address lock that
	// address; default 20 (higher than per name: offices share NAT).
	MaxFailuresPerIP int
	// LockoutBase is the first lockout; each further failure doubles it up
	// to LockoutMax. Defaults 1s and 5m.
	LockoutBase time.Duration
	LockoutMax  time.Duration
	// FailureMemory is how long a failure counts; a name or address with no
	// failure for this long starts again from zero. Default 15m.
	FailureMemory time.Duration

	// TrustedOrigins are extra origins ("https://grafana.example.com")
	// allowed to send state-changing requests with basic auth or a session
	// cookie, in addition to Vigil's own origin.
	TrustedOrigins []string

	// LoginPath is where browsers that are not logged in are sent, with
	// ?next=<the page they asked for>; default "/login".
	LoginPath string

	// Now is the clock; default time.Now. Tests inject one.
	Now func() time.Time

	// Metrics receives the self-metrics; default the VictoriaMetrics/metrics
	// default set.
	Metrics *metrics.Set
}

func (o *Options) setDefaults() {
	if o.BcryptCost == 0 {
		o.BcryptCost = bcrypt.DefaultCost
	}
	if o.SessionIdleTimeout <= 0 {
		o.SessionIdleTimeout = 12 * time.Hour
	}
	if o.SessionMaxAge <= 0 {
		o.SessionMaxAge = 7 * 24 * time.Hour
	}
	if o.MaxFailuresPerName <= 0 {
		o.MaxFailuresPerName = 5
	}
	if o.MaxFailuresPerIP <= 0 {
		o.MaxFailuresPerIP = 20
	}
	if o.LockoutBase <= 0 {
		o.LockoutBase = time.Second
	}
	if o.LockoutMax <= 0 {
		o.LockoutMax = 5 * time.Minute
	}
	if o.FailureMemory <= 0 {
		o.FailureMemory = 15 * time.Minute
	}
	if o.LoginPath == "" {
		o.LoginPath = "/login"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Store holds users, tokens and sessions in a bbolt file and authenticates
// requests. It is safe for concurrent use. The bbolt DB stays owned by the
// caller, who closes it after the last use of the Store; the Store starts
// no goroutines and needs no Close.
type Store struct {
	db   *bbolt.DB
	opts Options

	names *limiter // failed logins per user name
	addrs *limiter // failed logins per client address

	// hashSlots bounds concurrent bcrypt work so a flood of logins cannot
	// take every CPU from queries and ingestion.
	hashSlots chan struct{}

	verified *verifiedCache
	origins  *http.CrossOriginProtection
	metrics  *authMetrics

	// dummyHash is compared against when a user does not exist, so that
	// unknown and known names take the same time.
	dummyHash []byte

	mu sync.Mutex
	// touched is when last_used (tokens) or last_seen (sessions) was last
	// written, by bbolt key, so each is written at most once a minute.
	touched map[string]time.Time
}

// Open prepares the auth buckets in db and returns the Store.
func Open(db *bbolt.DB, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("auth.Open: nil bbolt DB")
	}
	opts.setDefaults()
	if opts.BcryptCost < bcrypt.MinCost || opts.BcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth.Open: BcryptCost=%d outside [%d, %d]", opts.BcryptCost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		for _, b := range []string{bucketUsers, bucketTokens, bucketSessions} {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("auth.Open: %w", err)
	}
	origins := http.NewCrossOriginProtection()
	for _, o := range opts.TrustedOrigins {
		if err := origins.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("auth.Open: trusted origin %q: %w", o, err)
		}
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("vigil-dummy-password"), opts.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("auth.Open: %w", err)
	}
	s := &Store{
		db:        db,
		opts:      opts,
		names:     newLimiter(opts.MaxFailuresPerName, opts),
		addrs:     newLimiter(opts.MaxFailuresPerIP, opts),
		hashSlots: make(chan struct{}, max(runtime.GOMAXPROCS(0), 1)),
		verified:  newVerifiedCache(opts.Now),
		origins:   origins,
		metrics:   newAuthMetrics(opts.Metrics),
		dummyHash: dummy,
		touched:   make(map[string]time.Time),
	}
	return s, nil
}

// Disabled reports whether authentication is off (--auth=none).
func (s *Store) Disabled() bool { return s.opts.Disabled }

func (s *Store) now() time.Time { return s.opts.Now() }

// shouldTouch reports whether the usage time of key, last persisted at
// persisted, should be written now; it claims the write so concurrent
// requests do not repeat it.
func (s *Store) shouldTouch(key string, persisted, now time.Time) bool {
	if now.Sub(persisted) < time.Minute {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.touched[key]; ok && now.Sub(t) < time.Minute {
		return false
	}
	if len(s.touched) > 10000 {
		clear(s.touched)
	}
	s.touched[key] = now
	return true
}

func (s *Store) forgetTouch(key string) {
	s.mu.Lock()
	delete(s.touched, key)
	s.mu.Unlock()
}

// bcrypt helpers, bounded by hashSlots.

func (s *Store) hashPassword(password string) ([]byte, error) {
	s.hashSlots <- struct{}{}
	defer func() { <-s.hashSlots }()
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.opts.BcryptCost)
	if err != nil {
		return nil, fmt.Errorf("hash password: %w", err)
	}
	return h, nil
}

func (s *Store) comparePassword(hash []byte, password string) bool {
	s.hashSlots <- struct{}{}
	defer func() { <-s.hashSlots }()
	return bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
}

// Random strings.

const (
	urlSafeAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	base62Alphabet  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

// randomURLSafe returns n characters from the 64-character URL-safe
// alphabet, 6 random bits each.
func randomURLSafe(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go ≥ 1.24)
	for i := range b {
		b[i] = urlSafeAlphabet[b[i]&63]
	}
	return string(b)
}

// randomBase62 returns nBytes random bytes encoded in base62, left-padded
// to a fixed width so all secrets have the same length.
func randomBase62(nBytes int) string {
	b := make([]byte, nBytes)
	rand.Read(b)
	n := new(big.Int).SetBytes(b)
	width := 0
	for limit := new(big.Int).Lsh(big.NewInt(1), uint(8*nBytes)); limit.Sign() > 0; limit.Div(limit, big.NewInt(62)) {
		width++
	}
	out := make([]byte, width)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := width - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = base62Alphabet[mod.Int64()]
	}
	return string(out)
}
