// Command randomplugin, built as pulumi-resource-random, is the rig's stand-in
// for the random provider plugin (see package standinproviders).
package main

import (
	"fmt"
	"os"

	"github.com/nanosiem/nano/tests/standinproviders"
)

func main() {
	if err := standinproviders.Serve(standinproviders.Random(standinproviders.RandomVersion)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
