// Package local runs a complete nano on this machine's Docker engine: the
// Hobby tier's Compose project (ingest, search, api, web, ClickHouse,
// PostgreSQL, Prometheus, Alertmanager, Caddy) rendered by the same
// builders as a Hobby host (composefiles.CloudInit, laid out as cloud-init
// would), with nano's images built from the checkout and loaded into the
// engine (no registry), published on 127.0.0.1 and served over HTTPS by
// Caddy's internal CA for localhost.
//
//	nano local up     build the images, render the project, start it, print the URL and the admin token
//	nano local stop   stop the containers; the data (named volumes) stays
//	nano local down   remove the containers, the network, the volumes and the project's files
//
// What differs from a Hobby host, and only this (compose.local.yaml, an
// override file generated from the rendered compose.yaml): data lives in
// named volumes instead of the data volume's directories; every published
// port is bound to 127.0.0.1; and, with -clickhouse-nofile, ClickHouse's
// open-files limit. The host-level parts of the user data (the data volume's
// mount script, the metadata guard, the systemd unit) are not run: this is
// not a cloud server.
package local

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// Project is the Compose project name of the local nano.
const Project = "nano-local"

const usage = `usage:
  nano local up [-dir DIR] [-clickhouse-nofile N]
                   build nano's images from this checkout, start nano on the local Docker engine,
                   print the web URL and the first admin token
  nano local stop  stop it; its data stays (up starts it again)
  nano local down  remove it: containers, network, volumes (all its data) and DIR
`

// Command runs `nano local <up|stop|down>` in the checkout cwd.
func Command(w io.Writer, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("local takes up, stop or down\n%s", usage)
	}
	verb := args[0]
	fs := flag.NewFlagSet("local "+verb, flag.ContinueOnError)
	fs.SetOutput(w)
	dir := fs.String("dir", defaultDir(), "where the project's files and secrets are kept")
	nofile := fs.Int("clickhouse-nofile", 0, "ClickHouse's open-files limit when the engine caps it below the Hobby tier's 262144 (e.g. rootless Docker); 0 keeps 262144")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("local %s takes no arguments, not %q\n%s", verb, fs.Args(), usage)
	}
	if *nofile < 0 || *nofile > 1<<20 {
		return fmt.Errorf("-clickhouse-nofile: %d is not between 0 and %d", *nofile, 1<<20)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	l := &Local{Dir: *dir, Checkout: ".", Out: w, ClickHouseNofile: *nofile}
	switch verb {
	case "up":
		ctx, cancel := context.WithTimeout(ctx, 45*time.Minute)
		defer cancel()
		_, err := l.Up(ctx)
		return err
	case "stop":
		return l.Stop(ctx)
	case "down":
		return l.Down(ctx)
	case "help", "-h", "--help":
		fmt.Fprint(w, usage)
		return nil
	default:
		return fmt.Errorf("local: unknown command %q\n%s", verb, usage)
	}
}

// defaultDir is ${XDG_DATA_HOME:-~/.local/share}/nano/local.
func defaultDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "nano", "local")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "nano", "local")
	}
	return filepath.Join(".nano", "local")
}
