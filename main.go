// Command nano is nano's Pulumi program and its tools.
//
//	pulumi up                  runs the program (the Pulumi CLI starts this binary)
//	go run . plan <stack>      prints the stack's resource tree and bill of materials offline
//	go run . stacks            lists the stacks in stacks/
//	go run . serve             runs the provisioning endpoint (Automation API over HTTP)
//	go run . upgrade           upgrades a deployment's tier through the endpoint
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/stacks/program"
	"github.com/nanosiem/nano/stacks/program/stackfile"
)

const usage = `usage:
  nano                     run as a Pulumi program (pulumi up / preview)
  nano plan <stack>        offline plan of a stack: resource tree and bill of materials
  nano stacks              list the stacks in stacks/
  nano serve [flags]       the provisioning endpoint: create, preview, update, destroy deployments over HTTP
  nano upgrade [flags] D   upgrade deployment D to a higher tier through the endpoint (or -complete it)
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
		if len(args) != 2 {
			return fmt.Errorf("plan takes one stack name\n%s", usage)
		}
		res, err := program.Plan(".", args[1])
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "Plan of stack %s (offline: no cloud calls; values computed by providers are placeholders)\n\n", args[1])
		res.WriteTree(w)
		fmt.Fprintln(w)
		res.WriteBOM(w)
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
	case "help", "-h", "--help":
		fmt.Fprint(w, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", args[0], usage)
	}
}
