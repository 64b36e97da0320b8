package cli

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func program(ran *[]string) Program {
	cmd := func(name string) func([]string, io.Writer, io.Writer) error {
		return func(args []string, _, _ io.Writer) error {
			*ran = append(*ran, name+" "+strings.Join(args, " "))
			if len(args) > 0 && args[0] == "-bad" {
				return UsageError{errors.New("bad flag")}
			}
			if len(args) > 0 && args[0] == "-fail" {
				return errors.New("it failed")
			}
			return nil
		}
	}
	return Program{Name: "tool", Summary: "a tool", Version: "1.2.3",
		Default: &Command{Summary: "serve", Run: cmd("default")},
		Commands: []Command{
			{Name: "token create", Args: "-tenant T", Summary: "make a token", Run: cmd("token create")},
			{Name: "backups", Summary: "list backups", Run: cmd("backups")},
		}}
}

// -h lists every command, --version prints the version, a command gets
// its arguments, an unknown one is refused with exit status 2, a usage
// error is 2 and a failure 1.
func TestProgram(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args           []string
		status         int
		stdout, stderr string
		ran            string
	}{
		{[]string{"-h"}, 0, "tool token create -tenant T   make a token", "", ""},
		{[]string{"--help"}, 0, "tool backups", "", ""},
		{[]string{"--version"}, 0, "tool 1.2.3\n", "", ""},
		{[]string{"-version"}, 0, "tool 1.2.3\n", "", ""},
		{nil, 0, "", "", "default "},
		{[]string{"-listen", "x"}, 0, "", "", "default -listen x"},
		{[]string{"token", "create", "-tenant", "acme"}, 0, "", "", "token create -tenant acme"},
		{[]string{"backups"}, 0, "", "", "backups "},
		{[]string{"frobnicate"}, 2, "", `tool: unknown command "frobnicate"`, ""},
		{[]string{"token", "revoke"}, 2, "", `tool: unknown command "token"`, ""},
		{[]string{"backups", "-bad"}, 2, "", "tool: bad flag", "backups -bad"},
		{[]string{"backups", "-fail"}, 1, "", "tool: it failed", "backups -fail"},
	} {
		var ran []string
		var stdout, stderr bytes.Buffer
		status := program(&ran).Main(c.args, &stdout, &stderr)
		if status != c.status || !strings.Contains(stdout.String(), c.stdout) || !strings.Contains(stderr.String(), c.stderr) ||
			strings.Join(ran, ";") != c.ran {
			t.Errorf("%q: status %d, ran %q, stdout %q, stderr %q; want %d, %q, %q, %q", c.args, status, ran, stdout.String(), stderr.String(),
				c.status, c.ran, c.stdout, c.stderr)
		}
		if c.status == 2 && c.ran == "" && !strings.Contains(stderr.String(), "tool backups") {
			t.Errorf("%q: the refusal does not list the commands: %s", c.args, stderr.String())
		}
	}
}

// Without a version set at build time, the version is the build's:
// "(devel)" for a test binary built from the module.
func TestVersionFromTheBuild(t *testing.T) {
	t.Parallel()
	if v := VersionOr(""); !strings.HasPrefix(v, "(devel)") {
		t.Errorf("VersionOr(\"\") = %q, want the build's (devel)", v)
	}
	if v := VersionOr("0.4.0"); v != "0.4.0" {
		t.Errorf("VersionOr(0.4.0) = %q", v)
	}
}

// A command of no default refuses to run without a subcommand.
func TestNoDefault(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	p := Program{Name: "tool", Commands: []Command{{Name: "x", Run: func([]string, io.Writer, io.Writer) error { return nil }}}}
	if s := p.Main(nil, io.Discard, &stderr); s != 2 || !strings.Contains(stderr.String(), "a command is required") {
		t.Errorf("%d %s", s, stderr.String())
	}
}
