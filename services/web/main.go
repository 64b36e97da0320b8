// Command web serves nano's analyst UI: the page and its built files,
// embedded in the binary (services/web/ui). The browser calls the api
// and search services on the same origin, where the deployment's proxy
// (the Compose host's Caddy, the clusters' Ingress) routes /api/ and
// /search/; this service proxies nothing.
package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/services/servicemain"
	"github.com/nanosiem/nano/services/web/ui"
)

// version is set at build time (-ldflags "-X main.version=..."); empty:
// the build's VCS information.
var version = ""

func main() {
	version = cli.VersionOr(version)
	servicemain.Run("web", version, loadConfig, func(ctx context.Context, cfg config, log *slog.Logger) error {
		return run(ctx, cfg, log, nil, nil)
	})
}

// run serves until ctx ends; ln and opsLn, when set, are the listeners to
// use for the UI and the operational endpoints.
func run(ctx context.Context, cfg config, log *slog.Logger, ln, opsLn net.Listener) error {
	files, err := ui.Files()
	if err != nil {
		return err
	}
	h, err := newHandler(files, version)
	if err != nil {
		return err
	}
	hs := &http.Server{Addr: cfg.Listen, Handler: h.routes(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10}
	ops := &http.Server{Addr: cfg.OpsListen, Handler: h.ops(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10}
	if ln, err = servicemain.Listen(ln, cfg.Listen); err != nil {
		return err
	}
	if opsLn, err = servicemain.Listen(opsLn, cfg.OpsListen); err != nil {
		ln.Close()
		return err
	}
	log.Info("web serving", "addr", ln.Addr().String(), "ops", opsLn.Addr().String(), "version", version)
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return servicemain.Serve(ctx, hs, ln) })
	g.Go(func() error { return servicemain.Serve(ctx, ops, opsLn) })
	return g.Wait()
}
