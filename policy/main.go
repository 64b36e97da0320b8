// Command policy is nano's CrossGuard policy pack: a Pulumi analyzer
// plugin serving the rules of policy/rules. Current CLIs (v3.276.0 and
// newer) run it as a compiled pack, the executable given to --policy-pack,
// with PulumiPolicy.yaml beside it for its version:
//
//	go build -o policy/policy ./policy
//	pulumi preview --policy-pack policy/policy
//
// It prints the port it serves on and answers until the engine closes it.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"

	"github.com/nanosiem/nano/policy/analyzer"
	"github.com/nanosiem/nano/policy/rules"
)

// version is the pack's version (PulumiPolicy.yaml).
const version = "0.1.0"

func main() {
	// The argument (the engine's address) is not needed: the rules call
	// nothing back.
	srv := analyzer.New(rules.All(), version)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterAnalyzerServer(s, srv)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "nano policy pack:", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintln(os.Stderr, "nano policy pack:", err)
		os.Exit(1)
	}
}
