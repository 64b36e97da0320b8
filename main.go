// Command nano is nano's Pulumi program and its tools.
//
//	pulumi up                  runs the program (the Pulumi CLI starts this binary)
//	go run . plan <stack>      prints the stack's resource tree and bill of materials offline
//	                           (-secret-file alertmanagerConfig=alertmanager.yml checks a secret too)
//	go run . stacks            lists the stacks in stacks/
//	go run . serve             runs the provisioning endpoint (Automation API over HTTP)
//	go run . upgrade           upgrades a deployment's tier through the endpoint
//	go run . local up|stop|down  nano on this machine's Docker engine (docs/local.md)
package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/stacks/local"
	"github.com/nanosiem/nano/stacks/program"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

const usage = `usage:
  nano                     run as a Pulumi program (pulumi up / preview)
  nano plan <stack> [-secret-file key=file]...
                           offline plan of a stack: resource tree and bill of materials;
                           -secret-file gives a secret key's value (e.g. alertmanagerConfig=alertmanager.yml),
                           which a plan cannot read from the stack file, so it is checked too
  nano stacks              list the stacks in stacks/
  nano serve [flags]       the provisioning endpoint: create, preview, update, destroy deployments over HTTP
  nano upgrade [flags] D   upgrade deployment D to a higher tier through the endpoint (or -complete it)
  nano local up|stop|down  a complete nano on this machine's Docker engine, built from this checkout (docs/local.md)
`

func main() {
	if len(os.Args) < 2 {
		// Started by the Pulumi CLI.
		pulumi.Run(program.Run)
		return
	}
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nano:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, args []string) error {
	switch args[0] {
	case "plan":
		stack, secrets, err := planArgs(args[1:])
		if err != nil {
			return fmt.Errorf("%v\n%s", err, usage)
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
	case "stacks":
		stacks, err := stackfile.Stacks(".")
		if err != nil {
			return err
		}
		for _, s := range stacks {
			fmt.Fprintln(w, s)
		}
		return nil
	case "serve":
		return serve(w, args[1:])
	case "upgrade":
		return upgradeCommand(w, args[1:])
	case "local":
		return local.Command(w, args[1:])
	case "help", "-h", "--help":
		fmt.Fprint(w, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
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
