// Command envprobeplugin, built as pulumi-resource-nanoenv, serves the env
// probe (standinproviders.EnvProbe) to the provisioning tests.
package main

import (
	"fmt"
	"os"

	"github.com/nanosiem/nano/tests/standinproviders"
)

func main() {
	if err := standinproviders.Serve(standinproviders.EnvProbe()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
