// Command strata is the command line of strata, compatible with
// rpm-ostree's: same subcommands, options, output layout and exit codes.
// Installed (or linked) as "rpm-ostree" it behaves identically, naming
// itself rpm-ostree in messages.
//
// It owns argument parsing, output formatting (status, progress) and exit
// codes. It talks to the daemon only through package client and must never
// link libostree or any cgo package of ours: it reads no repository or
// sysroot itself.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"unicode/utf8"
	"unsafe"

	"github.com/strata-os/strata/client"
)

// version is the CLI's version; a variable only so that release builds can
// set it with -ldflags "-X main.version=…".
var version = "0.1.0"

// Exit codes, as rpm-ostree uses them.
const (
	exitOK        = 0
	exitFailure   = 1
	exitUnchanged = 77 // nothing to do (upgrade --check finds no update, …)
)

// defaultClientID is the RegisterClient id, the same as rpm-ostree's CLI so
// that daemon logic keyed on it (e.g. update drivers) treats us alike.
const defaultClientID = "cli"

// app is one invocation: where output goes, how the terminal looks, and how
// to reach the daemon. Tests build one with buffers.
type app struct {
	prog    string // "strata" or "rpm-ostree", for messages
	stdout  io.Writer
	stderr  io.Writer
	tty     bool // stdout is a terminal: draw progress bars, bold text
	columns int  // terminal width, for wrapping package lists
	cmdline string
	quiet   bool // -q: show no transaction progress, only the outcome
	// connect reaches the daemon; replaced in tests that need no daemon.
	connect func(ctx context.Context) (*client.Client, error)
	// connectReader reaches the daemon without registering as a client,
	// for commands that only read (status); nil means connect.
	connectReader func(ctx context.Context) (*client.Client, error)
}

// reader connects for a read-only command.
func (a *app) reader(ctx context.Context) (*client.Client, error) {
	if a.connectReader != nil {
		return a.connectReader(ctx)
	}
	return a.connect(ctx)
}

func main() {
	a := &app{
		prog:    progName(os.Args[0]),
		stdout:  os.Stdout,
		stderr:  os.Stderr,
		tty:     isTerminal(os.Stdout),
		columns: terminalColumns(os.Stdout),
		cmdline: shellJoin(os.Args[1:]),
	}
	clientID := os.Getenv("RPMOSTREE_CLIENT_ID")
	if clientID == "" {
		clientID = defaultClientID
	}
	a.connect = func(ctx context.Context) (*client.Client, error) { return client.Connect(ctx, clientID) }
	a.connectReader = client.ConnectReader

	// First Ctrl-C cancels the context (a running transaction is then
	// cancelled and awaited); a second one exits at once.
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sigs
		cancel()
		<-sigs
		fmt.Fprintln(a.stderr, "error: Interrupted")
		os.Exit(exitFailure)
	}()
	code := a.run(ctx, os.Args[1:])
	cancel()
	os.Exit(code)
}

// progName is how we call ourselves: "rpm-ostree" when invoked under that
// name, "strata" otherwise.
func progName(argv0 string) string {
	if filepath.Base(argv0) == "rpm-ostree" {
		return "rpm-ostree"
	}
	return "strata"
}

// run executes one command line and returns the exit code.
func (a *app) run(ctx context.Context, argv []string) int {
	for _, arg := range argv {
		if !utf8.ValidString(arg) {
			// rpm-ostree's words; D-Bus strings must be UTF-8 anyway.
			return a.fail(errors.New("Argument is invalid UTF-8"))
		}
	}
	name, rest := splitCommand(argv)
	if name == "" {
		return a.runTopLevel(rest)
	}
	cmd := lookupCommand(name)
	if cmd == nil {
		if sub, _ := splitCommand(rest); name == "ex" && containerOnly[sub] {
			return a.fail(errors.New("This command can only run in an OSTree container."))
		}
		if notImplemented[name] {
			return a.fail(fmt.Errorf("%s: %q is not implemented yet", a.prog, name))
		}
		a.printTopHelp(a.stderr)
		return a.fail(fmt.Errorf("Unknown command '%s'", name))
	}
	if len(cmd.subcommands) > 0 {
		sub, subArgs, code, done := a.pickSubcommand(cmd, rest)
		if done {
			return code
		}
		cmd, rest = sub, subArgs
	}
	opts := append(append([]option{}, cmd.opts...), globalOptions...)
	p, err := parseOptions(opts, rest)
	if err != nil {
		a.printCommandHelp(a.stderr, cmd)
		return a.fail(err)
	}
	if p.flag("help") {
		a.printCommandHelp(a.stdout, cmd)
		return exitOK
	}
	if p.flag("version") {
		a.printVersion()
		return exitOK
	}
	a.quiet = p.flag("quiet")
	code, err := cmd.run(ctx, a, p)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			a.printCommandHelp(a.stderr, cmd)
			return a.fail(fmt.Errorf("usage error: %s", ue.msg))
		}
		return a.fail(err)
	}
	return code
}

// pickSubcommand finds the subcommand of a command group ("override
// remove"); done means the invocation ended here with code.
func (a *app) pickSubcommand(group *command, argv []string) (sub *command, rest []string, code int, done bool) {
	name, rest := splitCommand(argv)
	if name == "" {
		for _, x := range argv {
			if x == "-h" || x == "--help" {
				a.printGroupHelp(a.stdout, group)
				return nil, nil, exitOK, true
			}
		}
		a.printGroupHelp(a.stderr, group)
		return nil, nil, a.fail(fmt.Errorf("No \"%s\" subcommand specified", group.name)), true
	}
	for _, s := range group.subcommands {
		if s.name == name {
			return s, rest, 0, false
		}
	}
	a.printGroupHelp(a.stderr, group)
	return nil, nil, a.fail(fmt.Errorf("Unknown \"%s\" subcommand \"%s\"", group.name, name)), true
}

func (a *app) runTopLevel(argv []string) int {
	p, err := parseOptions(globalOptions, argv)
	switch {
	case err != nil:
		a.printTopHelp(a.stderr)
		return a.fail(err)
	case p.flag("version"):
		a.printVersion()
		return exitOK
	case p.flag("help"):
		a.printTopHelp(a.stdout)
		return exitOK
	}
	a.printTopHelp(a.stderr)
	return a.fail(errors.New("No command specified"))
}

// fail prints err as rpm-ostree does ("error: MESSAGE" on stderr) and
// returns the exit code for it.
func (a *app) fail(err error) int {
	fmt.Fprintf(a.stderr, "error: %s\n", errorMessage(err))
	return exitFailure
}

// errorMessage is the text shown for err. Daemon errors are shown as the
// daemon worded them, without our call-site context or the D-Bus error name,
// like rpm-ostree strips the remote error prefix: a user sees the same line
// whichever client they use. Errors from the bus itself (no daemon, policy
// denial) keep our context, which says what we were trying to do.
func errorMessage(err error) string {
	var fe *client.FailedError
	if errors.As(err, &fe) {
		if errors.Is(err, context.Canceled) {
			return "Cancelled"
		}
		return fe.Message
	}
	if text, ok := client.DaemonErrorText(err); ok {
		return text
	}
	if errors.Is(err, context.Canceled) {
		return "Cancelled"
	}
	return err.Error()
}

func (a *app) printVersion() {
	// YAML, like rpm-ostree's (and docker's) version output, so that it
	// is readable and parseable.
	fmt.Fprintf(a.stdout, "%s:\n Version: '%s'\n Features:\n  - strata\n", a.prog, version)
}

func isTerminal(f *os.File) bool {
	var t syscall.Termios
	return ioctl(f, syscall.TCGETS, unsafe.Pointer(&t)) == nil
}

// ioctl is the one system call the CLI makes itself (terminal queries); the
// standard library's syscall package has the numbers, so no extra module.
func ioctl(f *os.File, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}

// terminalColumns is the width for wrapping: the terminal's, else $COLUMNS,
// else 80 (what GLib's console helpers assume for pipes).
func terminalColumns(f *os.File) int {
	var ws struct{ Row, Col, Xpixel, Ypixel uint16 } // struct winsize
	if err := ioctl(f, syscall.TIOCGWINSZ, unsafe.Pointer(&ws)); err == nil && ws.Col > 0 {
		return int(ws.Col)
	}
	var n int
	if _, err := fmt.Sscan(os.Getenv("COLUMNS"), &n); err == nil && n > 0 {
		return n
	}
	return 80
}

// shellJoin rebuilds the command line for the daemon's
// "initiating-command-line" option, quoting where a shell would need it.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, s := range args {
		q[i] = shellQuote(s)
	}
	return strings.Join(q, " ")
}

// shellQuote leaves words made of safe characters alone and single-quotes
// anything else.
func shellQuote(s string) string {
	safe := s != ""
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._/=:", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
