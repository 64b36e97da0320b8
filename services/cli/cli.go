// Package cli is how nano's binaries (nano, and the api, search, ingest
// and web services) read their command line: one table of subcommands per
// binary, -h listing them, --version printing the build's version, an
// unknown subcommand refused with exit status 2.
package cli

import (
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"
)

// Command is one subcommand.
type Command struct {
	// Name is the word that selects it (e.g. "upgrade", "token create":
	// several words are matched in turn).
	Name string
	// Args is its usage after the name, e.g. "[flags] DEPLOYMENT".
	Args string
	// Summary says what it does, in one line.
	Summary string
	// Run runs it with the arguments after its name, writing to stdout and
	// stderr. Its error sets the exit status (Status).
	Run func(args []string, stdout, stderr io.Writer) error
}

// Program is a binary's command line.
type Program struct {
	// Name is the binary's name ("nano", "api", ...).
	Name string
	// Summary says what the binary is, in one line.
	Summary string
	// Version is the build's version (-ldflags -X); empty: Version() reads
	// the module's build information.
	Version string
	// Default runs without a subcommand (nil: the usage, exit 2). Its args
	// are the flags given, e.g. a service's own.
	Default *Command
	// Commands are the subcommands, in the order -h lists them.
	Commands []Command
}

// UsageError marks an error in how a command was called: exit status 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// ExitError is the exit status a command chose, having said why itself.
type ExitError int

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// Status is the exit status of err: 0 for nil, 2 for a UsageError, an
// ExitError's own, else 1.
func Status(err error) int {
	var ue UsageError
	var ee ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return int(ee)
	case errors.As(err, &ue):
		return 2
	}
	return 1
}

// Main runs Run and answers the exit status, printing the error (but an
// ExitError's) to stderr as "<name>: <error>".
func (p Program) Main(args []string, stdout, stderr io.Writer) int {
	err := p.Run(args, stdout, stderr)
	var ee ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(stderr, "%s: %v\n", p.Name, err)
	}
	return Status(err)
}

// Run runs the command args (os.Args[1:]) selects: -h, -help, --help or
// help list the commands; -version or --version print "<name>
// <version>"; no arguments, or flags only, run Default; an unknown
// command is a UsageError listing the commands.
func (p Program) Run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help", "help":
			p.Usage(stdout)
			return nil
		case "-version", "--version", "version":
			fmt.Fprintln(stdout, p.Name, p.version())
			return nil
		}
	}
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if p.Default == nil {
			return UsageError{fmt.Errorf("a command is required\n%s", p.usage())}
		}
		return p.Default.Run(args, stdout, stderr)
	}
	for _, c := range p.Commands {
		words := strings.Fields(c.Name)
		if len(args) >= len(words) && slices.Equal(args[:len(words)], words) {
			return c.Run(args[len(words):], stdout, stderr)
		}
	}
	return UsageError{fmt.Errorf("unknown command %q\n%s", args[0], p.usage())}
}

func (p Program) usage() string {
	var b strings.Builder
	p.Usage(&b)
	return b.String()
}

// Usage lists the commands.
func (p Program) Usage(w io.Writer) {
	fmt.Fprintf(w, "%s: %s\n\nusage:\n", p.Name, p.Summary)
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	if p.Default != nil {
		fmt.Fprintf(tw, "  %s %s\t%s\n", p.Name, p.Default.Args, p.Default.Summary)
	}
	for _, c := range p.Commands {
		fmt.Fprintf(tw, "  %s %s %s\t%s\n", p.Name, c.Name, c.Args, c.Summary)
	}
	fmt.Fprintf(tw, "  %s -h\t%s\n", p.Name, "this list")
	fmt.Fprintf(tw, "  %s --version\t%s\n", p.Name, "the version")
	tw.Flush()
	fmt.Fprintf(w, "\n%s COMMAND -h describes a command's flags.\n", p.Name)
}

func (p Program) version() string { return VersionOr(p.Version) }

// VersionOr is v, the version a build set (-ldflags -X), or when it is
// empty the build's own (Version).
func VersionOr(v string) string {
	if v != "" {
		return v
	}
	return Version()
}

// Version is the running binary's version from its build information: the
// module's version ("(devel)" for a build from a checkout) and, when the
// build recorded them, the VCS revision, its time and whether the tree
// was modified.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	v := info.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = ", modified"
			}
		}
	}
	if rev != "" {
		v += fmt.Sprintf(" (%s %s%s)", rev[:min(len(rev), 12)], at, dirty)
	}
	return v
}
