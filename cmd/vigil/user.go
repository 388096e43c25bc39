package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/vigil-monitoring/vigil/appliance"
	"github.com/vigil-monitoring/vigil/web/auth"
)

const userUsage = `Usage:
  vigil user add NAME --role=viewer|writer|admin [--password-file=FILE]
  vigil user passwd NAME [--password-file=FILE]
  vigil user role NAME --role=viewer|writer|admin
  vigil user del NAME
  vigil user list
  vigil user token create NAME --name=CLIENT [--role=ROLE] [--expires=DURATION]
  vigil user token list [NAME]
  vigil user token revoke ID

Manage the users and API tokens of a stopped Vigil. Every command takes
--data-dir=DIR (default ./vigil-data), or --config=FILE to use that file's
data_dir. While Vigil runs, its data directory is locked: use the admin API
at /api/v1/admin/users instead (or stop Vigil).

Roles: viewer reads (queries, dashboards), writer ingests only, admin does
everything. A token has its user's role, or the narrower --role given.

A new password comes from --password-file (trailing newline removed), else
is typed twice on a terminal, else is the first line of standard input.
It needs at least 8 characters.

token create prints the token's secret, and only that, on standard output,
once: it cannot be shown again. Clients send it as "Authorization: Bearer
SECRET", or as the password of basic auth with any user name.

Exit codes: 0 success, 1 failure, 2 usage error.
`

// userCmd is one run of `vigil user ...`.
type userCmd struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	dataDir, configFile string
	store               *auth.Store
}

// errUsage marks an error in the command line: exit code 2.
var errUsage = errors.New("usage error")

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// runUser is `vigil user`.
func runUser(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	c := &userCmd{stdin: stdin, stdout: stdout, stderr: stderr}
	err := c.run(args)
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, userUsage)
		return exitOK
	case errors.Is(err, errUsage):
		msg := strings.TrimPrefix(err.Error(), errUsage.Error()+": ")
		fmt.Fprintf(stderr, "vigil user: %s\nRun 'vigil user --help' for the commands.\n", msg)
		return exitUsage
	case errors.Is(err, auth.ErrInvalidInput):
		printLines(stderr, "vigil user: ", err)
		return exitUsage
	}
	printLines(stderr, "vigil user: ", err)
	return exitFailure
}

func (c *userCmd) run(args []string) error {
	if len(args) == 0 {
		return usageErrorf("say what to do: add, passwd, role, del, list or token")
	}
	if isHelp(args[0]) {
		return flag.ErrHelp
	}
	switch sub, rest := args[0], args[1:]; sub {
	case "add":
		return c.add(rest)
	case "passwd":
		return c.passwd(rest)
	case "role":
		return c.role(rest)
	case "del", "delete", "rm":
		return c.del(rest)
	case "list", "ls":
		return c.list(rest)
	case "token":
		if len(rest) == 0 {
			return usageErrorf("say what to do with tokens: create, list or revoke")
		}
		if isHelp(rest[0]) {
			return flag.ErrHelp
		}
		switch sub, rest := rest[0], rest[1:]; sub {
		case "create":
			return c.tokenCreate(rest)
		case "list", "ls":
			return c.tokenList(rest)
		case "revoke":
			return c.tokenRevoke(rest)
		default:
			return usageErrorf("unknown token command %q; want create, list or revoke", sub)
		}
	default:
		return usageErrorf("unknown command %q; want add, passwd, role, del, list or token", sub)
	}
}

// flags returns a flag set with the data directory flags every command
// takes.
func (c *userCmd) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.dataDir, "data-dir", "", "")
	fs.StringVar(&c.configFile, "config", "", "")
	return fs
}

// parse parses args, flags and positional arguments in any order, and
// checks the number of positional arguments: between min and max.
func parse(fs *flag.FlagSet, args []string, min, max int, what string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageErrorf("%v", flagError(err))
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			pos = append(pos, args[1:]...)
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	switch {
	case len(pos) < min:
		return nil, usageErrorf("%s: missing %s", fs.Name(), what)
	case len(pos) > max:
		return nil, usageErrorf("%s: unexpected argument %q", fs.Name(), pos[max])
	}
	return pos, nil
}

// flagError rewords the flag package's messages in --flag terms.
func flagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: "); ok {
		return "unknown flag --" + strings.TrimLeft(name, "-")
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: "); ok {
		name = strings.TrimLeft(name, "-")
		return fmt.Sprintf("--%s needs a value, e.g. --%s=VALUE", name, name)
	}
	return strings.Replace(msg, " for flag -", " for --", 1)
}

// open opens the user store of the data directory, which must exist and
// must not be in use by a running Vigil. The returned function closes it.
func (c *userCmd) open() (func(), error) {
	dir := c.dataDir
	if dir == "" && c.configFile != "" {
		cfg, err := appliance.LoadFile(c.configFile)
		if err != nil {
			return nil, err
		}
		dir = cfg.DataDir
	}
	if dir == "" {
		dir = appliance.DefaultConfig().DataDir
	}
	st, err := appliance.OpenOfflineState(dir)
	if err != nil {
		return nil, err
	}
	c.store, err = auth.Open(st.DB, auth.Options{})
	if err != nil {
		st.Close()
		return nil, err
	}
	return func() {
		if err := st.Close(); err != nil {
			fmt.Fprintf(c.stderr, "vigil user: closing the state file: %v\n", err)
		}
	}, nil
}

func parseRole(s string) (auth.Role, error) {
	r, err := auth.ParseRole(s)
	if err != nil {
		return "", usageErrorf("--role=%s: unknown role; want viewer, writer or admin", s)
	}
	return r, nil
}

func (c *userCmd) add(args []string) error {
	fs := c.flags("add")
	role := fs.String("role", "", "")
	passwordFile := fs.String("password-file", "", "")
	pos, err := parse(fs, args, 1, 1, "the user NAME")
	if err != nil {
		return err
	}
	if *role == "" {
		return usageErrorf("add: --role=viewer|writer|admin is required")
	}
	r, err := parseRole(*role)
	if err != nil {
		return err
	}
	name := pos[0]
	if err := auth.ValidateName(name); err != nil {
		return err
	}
	closeStore, err := c.open()
	if err != nil {
		return err
	}
	defer closeStore()
	if _, err := c.store.GetUser(name); err == nil {
		return fmt.Errorf("user %q already exists; change its password with 'vigil user passwd %s'", name, name)
	}
	password, err := c.newPassword(*passwordFile, name)
	if err != nil {
		return err
	}
	if err := c.store.AddUser(name, password, r); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Created user %s with role %s.\n", name, r)
	return nil
}

func (c *userCmd) passwd(args []string) error {
	fs := c.flags("passwd")
	passwordFile := fs.String("password-file", "", "")
	pos, err := parse(fs, args, 1, 1, "the user NAME")
	if err != nil {
		return err
	}
	name := pos[0]
	closeStore, err := c.open()
	if err != nil {
		return err
	}
	defer closeStore()
	if _, err := c.store.GetUser(name); err != nil {
		return noSuchUser(err, name)
	}
	password, err := c.newPassword(*passwordFile, name)
	if err != nil {
		return err
	}
	if err := c.store.SetPassword(name, password); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Changed the password of %s; its browser sessions have ended.\n", name)
	return nil
}

func (c *userCmd) role(args []string) error {
	fs := c.flags("role")
	role := fs.String("role", "", "")
	pos, err := parse(fs, args, 1, 1, "the user NAME")
	if err != nil {
		return err
	}
	if *role == "" {
		return usageErrorf("role: --role=viewer|writer|admin is required")
	}
	r, err := parseRole(*role)
	if err != nil {
		return err
	}
	closeStore, err := c.open()
	if err != nil {
		return err
	}
	defer closeStore()
	if err := c.store.SetRole(pos[0], r); err != nil {
		return noSuchUser(err, pos[0])
	}
	fmt.Fprintf(c.stderr, "User %s now has role %s; its tokens are limited to it.\n", pos[0], r)
	return nil
}

func (c *userCmd) del(args []string) error {
	fs := c.flags("del")
	pos, err := parse(fs, args, 1, 1, "the user NAME")
	if err != nil {
		return err
	}
	closeStore, err := c.open()
	if err != nil {
		return err
	}
	defer closeStore()
	if err := c.store.DeleteUser(pos[0]); err != nil {
		return noSuchUser(err, pos[0])
	}
	fmt.Fprintf(c.stderr, "Deleted user %s with its tokens and sessions.\n", pos[0])
	return nil
}

func (c *userCmd) list(args []string) error {
	fs := c.flags("list")
	if _, err := parse(fs, args, 0, 0, ""); err != nil {
		return err
	}
	closeStore, err := c.open()
	if err != nil {
		return err
	}
	defer closeStore()
	users, err := c.store.ListUsers()
	if err != nil {
		return err
	}
	tokens, err := c.store.ListTokens("")
	if err != nil {
		return err
	}
	perUser := map[string]int{}
	for _, t := range tokens {
		perUser[t.User]++
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tROLE\tTOKENS\tCREATED\tUPDATED")
	for _, u := range users {
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\n", u.Name, u.Role, perUser[u.Name], formatTime(u.CreatedAt), formatTime(u.UpdatedAt))
	}
	return w.Flush()
}

func (c *userCmd) tokenCreate(args []string) error {
	fs := c.flags("token create")
	name := fs.String("name", "", "")
	role := fs.String("role", "", "")
	expires := fs.String("expires", "", "")
	pos, err := parse(fs, args, 1, 1, "the user NAME whose token it is")
	if err != nil {
		return err
	}
	if strings.TrimSpace(*name) == "" {
		return usageErrorf("token create: --name=CLIENT is required, e.g. --name=grafana")
	}
	var opts auth.TokenOptions
	if *role != "" {
		if opts.Role, err = parseRole(*role); err != nil {
			return err
		}
	}
	if *expires != "" {
		d, err := appliance.ParseDuration(*expires)
		if err != nil || d <= 0 {
			return usageErrorf("--expires=%s: want a positive duration such as 90d or 1y", *expires)
		}
		opts.ExpiresAt = time.Now().Add(d.Std())
	}
	closeStore, err := c.open()
	if err != nil {
		return err
	}
	defer closeStore()
	secret, tok, err := c.store.CreateToken(pos[0], *name, opts)
	if err != nil {
		return noSuchUser(err, pos[0])
	}
	tokRole := string(tok.Role)
	if tokRole == "" {
		tokRole = "the user's"
	}
	fmt.Fprintf(c.stderr, "Created token %s (%q) for user %s with %s role. Its secret follows, shown only this once:\n", tok.ID, tok.Name, tok.User, tokRole)
	fmt.Fprintln(c.stdout, secret)
	return nil
}

func (c *userCmd) tokenList(args []string) error {
	fs := c.flags("token list")
	pos, err := parse(fs, args, 0, 1, "")
	if err != nil {
		return err
	}
	closeStore, err := c.open()
	if err != nil {
		return err
	}
	defer closeStore()
	user := ""
	if len(pos) == 1 {
		user = pos[0]
		if _, err := c.store.GetUser(user); err != nil {
			return noSuchUser(err, user)
		}
	}
	tokens, err := c.store.ListTokens(user)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tUSER\tNAME\tROLE\tCREATED\tEXPIRES\tLAST USED")
	for _, t := range tokens {
		role := string(t.Role)
		if role == "" {
			role = "(user's)"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.User, t.Name, role,
			formatTime(t.CreatedAt), formatTime(t.ExpiresAt), formatTime(t.LastUsed))
	}
	return w.Flush()
}

func (c *userCmd) tokenRevoke(args []string) error {
	fs := c.flags("token revoke")
	pos, err := parse(fs, args, 1, 1, "the token ID (see 'vigil user token list')")
	if err != nil {
		return err
	}
	closeStore, err := c.open()
	if err != nil {
		return err
	}
	defer closeStore()
	tok, err := c.store.GetToken(pos[0])
	if err == nil {
		err = c.store.RevokeToken(tok.ID)
	}
	if errors.Is(err, auth.ErrTokenNotFound) {
		return fmt.Errorf("no token with ID %q; 'vigil user token list' shows the IDs", pos[0])
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "Revoked token %s (%q) of user %s.\n", tok.ID, tok.Name, tok.User)
	return nil
}

// noSuchUser rewords ErrUserNotFound with what to do.
func noSuchUser(err error, name string) error {
	if errors.Is(err, auth.ErrUserNotFound) {
		return fmt.Errorf("no user %q; 'vigil user list' shows the users", name)
	}
	return err
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// newPassword reads the new password of user: from file, else typed twice
// on the terminal, else the first line of standard input.
func (c *userCmd) newPassword(file, user string) (string, error) {
	if file != "" {
		return auth.ReadPasswordFile(file)
	}
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(c.stderr, "New password for %s: ", user)
		first, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		fmt.Fprintf(c.stderr, "Retype it: ")
		second, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if string(first) != string(second) {
			return "", errors.New("the two passwords differ; nothing was changed")
		}
		if len(first) == 0 {
			return "", fmt.Errorf("%w: the password is empty", auth.ErrInvalidInput)
		}
		return string(first), nil
	}
	line, err := bufio.NewReader(c.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from standard input: %w", err)
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", usageErrorf("no password: pass --password-file=FILE, type it on a terminal, or write it to standard input")
	}
	return line, nil
}
