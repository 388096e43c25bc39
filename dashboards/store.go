package dashboards

import (
	"bytes"
	"cmp"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"go.etcd.io/bbolt"
)

// Source says where a dashboard comes from, which decides whether it can
// be changed through the API and which one wins when two share a uid:
// built-in over provisioned over user.
type Source string

// The sources of dashboards.
const (
	// SourceBuiltin dashboards are embedded in the binary; read-only.
	SourceBuiltin Source = "builtin"
	// SourceProvisioned dashboards are files of the dashboards directory
	// of the config (dashboards.dir); read-only, reloaded with the config.
	SourceProvisioned Source = "provisioned"
	// SourceUser dashboards were imported or saved through the API and
	// live in the state file.
	SourceUser Source = "user"
)

// Errors of the Store, for errors.Is. Invalid dashboards are
// *ValidationError (see IsInvalid).
var (
	ErrNotFound = errors.New("no dashboard with uid")
	ErrReadOnly = errors.New("the dashboard is read-only")
	ErrExists   = errors.New("a dashboard with this uid exists")
)

// Summary is a dashboard as the list shows it.
type Summary struct {
	UID      string
	Title    string
	Tags     []string
	Source   Source
	ReadOnly bool
}

// Meta is what the store knows of a dashboard besides its JSON. Built-in
// dashboards date from the start of the store, provisioned ones from their
// file's modification time.
type Meta struct {
	UID      string
	Source   Source
	ReadOnly bool
	Created  time.Time
	Updated  time.Time
	// File is the provisioned dashboard's file; empty for the others.
	File string
}

// Entry is a stored dashboard and its meta.
type Entry struct {
	Dashboard *Dashboard
	Meta      Meta
}

// ListFilter narrows List: Query is a case-insensitive substring of the
// title; every tag of Tags must be among the dashboard's tags.
type ListFilter struct {
	Query string
	Tags  []string
}

// bucket is the state file's bucket of user dashboards: key the uid, value
// a JSON header line (recordHeader) and the dashboard's JSON as it was
// imported, byte for byte.
var bucket = []byte("dashboards")

type recordHeader struct {
	Title   string    `json:"title"`
	Tags    []string  `json:"tags"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// Options configure a Store.
type Options struct {
	// DB is the shared bbolt state file; the store keeps user dashboards
	// in its bucket "dashboards".
	DB *bbolt.DB
	// Parser checks the panels' PromQL; nil uses the default parser.
	Parser parser.Parser
	// Now is the clock; nil is time.Now.
	Now    func() time.Time
	Logger *slog.Logger
}

// Store holds the built-in, provisioned and user dashboards. It is safe
// for concurrent use.
type Store struct {
	db     *bbolt.DB
	parser parser.Parser
	now    func() time.Time
	log    *slog.Logger

	builtin map[string]Entry

	mu          sync.RWMutex // guards provisioned and serializes writes
	provisioned map[string]Entry
}

// Open prepares the store over opts.DB and loads the built-in dashboards.
func Open(opts Options) (*Store, error) {
	s := &Store{db: opts.DB, parser: opts.Parser, now: opts.Now, log: opts.Logger}
	if s.parser == nil {
		s.parser = parser.NewParser(parser.Options{})
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := s.db.Update(func(tx *bbolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	}); err != nil {
		return nil, fmt.Errorf("dashboards: cannot create the bucket in the state file: %w", err)
	}
	var err error
	if s.builtin, err = loadBuiltin(s.parser, s.now()); err != nil {
		return nil, err
	}
	return s, nil
}

// List returns the dashboards that match f, sorted by title. A user
// dashboard whose uid a built-in or provisioned one has is hidden (and
// kept): the read-only one wins.
func (s *Store) List(f ListFilter) ([]Summary, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Summary
	for _, e := range s.builtin {
		out = append(out, summaryOf(e))
	}
	for uid, e := range s.provisioned {
		if _, shadowed := s.builtin[uid]; !shadowed {
			out = append(out, summaryOf(e))
		}
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(k, v []byte) error {
			uid := string(k)
			if s.readOnlyLocked(uid) {
				return nil
			}
			h, _, err := splitRecord(v)
			if err != nil {
				return fmt.Errorf("dashboard %s: %w", uid, err)
			}
			out = append(out, Summary{UID: uid, Title: h.Title, Tags: h.Tags, Source: SourceUser})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("dashboards: cannot read the state file: %w", err)
	}
	out = slices.DeleteFunc(out, func(sm Summary) bool { return !f.matches(sm) })
	slices.SortFunc(out, func(a, b Summary) int {
		return cmp.Or(cmp.Compare(strings.ToLower(a.Title), strings.ToLower(b.Title)), cmp.Compare(a.UID, b.UID))
	})
	return out, nil
}

func summaryOf(e Entry) Summary {
	return Summary{UID: e.Meta.UID, Title: e.Dashboard.Title, Tags: e.Dashboard.Tags, Source: e.Meta.Source, ReadOnly: e.Meta.ReadOnly}
}

func (f ListFilter) matches(s Summary) bool {
	if f.Query != "" && !strings.Contains(strings.ToLower(s.Title), strings.ToLower(f.Query)) {
		return false
	}
	for _, t := range f.Tags {
		if !slices.Contains(s.Tags, t) {
			return false
		}
	}
	return true
}

// Get returns the dashboard of uid, or ErrNotFound.
func (s *Store) Get(uid string) (Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.builtin[uid]; ok {
		return e, nil
	}
	if e, ok := s.provisioned[uid]; ok {
		return e, nil
	}
	var e Entry
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucket).Get([]byte(uid))
		if v == nil {
			return fmt.Errorf("%w %q", ErrNotFound, uid)
		}
		h, raw, err := splitRecord(v)
		if err != nil {
			return fmt.Errorf("dashboard %s in the state file: %w", uid, err)
		}
		// bbolt's bytes are valid only inside the transaction. It was
		// validated when stored; it is not validated again, so that a
		// stricter Vigil still serves (and exports) what it once took.
		d, err := view(bytes.Clone(raw))
		if err != nil {
			return fmt.Errorf("dashboard %s in the state file: %w", uid, err)
		}
		e = Entry{Dashboard: d, Meta: Meta{UID: uid, Source: SourceUser, Created: h.Created, Updated: h.Updated}}
		return nil
	})
	return e, err
}

// Import stores a user dashboard from its JSON: a new one, or, with
// overwrite, over the user dashboard of the same uid. A dashboard without
// a uid gets a new one. It returns the uid, ErrExists when the uid is taken
// and overwrite is false, ErrReadOnly when a built-in or provisioned
// dashboard has the uid, or a *ValidationError.
func (s *Store) Import(raw []byte, overwrite bool) (string, error) {
	d, err := Parse(raw, s.parser)
	if err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.UID == "" {
		if d, err = s.withNewUID(d); err != nil {
			return "", err
		}
	}
	if s.readOnlyLocked(d.UID) {
		return "", fmt.Errorf("%w: %s is a %s dashboard; import it under another uid", ErrReadOnly, d.UID, s.readOnlyKind(d.UID))
	}
	return d.UID, s.put(d, func(exists bool) error {
		if exists && !overwrite {
			return fmt.Errorf("%w: %s; send overwrite: true to replace it, or give the dashboard another uid", ErrExists, d.UID)
		}
		return nil
	})
}

// Replace replaces the user dashboard uid with raw, whose uid must be uid
// or empty. It returns ErrNotFound when there is no such dashboard.
func (s *Store) Replace(uid string, raw []byte) error {
	d, err := Parse(raw, s.parser)
	if err != nil {
		return err
	}
	switch d.UID {
	case uid:
	case "":
		if d, err = d.SetUID(uid); err != nil {
			return err
		}
	default:
		return invalid("uid", "%q differs from the uid in the path, %q; leave it out or make them equal (import a copy with POST to change the uid)", d.UID, uid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readOnlyLocked(uid) {
		return fmt.Errorf("%w: %s is a %s dashboard; import a copy under another uid to change it", ErrReadOnly, uid, s.readOnlyKind(uid))
	}
	return s.put(d, func(exists bool) error {
		if !exists {
			return fmt.Errorf("%w %q; import it with POST /api/v1/dashboards", ErrNotFound, uid)
		}
		return nil
	})
}

// put writes d to the bucket after check approves, keeping the creation
// time of the dashboard it replaces. s.mu is held.
func (s *Store) put(d *Dashboard, check func(exists bool) error) error {
	now := s.now().UTC()
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		h := recordHeader{Title: d.Title, Tags: d.Tags, Created: now, Updated: now}
		old := b.Get([]byte(d.UID))
		if err := check(old != nil); err != nil {
			return err
		}
		if old != nil {
			if oh, _, err := splitRecord(old); err == nil {
				h.Created = oh.Created
			}
		}
		head, err := json.Marshal(h)
		if err != nil {
			return err
		}
		v := make([]byte, 0, len(head)+1+len(d.JSON()))
		v = append(append(append(v, head...), '\n'), d.JSON()...)
		if err := b.Put([]byte(d.UID), v); err != nil {
			return fmt.Errorf("dashboards: cannot write to the state file: %w", err)
		}
		return nil
	})
}

// Delete removes the user dashboard uid.
func (s *Store) Delete(uid string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.readOnlyLocked(uid) {
		return fmt.Errorf("%w: %s is a %s dashboard and cannot be deleted", ErrReadOnly, uid, s.readOnlyKind(uid))
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bucket)
		if b.Get([]byte(uid)) == nil {
			return fmt.Errorf("%w %q", ErrNotFound, uid)
		}
		return b.Delete([]byte(uid))
	})
}

// readOnlyLocked reports whether a built-in or provisioned dashboard has
// uid. s.mu is held.
func (s *Store) readOnlyLocked(uid string) bool {
	_, b := s.builtin[uid]
	_, p := s.provisioned[uid]
	return b || p
}

// readOnlyKind words the source of a read-only uid for messages. s.mu is
// held.
func (s *Store) readOnlyKind(uid string) string {
	if _, ok := s.builtin[uid]; ok {
		return "built-in"
	}
	return "provisioned"
}

// withNewUID gives d a uid that no dashboard has. s.mu is held.
func (s *Store) withNewUID(d *Dashboard) (*Dashboard, error) {
	for {
		uid := newUID()
		if s.readOnlyLocked(uid) {
			continue
		}
		var taken bool
		if err := s.db.View(func(tx *bbolt.Tx) error {
			taken = tx.Bucket(bucket).Get([]byte(uid)) != nil
			return nil
		}); err != nil {
			return nil, err
		}
		if !taken {
			return d.SetUID(uid)
		}
	}
}

// newUID makes a uid as Grafana makes them: 14 lower-case letters and
// digits, starting with a letter.
func newUID() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	const alnum = letters + "0123456789"
	b := make([]byte, 14)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	for i := range b {
		set := alnum
		if i == 0 {
			set = letters
		}
		b[i] = set[int(b[i])%len(set)]
	}
	return string(b)
}

// splitRecord splits a bucket value into its header and the dashboard's
// JSON. The returned slice aliases v.
func splitRecord(v []byte) (recordHeader, []byte, error) {
	var h recordHeader
	head, raw, ok := bytes.Cut(v, []byte("\n"))
	if !ok {
		return h, nil, errors.New("a damaged record (no header line)")
	}
	if err := json.Unmarshal(head, &h); err != nil {
		return h, nil, fmt.Errorf("a damaged record header: %w", err)
	}
	return h, raw, nil
}
