package dashboards

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.etcd.io/bbolt"
)

// Provision loads the provisioned dashboards: every *.json file under dir
// and its subdirectories, read-only. They replace those provisioned
// before; dir "" removes them all. A file that does not load is skipped
// and the others load, as Grafana's provisioning does; the returned error
// names every skipped file and why, one per line. A dir that cannot be
// read keeps the dashboards provisioned before.
//
// A file's uid is its own, or, when it has none, its file name without
// .json (made a valid uid), so that it stays the same across reloads. A
// uid of a built-in dashboard, or of another provisioned file, is refused;
// a user dashboard with the uid is hidden while the file provides it,
// and kept.
func (s *Store) Provision(dir string) error {
	var files []string
	if dir != "" {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".json") {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("dashboards.dir %s: %w", dir, err)
		}
	}
	slices.Sort(files)

	next := map[string]Entry{}
	var errs []error
	for _, f := range files {
		e, err := s.loadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f, err))
			continue
		}
		uid := e.Meta.UID
		if _, ok := s.builtin[uid]; ok {
			errs = append(errs, fmt.Errorf("%s: uid %q is the built-in dashboard's; give the file another uid", f, uid))
			continue
		}
		if prev, ok := next[uid]; ok {
			errs = append(errs, fmt.Errorf("%s: uid %q is already the uid of %s; give one of them another uid", f, uid, prev.Meta.File))
			continue
		}
		next[uid] = e
	}

	s.mu.Lock()
	s.provisioned = next
	s.mu.Unlock()
	s.warnHidden(next)
	if len(files) > 0 || dir != "" {
		s.log.Info("dashboards provisioned", "dir", dir, "loaded", len(next), "failed", len(errs))
	}
	if len(errs) > 0 {
		err := errors.Join(errs...)
		s.log.Error("provisioned dashboards skipped", "err", err)
		return fmt.Errorf("dashboards.dir %s: %d of %d files not loaded:\n%w", dir, len(errs), len(files), err)
	}
	return nil
}

// loadFile reads one provisioned dashboard.
func (s *Store) loadFile(path string) (Entry, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Entry{}, fmt.Errorf("cannot read the file: %w", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return Entry{}, err
	}
	// A file exported from Grafana's API has the dashboard under
	// "dashboard", as an import body does.
	inner, _, err := DecodeImport(raw)
	if err != nil {
		return Entry{}, err
	}
	d, err := Parse(inner, s.parser)
	if err != nil {
		return Entry{}, err
	}
	if d.UID == "" {
		uid := uidFromFileName(path)
		if err := CheckUID(uid); err != nil {
			return Entry{}, fmt.Errorf("the dashboard has no uid and the file name does not make one (%v); give it a uid", err)
		}
		if d, err = d.SetUID(uid); err != nil {
			return Entry{}, err
		}
	}
	mtime := info.ModTime().UTC()
	return Entry{Dashboard: d, Meta: Meta{UID: d.UID, Source: SourceProvisioned, ReadOnly: true, Created: mtime, Updated: mtime, File: path}}, nil
}

var notUIDChars = regexp.MustCompile(`[^a-zA-Z0-9_-]+`)

// uidFromFileName makes a uid of a file's name: "Panic overview.json"
// gives "Panic-overview".
func uidFromFileName(path string) string {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	uid := strings.Trim(notUIDChars.ReplaceAllString(name, "-"), "-")
	if len(uid) > MaxUIDLength {
		uid = uid[:MaxUIDLength]
	}
	return uid
}

// warnHidden logs the user dashboards that provisioned ones hide.
func (s *Store) warnHidden(provisioned map[string]Entry) {
	_ = s.db.View(func(tx *bbolt.Tx) error {
		for uid, e := range provisioned {
			if tx.Bucket(bucket).Get([]byte(uid)) != nil {
				s.log.Warn("a provisioned dashboard hides the user dashboard of the same uid; the user dashboard is kept and shows again when the file goes", "uid", uid, "file", e.Meta.File)
			}
		}
		return nil
	})
}
