// Command nano is nano's Pulumi program and its tools.
//
//	pulumi up                  runs the program (the Pulumi CLI starts this binary)
//	go run . plan <stack>      prints the stack's resource tree and bill of materials offline
//	                           (-secret-file alertmanagerConfig=alertmanager.yml checks a secret too)
//	go run . stacks            lists the stacks in stacks/
//	go run . serve             runs the provisioning endpoint (Automation API over HTTP)
//	go run . upgrade           upgrades a deployment's tier through the endpoint
//	go run . local up|stop|down  nano on this machine's Docker engine (docs/local.md)
//	go run . -h                lists the commands; --version prints the version
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/stacks/local"
	"github.com/nanosiem/nano/stacks/program"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

// version is set at build time (-ldflags "-X main.version=..."); empty:
// the module's build information ((devel) and the VCS revision).
var version = ""

// nano is the command line: one table of subcommands, -h listing them,
// --version the build's version. Without arguments the binary is the
// Pulumi program (the Pulumi CLI starts it so).
func nano() cli.Program {
	return cli.Program{
		Name: "nano", Summary: "nano's Pulumi program and its tools", Version: version,
		Default: &cli.Command{Summary: "run as the Pulumi program (pulumi up / preview start it)", Run: func(args []string, _, _ io.Writer) error {
			if len(args) > 0 {
				return cli.UsageError{Err: fmt.Errorf("unknown flag %q: the Pulumi program takes none (nano -h lists the commands)", args[0])}
			}
			pulumi.Run(program.Run)
			return nil
		}},
		Commands: []cli.Command{
			{Name: "plan", Args: "<stack> [-secret-file key=file]...", Run: planCommand,
				Summary: "offline plan of a stack: resource tree and bill of materials; -secret-file gives a secret key's value (e.g. alertmanagerConfig=alertmanager.yml), which a plan cannot read from the stack file, so it is checked too"},
			{Name: "stacks", Summary: "list the stacks in stacks/", Run: stacksCommand},
			{Name: "serve", Args: "[flags]", Summary: "the provisioning endpoint: create, preview, update, destroy deployments over HTTP",
				Run: func(args []string, stdout, _ io.Writer) error { return serve(stdout, args) }},
			{Name: "upgrade", Args: "[flags] D", Summary: "upgrade deployment D to a higher tier through the endpoint (or -complete it)",
				Run: func(args []string, stdout, _ io.Writer) error { return upgradeCommand(stdout, args) }},
			{Name: "local", Args: "up|stop|down", Summary: "a complete nano on this machine's Docker engine, built from this checkout (docs/local.md)",
				Run: func(args []string, stdout, _ io.Writer) error { return local.Command(stdout, args) }},
		},
	}
}

func main() {
	os.Exit(nano().Main(os.Args[1:], os.Stdout, os.Stderr))
}

func planCommand(args []string, w, _ io.Writer) error {
	stack, secrets, err := planArgs(args)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	res, err := program.PlanWithSecrets(".", stack, secrets)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Plan of stack %s (offline: no cloud calls; values computed by providers are placeholders)\n\n", stack)
	res.WriteTree(w)
	fmt.Fprintln(w)
	res.WriteBOM(w)
	for _, k := range res.UnreadSecrets {
		fmt.Fprintf(w, "\nnot checked: %s is encrypted in the stack file (pulumi preview checks it; so does plan -secret-file %s=<file>)\n",
			k, strings.TrimPrefix(k, "nano:"))
	}
	fmt.Fprintf(w, "\nplanned in %s\n", res.Elapsed.Round(1e6))
	return nil
}

func stacksCommand(args []string, w, _ io.Writer) error {
	if len(args) > 0 {
		return cli.UsageError{Err: fmt.Errorf("stacks takes no arguments, not %q", args[0])}
	}
	stacks, err := stackfile.Stacks(".")
	if err != nil {
		return err
	}
	for _, s := range stacks {
		fmt.Fprintln(w, s)
	}
	return nil
}

// planArgs reads plan's arguments: the stack, and -secret-file key=file
// (repeatable), each file's content the value of that secret key.
func planArgs(args []string) (stack string, secrets map[string]string, err error) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "-secret-file" || a == "--secret-file":
			if i+1 == len(args) {
				return "", nil, fmt.Errorf("%s takes key=file", a)
			}
			i++
			key, file, ok := strings.Cut(args[i], "=")
			key = strings.TrimPrefix(key, "nano:")
			if !ok || key == "" || file == "" {
				return "", nil, fmt.Errorf("-secret-file takes key=file, e.g. alertmanagerConfig=alertmanager.yml")
			}
			b, err := os.ReadFile(file)
			if err != nil {
				return "", nil, fmt.Errorf("-secret-file %s: %w", key, err)
			}
			if secrets == nil {
				secrets = map[string]string{}
			}
			secrets[key] = string(b)
		case stack == "" && !strings.HasPrefix(a, "-"):
			stack = a
		default:
			return "", nil, fmt.Errorf("plan takes one stack name and -secret-file key=file, not %q", a)
		}
	}
	if stack == "" {
		return "", nil, fmt.Errorf("plan takes one stack name")
	}
	return stack, secrets, nil
}
