// Package telemetry is the ingest service's Prometheus metrics, served on
// the metrics port (9598): accepted and rejected events by protocol and
// reason, bytes, batch sizes, flush latency, queue depth and ClickHouse
// errors.
package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/contract"
)

// Rejection reasons (label values of nano_ingest_rejected_events_total).
const (
	ReasonUnauthorized = "unauthorized"
	ReasonBadRequest   = "bad_request"
	ReasonTooLarge     = "too_large"
	ReasonOverloaded   = "overloaded"
	ReasonRateLimited  = "rate_limited"
	ReasonWriteFailed  = "write_failed"
	// ReasonRefused: ClickHouse refused that request's rows (the rest of
	// its batch was committed).
	ReasonRefused = contract.IngestReasonRefused
	// ReasonTooManyDays: a request's events span more days than allowed.
	ReasonTooManyDays = "too_many_days"
	// ReasonOverQuota: the tenant is over a quota (QuotaRefused says which).
	ReasonOverQuota = "over_quota"
	// ReasonDiskFull: ClickHouse's disk is nearly full.
	ReasonDiskFull = "disk_full"
)

// Metrics are the service's collectors, registered on Registry.
type Metrics struct {
	Registry     *prometheus.Registry
	Accepted     *prometheus.CounterVec // protocol
	Rejected     *prometheus.CounterVec // protocol, reason
	Requests     *prometheus.CounterVec // protocol, code
	Bytes        *prometheus.CounterVec // protocol
	BatchEvents  prometheus.Histogram
	FlushSeconds prometheus.Histogram
	QueueDepth   prometheus.Gauge
	CHErrors     prometheus.Counter
	FlushRetries prometheus.Counter
	PendingAcks  prometheus.Gauge
	BuildInfo    *prometheus.GaugeVec
	// BatchSplits counts batches ClickHouse refused that were split to
	// commit the requests it did not refuse.
	BatchSplits prometheus.Counter
	// Clamped counts events stored at their arrival time because their
	// own was outside the accepted window, by protocol and side (past,
	// future).
	Clamped *prometheus.CounterVec
	// QuotaRefused counts events refused because their tenant was over a
	// quota, by tenant and quota (events_per_second, bytes_per_day).
	QuotaRefused *prometheus.CounterVec
	// DiskFree is ClickHouse's free disk share as last read; DiskRefusing
	// is 1 while ingest refuses events for it.
	DiskFree        prometheus.Gauge
	DiskRefusing    prometheus.Gauge
	DiskCheckErrors prometheus.Counter
	// SyslogConnections are the syslog port's open connections by
	// transport (tls, tcp); SyslogRefused the connections and datagrams
	// refused before any message was read, by transport and reason.
	SyslogConnections *prometheus.GaugeVec
	SyslogRefused     *prometheus.CounterVec
}

// New creates and registers the collectors (and the Go/process ones).
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		Accepted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_ingest_accepted_events_total",
			Help: "Events committed to ClickHouse, by protocol."}, []string{"protocol"}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: contract.IngestRejectedMetric,
			Help: "Requests or events refused, by protocol and reason (an unparsable or unauthorized request counts once)."}, []string{"protocol", "reason"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_ingest_requests_total",
			Help: "HTTP requests by protocol and status code."}, []string{"protocol", "code"}),
		Bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_ingest_received_bytes_total",
			Help: "Request body bytes received (after decompression), by protocol."}, []string{"protocol"}),
		BatchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nano_ingest_batch_events",
			Help: "Events per ClickHouse insert.", Buckets: prometheus.ExponentialBuckets(1, 4, 10)}),
		FlushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nano_ingest_flush_seconds",
			Help: "Time to commit one batch to ClickHouse, retries included.", Buckets: prometheus.DefBuckets}),
		QueueDepth: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nano_ingest_queue_events",
			Help: "Events accepted into the write queue and not yet committed."}),
		CHErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_ingest_clickhouse_errors_total",
			Help: "Failed ClickHouse insert attempts."}),
		FlushRetries: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_ingest_flush_retries_total",
			Help: "Insert attempts retried with the batch's deduplication token."}),
		PendingAcks: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nano_ingest_hec_pending_acks",
			Help: "HEC acknowledgement ids issued and not yet queried as committed."}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nano_ingest_build_info",
			Help: "Always 1; the version label is the build."}, []string{"version"}),
		BatchSplits: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_ingest_batch_splits_total",
			Help: "Batches ClickHouse refused, split to commit the requests it did not refuse."}),
		Clamped: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_ingest_clamped_events_total",
			Help: "Events stored at their arrival time because their own was outside the accepted window (kept in nano.original_time), by protocol and side."}, []string{"protocol", "side"}),
		QuotaRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: contract.IngestQuotaRefusalsMetric,
			Help: "Events refused (429) because their tenant was over a quota, by tenant and quota."}, []string{"tenant", "quota"}),
		DiskFree: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nano_ingest_clickhouse_disk_free_ratio",
			Help: "Free share of ClickHouse's disk (the fullest server's on a cluster), as ingest last read it."}),
		DiskRefusing: prometheus.NewGauge(prometheus.GaugeOpts{Name: contract.IngestDiskRefusingMetric,
			Help: "1 while ingest refuses new events because ClickHouse's disk is nearly full."}),
		DiskCheckErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_ingest_disk_check_errors_total",
			Help: "Failed reads of ClickHouse's free disk space."}),
		SyslogConnections: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nano_ingest_syslog_connections",
			Help: "Open syslog connections, by transport."}, []string{"transport"}),
		SyslogRefused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_ingest_syslog_refused_total",
			Help: "Syslog connections (and datagrams) refused before a message was read, by transport and reason (source, handshake, certificate, connection_limit)."}, []string{"transport", "reason"}),
	}
	r.MustRegister(m.Accepted, m.Rejected, m.Requests, m.Bytes, m.BatchEvents, m.FlushSeconds, m.QueueDepth,
		m.CHErrors, m.FlushRetries, m.PendingAcks, m.BuildInfo, m.BatchSplits, m.Clamped, m.QuotaRefused,
		m.DiskFree, m.DiskRefusing, m.DiskCheckErrors, m.SyslogConnections, m.SyslogRefused,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}
