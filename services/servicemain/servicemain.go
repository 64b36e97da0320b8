// Package servicemain is what the api, search and ingest binaries do in
// main: answer --version, read the configuration from the environment, and
// serve until SIGTERM or SIGINT.
package servicemain

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// Run is a service's main: with --version it prints "nano <name>
// <version>"; otherwise it loads the configuration (exit 2, naming every
// problem, when invalid) and runs serve until a signal ends ctx (exit 1
// when serve fails).
func Run[C any](name, version string, load func(getenv func(string) string) (C, error),
	serve func(ctx context.Context, cfg C, log *slog.Logger) error) {
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("nano", name, version)
		return
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := load(os.Getenv)
	if err != nil {
		log.Error("invalid configuration", "error", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, cfg, log); err != nil {
		log.Error(name+" stopped", "error", err)
		os.Exit(1)
	}
}
