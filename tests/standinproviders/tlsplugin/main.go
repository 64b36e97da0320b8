// Command tlsplugin, built as pulumi-resource-tls, is the rig's stand-in for
// the tls provider plugin (see package standinproviders).
package main

import (
	"fmt"
	"os"

	"github.com/nanosiem/nano/tests/standinproviders"
)

func main() {
	if err := standinproviders.Serve(standinproviders.TLS(standinproviders.TLSVersion)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
