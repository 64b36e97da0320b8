package server

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Metrics are the search service's Prometheus metrics; they also observe
// admission control.
type Metrics struct {
	Registry      *prometheus.Registry
	Requests      *prometheus.CounterVec
	AdmittedTotal prometheus.Counter
	Rejections    *prometheus.CounterVec
	WaitingG      prometheus.Gauge
	RunningG      prometheus.Gauge
	Wait          prometheus.Histogram
	Queries       *prometheus.HistogramVec
	RowsRead      prometheus.Counter
	BytesRead     prometheus.Counter
	BuildInfo     *prometheus.GaugeVec
}

// NewMetrics registers the metrics on a fresh registry.
func NewMetrics() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_search_requests_total",
			Help: "HTTP requests by route and status code."}, []string{"route", "code"}),
		AdmittedTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_search_admitted_total",
			Help: "Searches admitted to run."}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_search_rejected_total",
			Help: "Searches turned away by admission control, by reason (tenant_busy, busy, queue_full)."}, []string{"reason"}),
		WaitingG: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nano_search_queued",
			Help: "Searches waiting for a slot."}),
		RunningG: prometheus.NewGauge(prometheus.GaugeOpts{Name: "nano_search_running",
			Help: "Searches running."}),
		Wait: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "nano_search_admission_wait_seconds",
			Help: "Time admitted searches waited for a slot.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 8)}),
		Queries: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "nano_search_query_duration_seconds",
			Help:    "Search latency on ClickHouse by kind (events, stats) and status (ok, invalid, failed).",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 13)}, []string{"kind", "status"}),
		RowsRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_search_rows_read_total",
			Help: "Rows ClickHouse read for searches."}),
		BytesRead: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_search_bytes_read_total",
			Help: "Bytes ClickHouse read for searches."}),
		BuildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "nano_search_build_info",
			Help: "The running version (value 1)."}, []string{"version"}),
	}
	m.Registry.MustRegister(m.Requests, m.AdmittedTotal, m.Rejections, m.WaitingG, m.RunningG, m.Wait, m.Queries, m.RowsRead, m.BytesRead,
		m.BuildInfo, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Admitted, Rejected, Waiting and Running observe admission control.
func (m *Metrics) Admitted(wait time.Duration) { m.AdmittedTotal.Inc(); m.Wait.Observe(wait.Seconds()) }
func (m *Metrics) Rejected(reason string)      { m.Rejections.WithLabelValues(reason).Inc() }
func (m *Metrics) Waiting(delta int)           { m.WaitingG.Add(float64(delta)) }
func (m *Metrics) Running(delta int)           { m.RunningG.Add(float64(delta)) }
