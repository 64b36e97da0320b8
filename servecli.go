package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/nanosiem/nano/services/provision/pulumicli"
)

// serveCLI is the Pulumi CLI serve runs operations with: NANO_PULUMI_ROOT's
// when set; else the pinned version (pulumicli.Version) on PATH or in the
// cache tests/setup fills; else that version built into that cache while
// the endpoint already answers (operations get 503 saying the CLI is being
// prepared until the build is done).
type serveCLI struct {
	// root is provision.Config.PulumiRoot ("" for PATH).
	root string
	// about says which CLI, for the banner.
	about string

	mu       sync.Mutex
	building bool
	started  time.Time
	err      error
	version  string
}

// prepareCLI finds the CLI, or starts building it in the background
// (progress on w) from the checkout in dir; ctx ends the build.
func prepareCLI(ctx context.Context, w io.Writer, envRoot, checkout string, b pulumicli.Builder) (*serveCLI, error) {
	if envRoot != "" {
		return &serveCLI{root: envRoot, about: "NANO_PULUMI_ROOT's, " + envRoot + "/bin/pulumi"}, nil
	}
	version := pulumicli.Version
	cache, err := pulumicli.CacheDir()
	if err != nil {
		return nil, err
	}
	found, ok, why := pulumicli.Find(ctx, cache, version)
	if ok {
		return &serveCLI{root: found.Root, about: version + ", " + found.Path}, nil
	}
	b.Checkout, b.Cache, b.Version, b.Progress = checkout, cache, version, w
	c := &serveCLI{root: pulumicli.Root(cache, version), building: true, started: time.Now(), version: version}
	c.about = fmt.Sprintf("%s, being built into %s/bin/pulumi (%s); operations answer 503 until it is ready", version, c.root, strings.Join(why, "; "))
	go func() {
		_, err := b.Build(ctx)
		if err != nil {
			fmt.Fprintf(w, "nano: %v\n", err)
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.building, c.err = false, err
	}()
	return c, nil
}

// preparing is provision.Config.CLIPreparing: an error while the CLI is
// being built or when its build failed.
func (c *serveCLI) preparing() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.building:
		return fmt.Errorf("nano serve is building the Pulumi CLI %s from source (started %s ago; about 5 minutes the first time)",
			c.version, time.Since(c.started).Round(time.Second))
	case c.err != nil:
		var msg string
		if errors.Is(c.err, context.Canceled) {
			msg = "it was interrupted"
		} else {
			msg = c.err.Error()
		}
		return fmt.Errorf("building the Pulumi CLI %s failed: %s; restart nano serve to try again, or put pulumi %s on PATH or set NANO_PULUMI_ROOT",
			c.version, msg, c.version)
	}
	return nil
}

// banner is what serve prints once it listens: where, its token, the CLI
// and a first request to try.
func banner(w io.Writer, url, prog, dataDir, isolation, tokenSource string, tokenFile string, cli *serveCLI) {
	fmt.Fprintf(w, "nano provisioning endpoint on %s (program %s, data %s, isolation %s)\n", url, prog, dataDir, isolation)
	fmt.Fprintf(w, "  API token:  %s\n", tokenSource)
	fmt.Fprintf(w, "  Pulumi CLI: %s\n", cli.about)
	auth := `"Authorization: Bearer $NANO_PROVISION_TOKEN"`
	if tokenFile != "" {
		auth = fmt.Sprintf(`"Authorization: Bearer $(cat %s)"`, tokenFile)
	}
	fmt.Fprintf(w, "  Try:        curl -H %s %s/v1/deployments\n", auth, url)
}
