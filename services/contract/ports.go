package contract

import "strconv"

// Ports are the service ports of the seed's Services and Monitoring
// sections. The services listen on them by default; the components publish,
// route and scrape them; the images expose them.
var Ports = struct {
	API, Web, Search                    int
	IngestHTTP, IngestHEC, IngestNative int
	IngestMetrics, PostgresExporter     int
	// WebOps serves the UI's operational endpoints: its public port is
	// routed at "/" by the proxies, so they cannot sit there.
	WebOps int
	// IngestOTLP is OTLP/gRPC (OpenTelemetry logs; OTLP/HTTP is POST
	// /v1/logs on IngestHTTP).
	IngestOTLP int
	// IngestSyslogTLS is syslog over TLS (RFC 5425); IngestSyslog plain
	// TCP and UDP where the operator enables them (above 1024: ingest
	// runs unprivileged).
	IngestSyslogTLS, IngestSyslog int
}{
	API: 3000, Web: 3001, Search: 3002,
	IngestHTTP: 8080, IngestHEC: 8088, IngestNative: 6000,
	IngestMetrics: 9598, PostgresExporter: 9187, WebOps: 9599,
	IngestOTLP:      4317,
	IngestSyslogTLS: 6514, IngestSyslog: 5514,
}

// Public path prefixes: users reach api and search at
// https://<host>/api/... and /search/... (the Compose host's Caddy, the
// clusters' Ingress, both forwarding the prefix); every other path is the
// web UI's. Under its prefix a service answers its API alone; its
// operational endpoints (/metrics, /readyz, /healthz, /version) answer
// only at its own unprefixed paths, inside the deployment's network
// (servicemain.Prefixed).
const (
	APIPrefix    = "/api"
	SearchPrefix = "/search"
)

// Addr is the listen address of a port on every interface (":3000").
func Addr(port int) string { return ":" + strconv.Itoa(port) }

// Ingest's default listen addresses, from Ports.
var (
	DefaultIngestAddr  = Addr(Ports.IngestHTTP)
	DefaultHECAddr     = Addr(Ports.IngestHEC)
	DefaultMetricsAddr = Addr(Ports.IngestMetrics)
	DefaultNativeAddr  = Addr(Ports.IngestNative)
	DefaultOTLPAddr    = Addr(Ports.IngestOTLP)
)

// Ingest's syslog listen addresses, from Ports.
var (
	DefaultSyslogTLSAddr = Addr(Ports.IngestSyslogTLS)
	DefaultSyslogAddr    = Addr(Ports.IngestSyslog)
)
