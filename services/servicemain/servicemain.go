// Package servicemain is what the api, search, ingest and web binaries do
// in main: their command line (cli: -h, --version, subcommands), read the
// configuration from the environment, and serve until SIGTERM or SIGINT;
// and the operational endpoints their HTTP servers share.
package servicemain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/services/contract"
)

// Run is a service's main, its command line a cli.Program: -h lists the
// subcommands (commands), --version prints "<name> <version>" (version
// empty: the build's VCS information), an unknown subcommand exits 2.
// Without a subcommand it serves: it loads the configuration from the
// environment (exit 2, naming every problem, when invalid) and runs serve
// until SIGTERM or SIGINT ends ctx (exit 1 when serve fails).
func Run[C any](name, version string, load func(getenv func(string) string) (C, error),
	serve func(ctx context.Context, cfg C, log *slog.Logger) error, commands ...cli.Command) {
	os.Exit(Program(name, version, load, serve, commands...).Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Program is Run's command line.
func Program[C any](name, version string, load func(getenv func(string) string) (C, error),
	serve func(ctx context.Context, cfg C, log *slog.Logger) error, commands ...cli.Command) cli.Program {
	return cli.Program{Name: name, Summary: "nano's " + name + " service", Version: version, Commands: commands,
		Default: &cli.Command{Summary: "serve, configured by the environment (NANO_*; a secret's NANO_*_FILE names a file holding it)",
			Run: func(args []string, _, stderr io.Writer) error {
				if len(args) > 0 {
					return cli.UsageError{Err: fmt.Errorf("unknown flag %q: the service is configured by its environment (%s -h lists the commands)", args[0], name)}
				}
				log := slog.New(slog.NewJSONHandler(stderr, nil))
				cfg, err := load(os.Getenv)
				if err != nil {
					log.Error("invalid configuration", "error", err)
					return cli.ExitError(2)
				}
				ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
				defer stop()
				if err := serve(ctx, cfg, log); err != nil {
					log.Error(name+" stopped", "error", err)
					return cli.ExitError(1)
				}
				return nil
			}},
	}
}

// Prefixed is a service's front. Under prefix ("/api": /api/v1/x reaches
// public as /v1/x) it serves public alone: the paths a proxy (Caddy's
// handle, an Ingress Prefix rule, neither stripping the prefix) sends from
// the Internet. At every other path it serves internal: the same API and
// the operational endpoints (Ops: metrics, health, readiness, version),
// which only the deployment's own network reaches (Prometheus, probes,
// the compose healthcheck), never through the proxy.
func Prefixed(prefix string, public, internal http.Handler) http.Handler {
	stripped := http.StripPrefix(prefix, public)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p == prefix || strings.HasPrefix(p, prefix+"/") {
			stripped.ServeHTTP(w, r)
			return
		}
		internal.ServeHTTP(w, r)
	})
}

// WithOps is api beside the operational endpoints (Ops): a service's
// internal handler for Prefixed.
func WithOps(api http.Handler, metrics prometheus.Gatherer, ready func(context.Context) error, version string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", api)
	Ops(mux, metrics, ready, version)
	return mux
}

// Ops registers the operational endpoints of an HTTP service on mux:
// GET /metrics from metrics, the health path (always "ok"), the readiness
// path (ready within 2 s, else 503 with its error) and /version.
func Ops(mux *http.ServeMux, metrics prometheus.Gatherer, ready func(context.Context) error, version string) {
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET "+contract.HealthPath, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET "+contract.ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := ready(ctx); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, version) })
}

// Listen returns ln, or when it is nil a new TCP listener on addr (tests
// pass their own listeners).
func Listen(ln net.Listener, addr string) (net.Listener, error) {
	if ln != nil {
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", addr, err)
	}
	return ln, nil
}

// Serve serves hs on ln until ctx ends or serving fails, then shuts hs
// down, giving requests in flight up to 30 s.
func Serve(ctx context.Context, hs *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("cannot serve: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("cannot shut down: %w", err)
	}
	return nil
}
