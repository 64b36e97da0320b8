package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/services/provision"
	"github.com/nanosiem/nano/services/provision/pulumicli"
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
	storeURL := fs.String("store", envOr("NANO_PROVISION_STORE_URL", ""), "where deployments, operations and events are kept: empty: files in the data directory (one process); postgres://...: a PostgreSQL database several endpoint processes share (NANO_PROVISION_STORE_URL, or the file NANO_PROVISION_STORE_URL_FILE names)")
	passphrase := fs.String("passphrase-file", envOr("NANO_PROVISION_PASSPHRASE_FILE", ""), "the secrets passphrase, when no --secrets-provider is set (replicas sharing a store share it); empty: one generated in the data directory (NANO_PROVISION_PASSPHRASE_FILE)")
	maxConcurrent := fs.Int("max-concurrent", 4, "operations running at once")
	prog := fs.String("program", "nano", "program to run: nano, or probe (component resources only: checks the engine without cloud providers)")
	isolation := fs.String("isolation", envOr("NANO_PROVISION_ISOLATION", provision.IsolationUID), "how operations are kept apart: uid (each deployment's as a uid of its own, in its own directories and state; needs root) or none (as this user: one customer per machine) (NANO_PROVISION_ISOLATION)")
	uids := fs.String("operation-uids", envOr("NANO_PROVISION_OPERATION_UIDS", fmt.Sprintf("%d-%d", provision.DefaultUIDs.First, provision.DefaultUIDs.First+provision.DefaultUIDs.Count-1)), "the uids deployments get with --isolation uid, FIRST-LAST; none is reused (NANO_PROVISION_OPERATION_UIDS)")
	tlsCert := fs.String("tls-cert", os.Getenv("NANO_PROVISION_TLS_CERT"), "PEM certificate (chain) the listener serves HTTPS with; required on a non-loopback address (NANO_PROVISION_TLS_CERT)")
	tlsKey := fs.String("tls-key", os.Getenv("NANO_PROVISION_TLS_KEY"), "PEM private key of --tls-cert (NANO_PROVISION_TLS_KEY)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return cli.UsageError{Err: err}
	}
	if fs.NArg() > 0 {
		return cli.UsageError{Err: fmt.Errorf("serve takes flags only, not %q", fs.Arg(0))}
	}
	storeFrom := "--store (NANO_PROVISION_STORE_URL)"
	if *storeURL == "" {
		// The store's URL carries its password: a file may hold it.
		v, err := fileVariable("NANO_PROVISION_STORE_URL_FILE")
		if err != nil {
			return err
		}
		*storeURL, storeFrom = v, "NANO_PROVISION_STORE_URL_FILE"
	}
	if *storeURL != "" && !provision.SharedStoreURL(*storeURL) {
		// Checked before anything starts; never quoted (it may carry a password).
		return fmt.Errorf("%s: the store is not a postgres:// or postgresql:// URL", storeFrom)
	}
	var run pulumi.RunFunc
	keys := provision.ProgramConfigKeys()
	switch *prog {
	case "nano":
		run = program.Run
	case "probe":
		run = provision.Probe
		keys = append(keys, provision.ProbeConfigKeys()...)
	default:
		return fmt.Errorf("--program: %q is not nano or probe", *prog)
	}
	uidRange, err := parseUIDRange(*uids)
	if err != nil {
		return err
	}
	tlsConfig, err := listenerTLS(*listen, *tlsCert, *tlsKey)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	token, tokenFile, tokenSource, err := apiToken(*dataDir, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cli, err := prepareCLI(ctx, w, os.Getenv("NANO_PULUMI_ROOT"), ".", pulumicli.Builder{})
	if err != nil {
		return err
	}
	m, err := provision.New(provision.Config{
		DataDir: *dataDir, BackendURL: *backend, SecretsProvider: *secrets, PassphraseFile: *passphrase, StoreURL: *storeURL, Project: project, Program: run,
		Validate: validateDeployment, Keys: keys, Isolation: *isolation, UIDs: uidRange, PulumiRoot: cli.root, CLIPreparing: cli.preparing,
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
	scheme := "http"
	if tlsConfig != nil {
		ln, scheme = tls.NewListener(ln, tlsConfig), "https"
	}
	srv := &http.Server{
		Handler: provision.Handler(m, token, log), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		// Event streams extend their own write deadline.
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	banner(w, scheme+"://"+ln.Addr().String(), *prog, *dataDir, *isolation, tokenSource, tokenFile, cli)
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

// listenerTLS loads --tls-cert/--tls-key, and refuses a listener that
// other machines can reach without them: it carries the admin token,
// deployment tokens and cloud credentials.
func listenerTLS(listen, cert, key string) (*tls.Config, error) {
	if (cert == "") != (key == "") {
		return nil, errors.New("--tls-cert and --tls-key: give both (the certificate and its private key) or neither")
	}
	if cert == "" {
		if loopback, why := loopbackOnly(listen); !loopback {
			return nil, fmt.Errorf("--listen %s: %s, and the endpoint carries bearer tokens and cloud credentials: serve TLS there "+
				"(--tls-cert and --tls-key), or listen on 127.0.0.1 behind a TLS-terminating proxy on this host", listen, why)
		}
		return nil, nil
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// loopbackOnly reports whether a listen address accepts loopback
// connections only, and if not, why.
func loopbackOnly(listen string) (bool, string) {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false, "is not host:port"
	}
	if host == "" {
		return false, "listens on every interface"
	}
	if host == "localhost" {
		return true, ""
	}
	ip := net.ParseIP(host)
	if ip == nil {
		// A name that could resolve elsewhere tomorrow.
		return false, fmt.Sprintf("%q is a host name, not a loopback address", host)
	}
	if ip.IsUnspecified() {
		return false, "listens on every interface"
	}
	if !ip.IsLoopback() {
		return false, fmt.Sprintf("%s is not a loopback address", ip)
	}
	return true, ""
}

// parseUIDRange reads FIRST-LAST.
func parseUIDRange(s string) (provision.UIDRange, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 32)
	last, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 32)
	if !ok || err1 != nil || err2 != nil || last < first {
		return provision.UIDRange{}, fmt.Errorf("--operation-uids: %q is not FIRST-LAST (e.g. 1900000000-1999999999)", s)
	}
	return provision.UIDRange{First: uint32(first), Count: uint32(last - first + 1)}, nil
}

// fileVariable is the trimmed content of the file the variable name
// names ("" when it is unset).
func fileVariable(name string) (string, error) {
	path := strings.TrimSpace(os.Getenv(name))
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return strings.TrimSpace(string(b)), nil
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
// names, or a token generated once into <dataDir>/api-token (0600). file
// is the file it was read from or written to ("": the environment);
// source says where it is, for the banner.
func apiToken(dataDir string, log *slog.Logger) (token, file, source string, err error) {
	if t := strings.TrimSpace(os.Getenv("NANO_PROVISION_TOKEN")); t != "" {
		t, err := checkToken(t, "NANO_PROVISION_TOKEN")
		return t, "", "the environment's NANO_PROVISION_TOKEN", err
	}
	path := os.Getenv("NANO_PROVISION_TOKEN_FILE")
	generated := path == ""
	if generated {
		path = filepath.Join(dataDir, "api-token")
	}
	if b, err := os.ReadFile(path); err == nil {
		t, err := checkToken(strings.TrimSpace(string(b)), path)
		return t, path, "in " + path, err
	} else if !generated {
		return "", "", "", fmt.Errorf("NANO_PROVISION_TOKEN_FILE: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", "", err
	}
	token = randomToken()
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		return "", "", "", fmt.Errorf("cannot write the API token: %w", err)
	}
	log.Info("generated the API token", "file", path)
	return token, path, "in " + path + " (generated now; NANO_PROVISION_TOKEN or NANO_PROVISION_TOKEN_FILE sets your own)", nil
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
