package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-openapi/strfmt"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/alertmanager/api/v2/models"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/api/leader"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/search/query"
)

// Bounds of one delivery pass: alerts (label sets) posted, and the bytes
// of the samples annotation.
const (
	maxPerPass       = 200
	maxSamplesText   = 4 << 10
	DefaultResend    = time.Minute
	resendsUntilEnds = 4
)

// Deliverer is the leader's delivery task.
type Deliverer struct {
	DB *pgxpool.Pool
	AM *Client
	// Resend is how often an open alert is posted again; Alertmanager
	// resolves one it has not heard of for resendsUntilEnds of these.
	Resend time.Duration
	// WebURL is the UI's public base URL ("": links are relative).
	WebURL  string
	Log     *slog.Logger
	Metrics *Metrics
	Now     func() time.Time
}

// Metrics count what the leader posted.
type Metrics struct {
	Posted   *prometheus.CounterVec
	Failures prometheus.Counter
}

// NewMetrics registers the delivery metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Posted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "nano_api_alerts_posted_total",
			Help: "Alerts the api leader posted to Alertmanager, firing or resolved."}, []string{"state"}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{Name: "nano_api_alert_posts_failed_total",
			Help: "Posts to Alertmanager that no member accepted."}),
	}
	reg.MustRegister(m.Posted, m.Failures)
	return m
}

func (d *Deliverer) now() time.Time {
	if d.Now != nil {
		return d.Now()
	}
	return time.Now()
}

func (d *Deliverer) resend() time.Duration {
	if d.Resend <= 0 {
		return DefaultResend
	}
	return d.Resend
}

// pending is one alert (label set) to post: the newest open row's values
// and the first one's start.
type pending struct {
	labels     map[string]string
	raw        []byte
	first      time.Time
	value      float64
	start, end time.Time
	group      []detect.GroupValue
	samples    []detect.Sample
	op         *string
	threshold  *float64
	query      *string
}

// Deliver is one pass (a scheduler task): the open alerts due for a post,
// then the ends of those acknowledged or closed since.
func (d *Deliverer) Deliver(ctx context.Context, epoch int64) error {
	return errors.Join(d.fire(ctx, epoch), d.resolve(ctx, epoch))
}

const selectPending = `SELECT DISTINCT ON (a.labels) a.labels, min(a.created_at) OVER (PARTITION BY a.labels), a.value, a.window_start, a.window_end,
    a.group_values, a.samples, r.threshold_op, r.threshold, r.query
FROM alerts a JOIN due ON due.labels = a.labels LEFT JOIN detection_rules r ON r.id = a.rule_id
WHERE %s
ORDER BY a.labels, a.id DESC`

func (d *Deliverer) read(ctx context.Context, due, where string, args ...any) ([]pending, error) {
	rows, err := d.DB.Query(ctx, "WITH due AS ("+due+") "+fmt.Sprintf(selectPending, where), args...)
	if err != nil {
		return nil, fmt.Errorf("cannot read the alerts to deliver: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (pending, error) {
		var p pending
		var group, samples []byte
		err := r.Scan(&p.raw, &p.first, &p.value, &p.start, &p.end, &group, &samples, &p.op, &p.threshold, &p.query)
		for _, x := range []struct {
			b []byte
			v any
		}{{p.raw, &p.labels}, {group, &p.group}, {samples, &p.samples}} {
			if err == nil {
				err = json.Unmarshal(x.b, x.v)
			}
		}
		return p, err
	})
}

// fire posts the open alerts never posted, or not for Resend.
func (d *Deliverer) fire(ctx context.Context, epoch int64) error {
	now := d.now()
	due := `SELECT labels FROM alerts WHERE status = 'open' AND labels <> '{}'::jsonb AND tenant <> $3
GROUP BY labels HAVING bool_or(posted_at IS NULL) OR max(posted_at) < $1 ORDER BY min(id) LIMIT $2`
	todo, err := d.read(ctx, due, "a.status = 'open'", now.Add(-d.resend()), maxPerPass, contract.PlatformTenant)
	if err != nil || len(todo) == 0 {
		return err
	}
	ends := now.Add(resendsUntilEnds * d.resend())
	alerts := make(models.PostableAlerts, 0, len(todo))
	for _, p := range todo {
		alerts = append(alerts, d.postable(p, p.first, ends))
	}
	accepted, postErr := d.AM.Post(ctx, alerts)
	return d.record(ctx, epoch, todo, accepted, postErr, `UPDATE alerts SET posted_at = $2, delivered_at = coalesce(delivered_at, $2), delivery_error = ''
WHERE status = 'open' AND labels = ANY($1::jsonb[])`, `UPDATE alerts SET delivery_error = $2 WHERE status = 'open' AND labels = ANY($1::jsonb[])`, now, "firing")
}

// resolve posts the end of every alert whose rows are all acknowledged or
// closed (Alertmanager then sends the resolved notification), and marks
// those another open row still keeps firing.
func (d *Deliverer) resolve(ctx context.Context, epoch int64) error {
	now := d.now()
	err := leader.Fence(ctx, d.DB, epoch, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `UPDATE alerts a SET resolve_posted_at = $1 WHERE a.status <> 'open' AND a.resolve_posted_at IS NULL
AND EXISTS (SELECT 1 FROM alerts o WHERE o.status = 'open' AND o.labels = a.labels)`, now)
		return err
	})
	if err != nil {
		return fmt.Errorf("cannot mark the alerts still firing: %w", err)
	}
	due := `SELECT labels FROM alerts WHERE status <> 'open' AND resolve_posted_at IS NULL AND labels <> '{}'::jsonb AND tenant <> $2
GROUP BY labels ORDER BY min(id) LIMIT $1`
	todo, err := d.read(ctx, due, "a.status <> 'open' AND a.resolve_posted_at IS NULL", maxPerPass, contract.PlatformTenant)
	if err != nil || len(todo) == 0 {
		return err
	}
	alerts := make(models.PostableAlerts, 0, len(todo))
	for _, p := range todo {
		alerts = append(alerts, d.postable(p, p.first, now))
	}
	accepted, postErr := d.AM.Post(ctx, alerts)
	return d.record(ctx, epoch, todo, accepted, postErr, `UPDATE alerts SET resolve_posted_at = $2, delivery_error = ''
WHERE status <> 'open' AND resolve_posted_at IS NULL AND labels = ANY($1::jsonb[])`,
		`UPDATE alerts SET delivery_error = $2 WHERE status <> 'open' AND resolve_posted_at IS NULL AND labels = ANY($1::jsonb[])`, now, "resolved")
}

// record writes a post's outcome on its rows, fenced: done when a member
// accepted it, else the error (and the task fails).
func (d *Deliverer) record(ctx context.Context, epoch int64, todo []pending, accepted int, postErr error, done, failed string, now time.Time, state string) error {
	keys := make([][]byte, len(todo))
	for i, p := range todo {
		keys[i] = p.raw
	}
	if accepted == 0 {
		if postErr == nil {
			postErr = errors.New("no Alertmanager is configured")
		}
		d.Metrics.Failures.Inc()
		msg := bounded(postErr.Error(), 500)
		if err := leader.Fence(ctx, d.DB, epoch, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, failed, keys, msg)
			return err
		}); err != nil {
			return errors.Join(postErr, err)
		}
		return fmt.Errorf("cannot post %d %s alerts to Alertmanager: %w", len(todo), state, postErr)
	}
	if postErr != nil {
		d.Log.Warn("an Alertmanager did not take the alerts (another did)", "error", postErr)
	}
	d.Metrics.Posted.WithLabelValues(state).Add(float64(len(todo)))
	return leader.Fence(ctx, d.DB, epoch, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, done, keys, now)
		return err
	})
}

// postable is the alert Alertmanager gets: the labels it was raised with,
// and annotations that say what crossed, with a few of its events and a
// link to them.
func (d *Deliverer) postable(p pending, starts, ends time.Time) *models.PostableAlert {
	a := &models.PostableAlert{
		Alert:       models.Alert{Labels: models.LabelSet(p.labels)},
		Annotations: d.annotations(p),
		StartsAt:    strfmt.DateTime(starts),
		EndsAt:      strfmt.DateTime(ends),
	}
	if link := d.link(p); strings.HasPrefix(link, "http") {
		a.GeneratorURL = strfmt.URI(link)
	}
	return a
}

func (d *Deliverer) annotations(p pending) models.LabelSet {
	name := p.labels[contract.LabelAlertname]
	count := strconv.FormatFloat(p.value, 'f', -1, 64)
	window := p.end.Sub(p.start).Round(time.Second)
	summary := fmt.Sprintf("%s: %s events in %s", name, count, window)
	if len(p.group) > 0 {
		var group []string
		for _, g := range p.group {
			group = append(group, g.Field+"="+g.Value)
		}
		summary += " (" + bounded(strings.Join(group, ", "), 300) + ")"
	}
	out := models.LabelSet{
		"summary": summary,
		"count":   count,
		"window":  p.start.UTC().Format(time.RFC3339) + " to " + p.end.UTC().Format(time.RFC3339),
		"link":    d.link(p),
	}
	desc := fmt.Sprintf("Rule %q counted %s matching events of tenant %s from %s to %s (UTC)", name, count, p.labels[contract.LabelTenant],
		p.start.UTC().Format(time.RFC3339), p.end.UTC().Format(time.RFC3339))
	if p.op != nil && p.threshold != nil {
		out["threshold"] = *p.op + " " + strconv.FormatFloat(*p.threshold, 'f', -1, 64)
		desc += "; it alerts when the count is " + out["threshold"]
	}
	out["description"] = desc + "."
	if len(p.samples) > 0 {
		var b strings.Builder
		for _, s := range p.samples {
			line := strings.TrimSpace(strings.Join([]string{s.Time, s.Host, s.Service, s.Severity}, " ")) + ": " + s.Message
			if b.Len()+len(line) > maxSamplesText {
				break
			}
			b.WriteString(line + "\n")
		}
		out["samples"] = strings.TrimSuffix(b.String(), "\n")
	}
	return out
}

// link is the search in the UI that shows the alert's events: the rule's
// filter and lookups, its group's values, its window.
func (d *Deliverer) link(p pending) string {
	if p.query == nil {
		return ""
	}
	q := linkQuery(*p.query, p.group)
	v := url.Values{"q": {q}, "from": {p.start.UTC().Format(time.RFC3339)}, "to": {p.end.UTC().Format(time.RFC3339)}}
	return strings.TrimSuffix(d.WebURL, "/") + "/#/search?" + v.Encode()
}

// linkQuery is the rule's query without its stats, sort, fields and
// limit stages (the UI shows the events), each group-by field equal to its
// value in this alert.
func linkQuery(rule string, group []detect.GroupValue) string {
	filter, stages, err := query.Stages(rule)
	if err != nil {
		return rule
	}
	terms := []string{}
	if filter != "" {
		terms = append(terms, "("+filter+")")
	}
	for _, g := range group {
		terms = append(terms, g.Field+":"+query.Phrase(g.Value))
	}
	out := strings.Join(terms, " ")
	for _, st := range stages {
		if strings.HasPrefix(strings.ToLower(st), "lookup") {
			out += " | " + st
		}
	}
	return out
}

func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
