package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc"

	"github.com/nanosiem/nano/services/cli"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/depwait"
	"github.com/nanosiem/nano/services/events"
	"github.com/nanosiem/nano/services/ingest/bearer"
	"github.com/nanosiem/nano/services/ingest/diskguard"
	"github.com/nanosiem/nano/services/ingest/hec"
	"github.com/nanosiem/nano/services/ingest/intake"
	"github.com/nanosiem/nano/services/ingest/native"
	"github.com/nanosiem/nano/services/ingest/otlp"
	"github.com/nanosiem/nano/services/ingest/quota"
	"github.com/nanosiem/nano/services/ingest/syslog"
	"github.com/nanosiem/nano/services/ingest/telemetry"
	"github.com/nanosiem/nano/services/ingest/tokens"
	"github.com/nanosiem/nano/services/ingest/writer"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/servicemain"
)

// version is set at build time (-ldflags "-X main.version=..."); empty:
// the build's VCS information.
var version = ""

func main() {
	version = cli.VersionOr(version)
	servicemain.Run("ingest", version, loadConfig, func(ctx context.Context, cfg config, log *slog.Logger) error {
		return run(ctx, cfg, log, nil)
	})
}

// listeners lets tests bind the ports themselves; nil listens on cfg's.
type listeners struct {
	ingest, hec, metrics, native, otlp net.Listener
	syslogTLS, syslogTCP               net.Listener
	syslogUDP                          net.PacketConn
	// diskProbe, when set, reads ClickHouse's free disk share instead of
	// the server ingest writes to (a test's other ClickHouse).
	diskProbe diskguard.Probe
}

// run serves until ctx ends, then stops taking requests, commits what is
// queued and returns.
func run(ctx context.Context, cfg config, log *slog.Logger, ls *listeners) error {
	if ls == nil {
		ls = &listeners{}
	}
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:        cfg.ClickHouseAddrs,
		Auth:        clickhouse.Auth{Database: "default", Username: cfg.User, Password: cfg.Password},
		TLS:         cfg.ClickHouseTLS,
		DialTimeout: 5 * time.Second, ReadTimeout: 60 * time.Second,
		MaxOpenConns: 8, ConnMaxLifetime: time.Hour,
	})
	if err != nil {
		return fmt.Errorf("cannot configure the ClickHouse client: %w", err)
	}
	defer conn.Close()
	m := telemetry.New()
	m.BuildInfo.WithLabelValues(version).Set(1)

	store, err := bootstrapTokens(cfg)
	if err != nil {
		return err
	}
	quotas := quota.New(cfg.Quotas)
	pool, err := openMetadata(ctx, cfg, store, quotas, log)
	if err != nil {
		return err
	}
	if pool != nil {
		defer pool.Close()
	}
	engine, err := waitForTable(ctx, conn, cfg.Engine, log)
	if err != nil {
		return err
	}
	wcfg, window := insertLimits(ctx, conn, cfg, engine, log)
	w, err := writer.New(conn, wcfg, m, log)
	if err != nil {
		return err
	}
	writerCtx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() { w.Run(writerCtx); close(writerDone) }()
	defer func() {
		stopWriter()
		<-writerDone
		log.Info("ingest stopped", "queued", w.QueueDepth())
	}()
	disk := startDiskGuard(ctx, cfg, conn, engine, ls.diskProbe, m, log)
	budget := intake.NewBudget(int64(cfg.InflightBytes)) // shared by the HTTP protocols
	base := func(protocol string) *intake.Intake {
		return &intake.Intake{Protocol: protocol, Tokens: store, Limiter: tokens.NewLimiter(), Sink: w, Metrics: m,
			Log: log, Limits: cfg.Limits, Now: time.Now, Budget: budget, MinBodyRate: int64(cfg.MinBodyRate),
			Window: window, Quotas: quotas, Disk: disk}
	}
	s := &servers{}
	defer s.stop(ctx)
	if err := serveHTTPPorts(ctx, cfg, ls, s, base, pool, opsMux(conn, w, m), log); err != nil {
		return err
	}
	if err := serveGRPCPorts(cfg, ls, s, base, log); err != nil {
		return err
	}
	if err := serveSyslog(ctx, cfg, base(syslog.Protocol), ls, s, log); err != nil {
		return err
	}
	log.Info("ingest serving", "http", cfg.IngestAddr, "hec", cfg.HECAddr, "otlp", cfg.OTLPAddr, "metrics", cfg.MetricsAddr,
		"native", cfg.nativeEnabled(), "table", engine.Table(), "version", version)
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.errc:
		return err
	}
}

// openMetadata connects to the api's database when it is configured (nil
// otherwise): feed tokens issued by the api, the tenants' byte counts and
// HEC acknowledgements shared by the replicas. The metadata tables may come
// later than ingest (the database starting, or the api migrating it;
// ingest may not change the schema): until they exist, HEC requests with a
// channel get 503 and only the bootstrap tokens are known. Feed tokens are
// read once the api's migrations are done, not before (no error for a
// table that is not there yet).
func openMetadata(ctx context.Context, cfg config, store *tokens.Store, quotas *quota.Quotas, log *slog.Logger) (*pgxpool.Pool, error) {
	if cfg.PostgresURL == "" {
		return nil, nil
	}
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", contract.PostgresURL, err)
	}
	go func() {
		if depwait.Retry(ctx, log, "the metadata schema", func(ctx context.Context) error { return metadb.Ready(ctx, pool) }) == nil {
			go quotas.SyncEvery(ctx, pool, quotaSync, log)
			tokens.Sync(ctx, pool, store, cfg.RatePerSecond, cfg.TokenRefresh, log)
		}
	}()
	return pool, nil
}

// waitForTable waits for the events table: ClickHouse may start after
// ingest, and the api creates the schema (ingest may insert, not create or
// alter), so it keeps trying. It returns the engine with the server's
// version.
func waitForTable(ctx context.Context, conn driver.Conn, engine events.Engine, log *slog.Logger) (events.Engine, error) {
	err := depwait.Retry(ctx, log, "the events table", func(ctx context.Context) (err error) {
		if engine.Version, err = events.DetectVersion(ctx, conn); err != nil {
			return err
		}
		return events.Ready(ctx, conn, engine)
	})
	return engine, err
}

// insertLimits are the writer's configuration and the accepted window for
// this server: an insert holds no more days than it takes in one block.
func insertLimits(ctx context.Context, conn driver.Conn, cfg config, engine events.Engine, log *slog.Logger) (writer.Config, intake.Window) {
	wcfg, window := cfg.Writer, cfg.Window
	wcfg.Table, wcfg.Settings = engine.InsertTable(), engine.InsertSettings
	if limit, err := partitionLimit(ctx, conn); err != nil {
		log.Warn("cannot read ClickHouse's max_partitions_per_insert_block; batches hold at most "+contract.IngestBatchDays, "days", wcfg.MaxBatchDays, "error", err)
	} else if limit > 0 && limit < wcfg.MaxBatchDays {
		log.Info("ClickHouse takes fewer partitions per insert than "+contract.IngestBatchDays+": batches and requests hold at most its limit", "days", limit)
		wcfg.MaxBatchDays = limit
		window.MaxDays = min(window.MaxDays, limit)
	}
	return wcfg, window
}

// startDiskGuard starts the guard that reads the disk of the servers
// ingest writes to (probe: nil for ClickHouse's own view), when configured.
func startDiskGuard(ctx context.Context, cfg config, conn driver.Conn, engine events.Engine, probe diskguard.Probe, m *telemetry.Metrics, log *slog.Logger) *diskguard.Guard {
	if probe == nil {
		probe = func(ctx context.Context) (float64, error) { return events.DiskFree(ctx, conn, engine) }
	}
	disk := &diskguard.Guard{MinFree: cfg.MinDiskFree, Probe: probe, Interval: cfg.DiskCheckInterval, Metrics: m, Log: log}
	if cfg.MinDiskFree > 0 {
		// Read once before serving: a full disk refuses from the first request.
		if err := disk.Check(ctx); err != nil && !errors.Is(err, events.ErrNoDiskView) {
			log.Warn("cannot read ClickHouse's free disk space", "error", err)
		}
		go disk.Run(ctx)
	}
	return disk
}

// opsMux serves the metrics, health and readiness endpoints.
func opsMux(conn driver.Conn, w *writer.Writer, m *telemetry.Metrics) *http.ServeMux {
	mux := http.NewServeMux()
	servicemain.Ops(mux, m.Registry, func(ctx context.Context) error {
		if w.Saturated() {
			return errors.New("write queue is full")
		}
		if err := conn.Ping(ctx); err != nil {
			return errors.New("ClickHouse unreachable")
		}
		return nil
	}, version)
	return mux
}

// serveHTTPPorts serves the bearer and OTLP/HTTP port, HEC (its
// acknowledgements shared through pool when set) and the ops port; the
// shippers' ports over TLS when configured.
func serveHTTPPorts(ctx context.Context, cfg config, ls *listeners, s *servers, base func(string) *intake.Intake, pool *pgxpool.Pool, ops http.Handler, log *slog.Logger) error {
	hecHandler := hec.New(base("hec"))
	if pool != nil {
		hecHandler.Share(ctx, &hec.PGShared{DB: pool, Log: log})
	}
	for _, hs := range []struct {
		addr   string
		ln     net.Listener
		h      http.Handler
		public bool // the shippers' ports: TLS when configured
	}{
		{cfg.IngestAddr, ls.ingest, ingestMux(base("http"), base(otlp.Protocol)), true},
		{cfg.HECAddr, ls.hec, hecHandler, true},
		{cfg.MetricsAddr, ls.metrics, ops, false},
	} {
		srv := newServer(hs.addr, hs.h)
		ln := hs.ln
		if hs.public && cfg.HTTPTLS != nil {
			var err error
			if ln, err = servicemain.Listen(ln, hs.addr); err != nil {
				return err
			}
			ln = tls.NewListener(ln, cfg.HTTPTLS)
		}
		if err := s.serveHTTP(srv, ln); err != nil {
			return err
		}
	}
	return nil
}

// serveGRPCPorts serves the Vector-native port (gRPC over mutual TLS) when
// its TLS files are set, and OTLP/gRPC with the HTTP ports' TLS (plain
// behind a proxy that terminates it).
func serveGRPCPorts(cfg config, ls *listeners, s *servers, base func(string) *intake.Intake, log *slog.Logger) error {
	if cfg.nativeEnabled() {
		tlsConfig, err := native.TLSConfig(cfg.NativeCert, cfg.NativeKey, cfg.NativeClientCA)
		if err != nil {
			return err
		}
		if err := s.serveGRPC(native.NewServer(base("vector"), tlsConfig), ls.native, cfg.NativeAddr); err != nil {
			return err
		}
	} else {
		log.Info("Vector-native port off: set the TLS files to serve it", "cert", contract.NativeTLSCert)
	}
	otlpServer, _ := otlp.NewGRPCServer(base(otlp.Protocol), cfg.HTTPTLS, int64(cfg.InflightBytes))
	return s.serveGRPC(otlpServer, ls.otlp, cfg.OTLPAddr)
}

// ingestMux serves the HTTP port: POST /v1/events (bearer) and POST
// /v1/logs (OTLP/HTTP).
func ingestMux(bearerIn, otlpIn *intake.Intake) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(otlp.Path, otlp.HTTP{Intake: otlpIn})
	mux.Handle("/", bearer.Handler{Intake: bearerIn})
	return mux
}

// quotaSync is how often a replica adds its tenants' byte counts to the
// shared ones and reads the others'.
const quotaSync = 10 * time.Second

// partitionLimit is the server's max_partitions_per_insert_block (0: none,
// or a server without the setting).
func partitionLimit(ctx context.Context, conn clickhouse.Conn) (int, error) {
	rows, err := conn.Query(ctx, "SELECT value FROM system.settings WHERE name = 'max_partitions_per_insert_block'")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	limit := 0
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return 0, err
		}
		if limit, err = strconv.Atoi(v); err != nil {
			return 0, fmt.Errorf("max_partitions_per_insert_block is %q", v)
		}
	}
	return limit, rows.Err()
}

// bootstrapTokens holds the configured bootstrap tokens of the HTTP and
// HEC ports.
func bootstrapTokens(cfg config) (*tokens.Store, error) {
	store := &tokens.Store{}
	for _, t := range []struct{ key, token, feed string }{
		{contract.IngestToken, cfg.IngestToken, "http"},
		{contract.HECToken, cfg.HECToken, "hec"},
	} {
		if t.token == "" {
			continue
		}
		if err := store.Add(t.token, tokens.Identity{Tenant: defaultTenant, Feed: t.feed, Kind: t.feed, RatePerSecond: cfg.RatePerSecond}); err != nil {
			return nil, fmt.Errorf("%s: %w", t.key, err)
		}
	}
	return store, nil
}

// servers are ingest's listening servers; stop ends them all.
type servers struct {
	http []*http.Server
	grpc []*grpc.Server
	wg   sync.WaitGroup
	errc chan error
	// others stop the servers that are not HTTP or gRPC (syslog) and wait
	// for them, after the others stopped and before the writer does.
	others []func()
}

func (s *servers) fail(err error) {
	select {
	case s.errc <- err:
	default:
	}
}

func (s *servers) serveHTTP(hs *http.Server, ln net.Listener) error {
	if s.errc == nil {
		s.errc = make(chan error, 1)
	}
	ln, err := servicemain.Listen(ln, hs.Addr)
	if err != nil {
		return err
	}
	s.http = append(s.http, hs)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(fmt.Errorf("cannot serve %s: %w", hs.Addr, err))
		}
	}()
	return nil
}

func (s *servers) serveGRPC(gs *grpc.Server, ln net.Listener, addr string) error {
	ln, err := servicemain.Listen(ln, addr)
	if err != nil {
		return err
	}
	s.grpc = append(s.grpc, gs)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := gs.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			s.fail(fmt.Errorf("cannot serve %s: %w", addr, err))
		}
	}()
	return nil
}

// stop stops taking requests and lets those in flight finish (up to 30 s).
func (s *servers) stop(ctx context.Context) {
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, hs := range s.http {
		_ = hs.Shutdown(shutdown)
	}
	for _, gs := range s.grpc {
		stopped := make(chan struct{})
		go func() { gs.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-shutdown.Done():
			gs.Stop()
		}
	}
	for _, stop := range s.others {
		stop()
	}
	s.wg.Wait()
}

// newServer bounds header size and every phase of a request.
func newServer(addr string, h http.Handler) *http.Server {
	return &http.Server{
		Addr: addr, Handler: h,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second, WriteTimeout: 90 * time.Second,
		IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
	}
}

// serveSyslog serves the syslog port's transports that are configured:
// TLS when its certificate is, plain TCP and UDP for their sources.
func serveSyslog(ctx context.Context, cfg config, in *intake.Intake, ls *listeners, s *servers, log *slog.Logger) error {
	tcp, udp := len(cfg.SyslogTCPSources) > 0, len(cfg.SyslogUDPSources) > 0
	if cfg.SyslogTLS == nil && !tcp && !udp {
		log.Info("syslog port off: set its TLS certificate (or plain sources) to serve it", "cert", contract.SyslogTLSCert)
		return nil
	}
	sc := cfg.Syslog
	sc.Sources, sc.UDPSources = cfg.SyslogTCPSources, cfg.SyslogUDPSources
	srv := syslog.New(in, sc)
	sctx, cancel := context.WithCancel(ctx)
	s.others = append(s.others, func() { cancel(); srv.Wait() })
	serve := func(what string, f func() error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f(); err != nil {
				s.fail(fmt.Errorf("cannot serve syslog %s: %w", what, err))
			}
		}()
	}
	if s.errc == nil {
		s.errc = make(chan error, 1)
	}
	if cfg.SyslogTLS != nil {
		ln, err := servicemain.Listen(ls.syslogTLS, cfg.SyslogTLSAddr)
		if err != nil {
			cancel()
			return err
		}
		tln := tls.NewListener(ln, cfg.SyslogTLS)
		serve("over TLS", func() error { return srv.ServeTCP(sctx, tln, syslog.TransportTLS) })
	}
	if tcp {
		ln, err := servicemain.Listen(ls.syslogTCP, cfg.SyslogAddr)
		if err != nil {
			cancel()
			return err
		}
		serve("over TCP", func() error { return srv.ServeTCP(sctx, ln, syslog.TransportTCP) })
	}
	if udp {
		pc := ls.syslogUDP
		if pc == nil {
			var err error
			if pc, err = net.ListenPacket("udp", cfg.SyslogAddr); err != nil {
				cancel()
				return fmt.Errorf("cannot listen on %s/udp: %w", cfg.SyslogAddr, err)
			}
		}
		serve("over UDP", func() error { return srv.ServeUDP(sctx, pc) })
	}
	log.Info("syslog serving", "tls", cfg.SyslogTLS != nil, "tls_addr", cfg.SyslogTLSAddr, "tcp", tcp, "udp", udp, "addr", cfg.SyslogAddr)
	return nil
}
