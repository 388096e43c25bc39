package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// limiter counts failed logins per key (a user name or a client address)
// and locks a key out after max failures: the first lockout lasts base,
// each further failure doubles it, up to maxLock. A key with no failure
// for memory starts from zero again. State is in memory only.
type limiter struct {
	max     int
	base    time.Duration
	maxLock time.Duration
	memory  time.Duration
	now     func() time.Time

	mu      sync.Mutex
	entries map[string]*limitEntry
}

type limitEntry struct {
	failures    int
	lastFailure time.Time
	lockedUntil time.Time
}

// maxLimiterEntries bounds memory under a spray of names or addresses;
// past it, forgotten entries are swept, then the oldest half dropped.
const maxLimiterEntries = 100_000

func newLimiter(max int, o Options) *limiter {
	return &limiter{
		max: max, base: o.LockoutBase, maxLock: o.LockoutMax, memory: o.FailureMemory,
		now: o.Now, entries: make(map[string]*limitEntry),
	}
}

// locked returns how long key stays locked, or 0.
func (l *limiter) locked(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[key]
	if e == nil {
		return 0
	}
	if d := e.lockedUntil.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// fail records a failure and reports whether it started a lockout.
func (l *limiter) fail(key string) bool {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[key]
	if e == nil || now.Sub(e.lastFailure) > l.memory {
		if len(l.entries) >= maxLimiterEntries {
			l.sweep(now)
		}
		e = &limitEntry{}
		l.entries[key] = e
	}
	e.failures++
	e.lastFailure = now
	if e.failures < l.max {
		return false
	}
	d := l.base
	for i := e.failures - l.max; i > 0 && d < l.maxLock; i-- {
		d *= 2
	}
	d = min(d, l.maxLock)
	e.lockedUntil = now.Add(d)
	return true
}

// reset forgets key's failures, after a successful login.
func (l *limiter) reset(key string) {
	l.mu.Lock()
	delete(l.entries, key)
	l.mu.Unlock()
}

// sweep drops forgotten entries; if that is not enough, every entry not
// currently locked. Called with mu held.
func (l *limiter) sweep(now time.Time) {
	for k, e := range l.entries {
		if now.Sub(e.lastFailure) > l.memory {
			delete(l.entries, k)
		}
	}
	if len(l.entries) < maxLimiterEntries/2 {
		return
	}
	for k, e := range l.entries {
		if !e.lockedUntil.After(now) {
			delete(l.entries, k)
		}
	}
}

// checkLogin returns a *LockedError if the user name or the client address
// is locked out.
func (s *Store) checkLogin(name, clientIP string) error {
	d := max(s.names.locked(name), s.addrs.locked(clientIP))
	if d > 0 {
		return &LockedError{RetryAfter: d}
	}
	return nil
}

// recordLogin updates the limiters after a password check. A success
// resets the name but not the address, so one valid account cannot clear
// the way for guessing others from the same address.
func (s *Store) recordLogin(name, clientIP string, ok bool) {
	if ok {
		s.names.reset(name)
		return
	}
	if s.names.fail(name) {
		s.metrics.lockout("name")
	}
	if clientIP != "" && s.addrs.fail(clientIP) {
		s.metrics.lockout("ip")
	}
}

// verifiedCache remembers recently verified (name, password, hash)
// triples so that clients sending basic auth with a password on every
// request (Grafana, scrapers) do not pay a bcrypt comparison each time.
// It is consulted only after the lockout check: letting cached credentials
// past a lockout would let a guesser test passwords against the cache.
// Keys are HMACs under a random per-process key, never the passwords;
// a changed password changes the stored hash and so misses.
type verifiedCache struct {
	now func() time.Time
	key [32]byte

	mu      sync.Mutex
	entries map[[32]byte]time.Time // last use
}

const (
	verifiedTTL        = 10 * time.Minute
	maxVerifiedEntries = 1024
)

func newVerifiedCache(now func() time.Time) *verifiedCache {
	c := &verifiedCache{now: now, entries: make(map[[32]byte]time.Time)}
	rand.Read(c.key[:])
	return c
}

func (c *verifiedCache) sum(name, password string, hash []byte) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(password))
	m.Write([]byte{0})
	m.Write(hash)
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (c *verifiedCache) hit(name, password string, hash []byte) bool {
	k := c.sum(name, password, hash)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.entries[k]
	if !ok || now.Sub(t) > verifiedTTL {
		delete(c.entries, k)
		return false
	}
	c.entries[k] = now
	return true
}

func (c *verifiedCache) add(name, password string, hash []byte) {
	k := c.sum(name, password, hash)
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxVerifiedEntries {
		clear(c.entries)
	}
	c.entries[k] = now
}
