package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/services/provision"
	"github.com/nanosiem/nano/stacks/model/settings"
	"github.com/nanosiem/nano/stacks/program"
)

// project is the Pulumi.yaml every provisioning workspace gets.
//
//go:embed Pulumi.yaml
var project []byte

// serve runs the provisioning endpoint until SIGINT/SIGTERM.
func serve(w io.Writer, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(w)
	listen := fs.String("listen", envOr("NANO_PROVISION_ADDR", "127.0.0.1:8090"), "address to listen on (NANO_PROVISION_ADDR)")
	dataDir := fs.String("data-dir", envOr("NANO_PROVISION_DATA_DIR", defaultDataDir()), "deployments, operations, workspaces and the default state (NANO_PROVISION_DATA_DIR)")
	backend := fs.String("backend", envOr("NANO_PROVISION_BACKEND_URL", ""), "state backend: s3://, gs://, https://api.pulumi.com; empty: a file backend in the data directory (NANO_PROVISION_BACKEND_URL)")
	secrets := fs.String("secrets-provider", envOr("NANO_PROVISION_SECRETS_PROVIDER", ""), "awskms://, gcpkms://, ...; empty: a generated passphrase in the data directory (NANO_PROVISION_SECRETS_PROVIDER)")
	storeURL := fs.String("store", envOr("NANO_PROVISION_STORE_URL", ""), "where deployments, operations and events are kept: empty: files in the data directory (one process); postgres://...: a PostgreSQL database several endpoint processes share (NANO_PROVISION_STORE_URL)")
	passphrase := fs.String("passphrase-file", envOr("NANO_PROVISION_PASSPHRASE_FILE", ""), "the secrets passphrase, when no --secrets-provider is set (replicas sharing a store share it); empty: one generated in the data directory (NANO_PROVISION_PASSPHRASE_FILE)")
	maxConcurrent := fs.Int("max-concurrent", 4, "operations running at once")
	prog := fs.String("program", "nano", "program to run: nano, or probe (component resources only: checks the engine without cloud providers)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var run pulumi.RunFunc
	switch *prog {
	case "nano":
		run = program.Run
	case "probe":
		run = provision.Probe
	default:
		return fmt.Errorf("--program: %q is not nano or probe", *prog)
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	token, err := apiToken(*dataDir, log)
	if err != nil {
		return err
	}
	var secretKeys []string
	for _, k := range settings.Keys {
		if k.Secret {
			secretKeys = append(secretKeys, settings.Namespace+":"+k.Name)
		}
	}
	m, err := provision.New(provision.Config{
		DataDir: *dataDir, BackendURL: *backend, SecretsProvider: *secrets, PassphraseFile: *passphrase, StoreURL: *storeURL, Project: project, Program: run,
		Validate: validateDeployment, SecretKeys: secretKeys, PulumiRoot: os.Getenv("NANO_PULUMI_ROOT"),
		MaxConcurrent: *maxConcurrent, Log: log,
	})
	if err != nil {
		return err
	}
	defer m.Close()
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("cannot listen on %s: %w", *listen, err)
	}
	srv := &http.Server{
		Handler: provision.Handler(m, token, log), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		// Event streams extend their own write deadline.
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(w, "nano provisioning endpoint on http://%s (program %s, data %s)\n", ln.Addr(), *prog, *dataDir)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

// validateDeployment runs the program's own config validation on a
// deployment's config ("nano:key" -> value).
func validateDeployment(name string, cfg map[string]string) error {
	_, err := settings.Load(name, func(k string) string { return cfg[settings.Namespace+":"+k] })
	return err
}

func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "nano")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".nano"
	}
	return filepath.Join(home, ".local", "share", "nano")
}

// apiToken is NANO_PROVISION_TOKEN, the file NANO_PROVISION_TOKEN_FILE
// names, or a token generated once into <dataDir>/api-token (0600).
func apiToken(dataDir string, log *slog.Logger) (string, error) {
	if t := strings.TrimSpace(os.Getenv("NANO_PROVISION_TOKEN")); t != "" {
		return checkToken(t, "NANO_PROVISION_TOKEN")
	}
	path := os.Getenv("NANO_PROVISION_TOKEN_FILE")
	generated := path == ""
	if generated {
		path = filepath.Join(dataDir, "api-token")
	}
	if b, err := os.ReadFile(path); err == nil {
		return checkToken(strings.TrimSpace(string(b)), path)
	} else if !generated {
		return "", fmt.Errorf("NANO_PROVISION_TOKEN_FILE: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", err
	}
	token := randomToken()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("cannot write the API token: %w", err)
	}
	log.Info("generated the API token", "file", path)
	return token, nil
}

func checkToken(t, source string) (string, error) {
	if len(t) < 16 {
		return "", fmt.Errorf("%s: the API token is shorter than 16 characters", source)
	}
	return t, nil
}

func randomToken() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
