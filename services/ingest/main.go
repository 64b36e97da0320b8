// Command ingest is nano's ingestion service (the seed's "Vector" role):
// stateless, horizontally scaled, taking logs over HTTP with bearer tokens
// (8080) and Splunk HEC (8088) into ClickHouse, with metrics, health and
// readiness on 9598. Configuration comes from the environment
// (services/envconfig).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/bearer"
	"github.com/nanosiem/nano/services/ingest/hec"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/native"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
	"github.com/nanosiem/nano/services/ingest/writer"
	"github.com/nanosiem/nano/services/servicemain"
)

// version is set at build time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	servicemain.Run("ingest", version, loadConfig, func(ctx context.Context, cfg config, log *slog.Logger) error {
		return run(ctx, cfg, log, nil)
	})
}

// listeners lets tests bind the ports themselves; nil listens on cfg's.
type listeners struct{ ingest, hec, metrics, native net.Listener }

// run serves until ctx ends, then stops taking requests, commits what is
// queued and returns.
func run(ctx context.Context, cfg config, log *slog.Logger, ls *listeners) error {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        []string{cfg.ClickHouseAddr},
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password},
		DialTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second,
		MaxOpenConns: 8, ConnMaxLifetime: time.Hour,
	})
	if err != nil {
		return fmt.Errorf("cannot configure the ClickHouse client: %w", err)
	}
	defer conn.Close()
	m := telemetry.New()
	m.BuildInfo.WithLabelValues(version).Set(1)

	store := &tokens.Store{}
	if cfg.IngestToken != "" {
		if err := store.Add(cfg.IngestToken, tokens.Identity{Tenant: defaultTenant, Feed: "http", RatePerSecond: cfg.RatePerSecond}); err != nil {
			return fmt.Errorf("%s: %w", contract.IngestToken, err)
		}
	}
	if cfg.HECToken != "" {
		if err := store.Add(cfg.HECToken, tokens.Identity{Tenant: defaultTenant, Feed: "hec", RatePerSecond: cfg.RatePerSecond}); err != nil {
			return fmt.Errorf("%s: %w", contract.HECToken, err)
		}
	}

	// Feed tokens issued by the api, when its database is configured.
	if cfg.PostgresURL != "" {
		pool, err := pgxpool.New(ctx, cfg.PostgresURL)
		if err != nil {
			return fmt.Errorf("%s: %w", contract.PostgresURL, err)
		}
		defer pool.Close()
		go tokens.Sync(ctx, pool, store, cfg.RatePerSecond, cfg.TokenRefresh, log)
	}

	// The schema first: ClickHouse may start after us, so keep trying.
	engine, err := prepareSchema(ctx, conn, cfg.Engine, log)
	if err != nil {
		return err
	}
	wcfg := cfg.Writer
	wcfg.Table, wcfg.DedupTokens = engine.Table(), engine.Modern()
	w, err := writer.New(conn, wcfg, m, log)
	if err != nil {
		return err
	}
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() { w.Run(writerCtx); close(writerDone) }()

	budget := intake.NewBudget(int64(cfg.InflightBytes)) // shared by the HTTP protocols
	base := func(protocol string) *intake.Intake {
		return &intake.Intake{Protocol: protocol, Tokens: store, Limiter: tokens.NewLimiter(), Sink: w, Metrics: m,
			Log: log, Limits: cfg.Limits, Now: time.Now, Budget: budget}
	}
	metricsMux := http.NewServeMux()
	metricsMux.Handle("/metrics", promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}))
	metricsMux.HandleFunc(contract.HealthPath, func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	metricsMux.HandleFunc(contract.ReadyPath, func(rw http.ResponseWriter, r *http.Request) {
		if w.Saturated() {
			http.Error(rw, "write queue is full", http.StatusServiceUnavailable)
			return
		}
		pctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := conn.Ping(pctx); err != nil {
			http.Error(rw, "ClickHouse unreachable", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(rw, "ready")
	})
	metricsMux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, version) })

	servers := []*http.Server{
		newServer(cfg.IngestAddr, bearer.Handler{Intake: base("http")}),
		newServer(cfg.HECAddr, hec.New(base("hec"))),
		newServer(cfg.MetricsAddr, metricsMux),
	}
	var lns [3]net.Listener
	if ls != nil {
		lns = [3]net.Listener{ls.ingest, ls.hec, ls.metrics}
	}
	errc := make(chan error, len(servers)+1)
	var wg sync.WaitGroup
	for i, s := range servers {
		ln := lns[i]
		if ln == nil {
			if ln, err = net.Listen("tcp", s.Addr); err != nil {
				stopWriter()
				return fmt.Errorf("cannot listen on %s: %w", s.Addr, err)
			}
		}
		wg.Add(1)
		go func(s *http.Server, ln net.Listener) {
			defer wg.Done()
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}(s, ln)
	}
	// The Vector-native port (gRPC over mutual TLS).
	var grpcServer *grpc.Server
	if cfg.nativeEnabled() {
		tlsConfig, err := native.TLSConfig(cfg.NativeCert, cfg.NativeKey, cfg.NativeClientCA)
		if err != nil {
			stopServers(servers)
			wg.Wait()
			stopWriter()
			return err
		}
		var ln net.Listener
		if ls != nil {
			ln = ls.native
		}
		if ln == nil {
			if ln, err = net.Listen("tcp", cfg.NativeAddr); err != nil {
				stopServers(servers)
				wg.Wait()
				stopWriter()
				return fmt.Errorf("cannot listen on %s: %w", cfg.NativeAddr, err)
			}
		}
		grpcServer = native.NewServer(base("vector"), tlsConfig)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := grpcServer.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- err
			}
		}()
	} else {
		log.Info("Vector-native port off: set the TLS files to serve it", "cert", contract.NativeTLSCert)
	}
	log.Info("ingest serving", "http", cfg.IngestAddr, "hec", cfg.HECAddr, "metrics", cfg.MetricsAddr,
		"native", cfg.nativeEnabled(), "table", engine.Table(), "version", version)
	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	// Stop taking requests (in-flight ones finish), then commit the queue.
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, s := range servers {
		_ = s.Shutdown(shutdown)
	}
	if grpcServer != nil {
		stopped := make(chan struct{})
		go func() { grpcServer.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-shutdown.Done():
			grpcServer.Stop()
		}
	}
	wg.Wait()
	stopWriter()
	<-writerDone
	log.Info("ingest stopped", "queued", w.QueueDepth())
	return serveErr
}

func stopServers(servers []*http.Server) {
	for _, s := range servers {
		_ = s.Close()
	}
}

// newServer bounds header size and every phase of a request.
func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 90 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
	}
}

// prepareSchema detects the server's version and migrates, retrying until
// ctx ends while ClickHouse is unreachable.
func prepareSchema(ctx context.Context, conn driver.Conn, e events.Engine, log *slog.Logger) (events.Engine, error) {
	backoff := time.Second
	for {
		v, err := events.DetectVersion(ctx, conn)
		if err == nil {
			e.Version = v
			if err = events.Migrate(ctx, conn, e); err == nil {
				return e, nil
			}
		}
		log.Warn("ClickHouse not ready; retrying", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return e, fmt.Errorf("stopped before ClickHouse was ready: %w", err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}
