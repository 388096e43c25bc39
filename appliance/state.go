package appliance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/vigil-monitoring/vigil/web/auth"
)

// StateFileName is the bbolt file in the data directory that holds what
// must outlive a restart besides the samples: users, API tokens and
// sessions today; alert state, silences, the notification log and
// dashboards as those capabilities land, each in its own buckets.
const StateFileName = "state.db"

// stateOpenTimeout is how long opening the state file waits for bbolt's
// own file lock. The data directory lock is taken first, so a wait here
// means a process that is not Vigil (a bbolt tool, a copy) holds the file.
const stateOpenTimeout = 2 * time.Second

// Errors of OpenOfflineState, for errors.Is.
var (
	// ErrDataDirInUse: a running Vigil holds the data directory.
	ErrDataDirInUse = errors.New("the data directory is in use by a running Vigil")
	// ErrNoState: the data directory has no state file yet.
	ErrNoState = errors.New("no Vigil state in the data directory")
)

// stateError is an error of OpenOfflineState: its message says what to do,
// errors.Is finds its kind.
type stateError struct {
	kind error
	msg  string
}

func (e *stateError) Error() string { return e.msg }
func (e *stateError) Unwrap() error { return e.kind }

// openState opens (creating if needed) the state file of dir. The caller
// holds the data directory lock and closes the DB.
func openState(dir string) (*bbolt.DB, error) {
	path := filepath.Join(dir, StateFileName)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: stateOpenTimeout})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("cannot open the state file %s: another process has held it locked for %s; stop that process (is a bbolt tool or a backup reading it?)", path, stateOpenTimeout)
		}
		return nil, fmt.Errorf("cannot open the state file %s: %w", path, err)
	}
	return db, nil
}

// OfflineState is the state file of a data directory whose Vigil is
// stopped, opened by maintenance commands such as `vigil user`. It holds
// the data directory lock until Close, so Vigil cannot start on the
// directory meanwhile.
type OfflineState struct {
	DB     *bbolt.DB
	unlock func()
}

// OpenOfflineState opens the state file of an existing data directory for
// a maintenance command. It fails with ErrDataDirInUse while Vigil runs on
// dir and with ErrNoState when dir holds no state file; it never creates
// the directory, so a mistyped --data-dir is an error rather than a new,
// empty Vigil.
func OpenOfflineState(dir string) (*OfflineState, error) {
	path := filepath.Join(dir, StateFileName)
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &stateError{ErrNoState, fmt.Sprintf("no Vigil state in %s (%s does not exist); pass the --data-dir of an existing Vigil, or start Vigil once on this directory", dir, path)}
		}
		return nil, fmt.Errorf("cannot read the state file: %w", err)
	}
	lockPath := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("cannot open the lock file %s: %w", lockPath, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, &stateError{ErrDataDirInUse, fmt.Sprintf("Vigil is running with this data dir (%s); stop it or use the admin API at /api/v1/admin/users", dir)}
		}
		return nil, fmt.Errorf("cannot lock %s: %w", lockPath, err)
	}
	db, err := openState(dir)
	if err != nil {
		f.Close()
		return nil, err
	}
	return &OfflineState{DB: db, unlock: func() { f.Close() }}, nil
}

// Close closes the state file and releases the data directory.
func (s *OfflineState) Close() error {
	err := s.DB.Close()
	s.unlock()
	return err
}

// openAuth opens the user store over the state file and prepares the
// first admin when authentication is on. It returns the line to print
// after the address (see AuthNotice).
func openAuth(cfg Config, db *bbolt.DB) (*auth.Store, string, error) {
	disabled := cfg.Auth == AuthNone
	users, err := auth.Open(db, auth.Options{Disabled: disabled})
	if err != nil {
		return nil, "", fmt.Errorf("cannot open the user store: %w", err)
	}
	if disabled {
		return users, "Authentication is OFF (--auth=none): every endpoint is open to anyone who can reach this address. Run without --auth=none to require logins.", nil
	}
	var fromFile string
	if cfg.AdminPasswordFile != "" {
		if fromFile, err = auth.ReadPasswordFile(cfg.AdminPasswordFile); err == nil {
			err = auth.ValidatePassword(fromFile)
		}
		if err != nil {
			return nil, "", fmt.Errorf("--admin-password-file=%s: %w", cfg.AdminPasswordFile, err)
		}
	}
	generated, created, err := users.EnsureAdmin(fromFile)
	if err != nil {
		return nil, "", fmt.Errorf("cannot prepare the admin user: %w", err)
	}
	switch {
	case generated != "":
		return users, fmt.Sprintf("First start: log in as %s with password %s (shown once; change it with \"vigil user passwd %s\")", auth.AdminUser, generated, auth.AdminUser), nil
	case created:
		return users, fmt.Sprintf("First start: created user %s with the password from --admin-password-file", auth.AdminUser), nil
	}
	return users, "", nil
}
