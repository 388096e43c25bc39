package notify

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	amlabels "github.com/prometheus/alertmanager/pkg/labels"
	"github.com/prometheus/common/model"
	"go.etcd.io/bbolt"
)

// SilenceState is where a silence is in its life: pending before
// StartsAt, active until EndsAt, then expired (kept for the retention).
type SilenceState string

// The silence states.
const (
	SilencePending SilenceState = "pending"
	SilenceActive  SilenceState = "active"
	SilenceExpired SilenceState = "expired"
)

// SilenceMatcher is one matcher of a silence, as API v2 writes it.
type SilenceMatcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	IsEqual bool   `json:"isEqual"`
}

// Silence mutes the alerts its matchers all match from StartsAt to EndsAt.
type Silence struct {
	ID        string           `json:"id"`
	Matchers  []SilenceMatcher `json:"matchers"`
	StartsAt  time.Time        `json:"startsAt"`
	EndsAt    time.Time        `json:"endsAt"`
	UpdatedAt time.Time        `json:"updatedAt"`
	CreatedBy string           `json:"createdBy"`
	Comment   string           `json:"comment"`
}

// State is the silence's state at now; the one place that decides it.
func (s *Silence) State(now time.Time) SilenceState {
	switch {
	case !now.Before(s.EndsAt):
		return SilenceExpired
	case now.Before(s.StartsAt):
		return SilencePending
	default:
		return SilenceActive
	}
}

func (s *Silence) compile() ([]*amlabels.Matcher, error) {
	out := make([]*amlabels.Matcher, 0, len(s.Matchers))
	for _, m := range s.Matchers {
		t := amlabels.MatchEqual
		switch {
		case m.IsRegex && m.IsEqual:
			t = amlabels.MatchRegexp
		case m.IsRegex:
			t = amlabels.MatchNotRegexp
		case !m.IsEqual:
			t = amlabels.MatchNotEqual
		}
		if !model.UTF8Validation.IsValidLabelName(m.Name) {
			return nil, fmt.Errorf("invalid label name %q", m.Name)
		}
		mm, err := amlabels.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %s: %w", m.Name, err)
		}
		out = append(out, mm)
	}
	return out, nil
}

// ErrNotFound is returned for an unknown silence ID.
var ErrNotFound = errors.New("silence not found")

// ErrExpired is returned when expiring or updating an expired silence.
var ErrExpired = errors.New("silence already expired")

const silenceBucket = "notify_silences"

type compiledSilence struct {
	Silence
	ms []*amlabels.Matcher
}

// Silences keeps silences in memory and in bbolt (when db is not nil).
// It is safe for concurrent use.
type Silences struct {
	db        *bbolt.DB
	now       func() time.Time
	retention time.Duration

	mu sync.RWMutex
	m  map[string]*compiledSilence
}

// NewSilences loads the silences kept in db (nil: memory only); expired
// ones are kept for retention after their EndsAt.
func NewSilences(db *bbolt.DB, retention time.Duration, now func() time.Time) (*Silences, error) {
	s := &Silences{db: db, now: now, retention: retention, m: map[string]*compiledSilence{}}
	if db == nil {
		return s, nil
	}
	err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(silenceBucket))
		if err != nil {
			return err
		}
		return b.ForEach(func(k, v []byte) error {
			var sil Silence
			if err := json.Unmarshal(v, &sil); err != nil {
				return fmt.Errorf("silence %s: %w", k, err)
			}
			ms, err := sil.compile()
			if err != nil {
				return fmt.Errorf("silence %s: %w", k, err)
			}
			s.m[sil.ID] = &compiledSilence{sil, ms}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("cannot load the silences: %w", err)
	}
	return s, nil
}

func (s *Silences) persist(sils ...*Silence) error {
	if s.db == nil {
		return nil
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(silenceBucket))
		for _, sil := range sils {
			v, _ := json.Marshal(sil)
			if err := b.Put([]byte(sil.ID), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Set creates sil (no ID) or updates the silence with its ID, and returns
// the ID. As in Alertmanager, an active silence whose matchers or start
// change is expired and replaced by a new one; a start in the past
// becomes now.
func (s *Silences) Set(sil Silence) (string, error) {
	now := s.now()
	if len(sil.Matchers) == 0 {
		return "", errors.New("a silence needs at least one matcher")
	}
	ms, err := sil.compile()
	if err != nil {
		return "", err
	}
	if slices.IndexFunc(ms, func(m *amlabels.Matcher) bool { return !m.Matches("") }) < 0 {
		return "", errors.New("at least one matcher must not match the empty string, or the silence would mute every alert")
	}
	if sil.StartsAt.IsZero() || sil.StartsAt.Before(now) {
		sil.StartsAt = now
	}
	if !sil.EndsAt.After(sil.StartsAt) {
		return "", fmt.Errorf("endsAt %s must be after startsAt %s", sil.EndsAt.Format(time.RFC3339), sil.StartsAt.Format(time.RFC3339))
	}
	if sil.CreatedBy == "" {
		return "", errors.New("createdBy is missing")
	}
	if sil.Comment == "" {
		return "", errors.New("comment is missing")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var changed []*Silence
	if sil.ID != "" {
		old, ok := s.m[sil.ID]
		if !ok {
			return "", fmt.Errorf("%w: %s", ErrNotFound, sil.ID)
		}
		switch old.State(now) {
		case SilenceExpired:
			return "", fmt.Errorf("%w: %s", ErrExpired, sil.ID)
		case SilenceActive:
			if !slices.Equal(old.Matchers, sil.Matchers) || !sil.StartsAt.Equal(now) && !sil.StartsAt.Equal(old.StartsAt) {
				expired := old.Silence
				expired.EndsAt, expired.UpdatedAt = now, now
				s.m[old.ID] = &compiledSilence{expired, old.ms}
				changed = append(changed, &s.m[old.ID].Silence)
				sil.ID = ""
			} else {
				sil.StartsAt = old.StartsAt
			}
		}
	}
	if sil.ID == "" {
		sil.ID = newID()
	}
	sil.UpdatedAt = now
	s.m[sil.ID] = &compiledSilence{sil, ms}
	changed = append(changed, &s.m[sil.ID].Silence)
	return sil.ID, s.persist(changed...)
}

// Expire ends the silence with id now.
func (s *Silences) Expire(id string) error {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.m[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if old.State(now) == SilenceExpired {
		return fmt.Errorf("%w: %s", ErrExpired, id)
	}
	sil := old.Silence
	if sil.StartsAt.After(now) {
		sil.StartsAt = now
	}
	sil.EndsAt, sil.UpdatedAt = now, now
	s.m[id] = &compiledSilence{sil, old.ms}
	return s.persist(&sil)
}

// Get returns the silence with id.
func (s *Silences) Get(id string) (Silence, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sil, ok := s.m[id]
	if !ok {
		return Silence{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return sil.Silence, nil
}

// List returns every silence kept, active first, then pending, then
// expired, each by end time.
func (s *Silences) List() []Silence {
	now := s.now()
	s.mu.RLock()
	out := make([]Silence, 0, len(s.m))
	for _, sil := range s.m {
		out = append(out, sil.Silence)
	}
	s.mu.RUnlock()
	rank := map[SilenceState]int{SilenceActive: 0, SilencePending: 1, SilenceExpired: 2}
	slices.SortFunc(out, func(a, b Silence) int {
		if ra, rb := rank[a.State(now)], rank[b.State(now)]; ra != rb {
			return ra - rb
		}
		return a.EndsAt.Compare(b.EndsAt)
	})
	return out
}

// Mutes returns the IDs of the active silences that match ls.
func (s *Silences) Mutes(ls model.LabelSet, now time.Time) []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for id, sil := range s.m {
		if sil.State(now) == SilenceActive && matches(sil.ms, ls) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

// GC forgets the silences that expired more than the retention ago.
func (s *Silences) GC() error {
	cut := s.now().Add(-s.retention)
	s.mu.Lock()
	defer s.mu.Unlock()
	var gone []string
	for id, sil := range s.m {
		if sil.EndsAt.Before(cut) {
			gone = append(gone, id)
			delete(s.m, id)
		}
	}
	if s.db == nil || len(gone) == 0 {
		return nil
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(silenceBucket))
		for _, id := range gone {
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
		}
		return nil
	})
}
