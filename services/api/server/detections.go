package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/quota"
)

// Rule is a detection rule as the API shows it.
type Rule struct {
	ID            int64   `json:"id" db:"id"`
	Name          string  `json:"name" db:"name"`
	Query         string  `json:"query" db:"query"`
	Schedule      string  `json:"schedule" db:"schedule"`
	WindowSeconds int     `json:"window_seconds" db:"window_seconds"`
	ThresholdOp   string  `json:"threshold_op" db:"threshold_op"`
	Threshold     float64 `json:"threshold" db:"threshold"`
	Signal        bool    `json:"signal" db:"signal"`
	Enabled       bool    `json:"enabled" db:"enabled"`
	// Severity and Labels go on the rule's alerts in Alertmanager.
	Severity  string            `json:"severity" db:"severity"`
	Labels    map[string]string `json:"labels" db:"labels"`
	NextRunAt time.Time         `json:"next_run_at" db:"next_run_at"`
	CreatedAt time.Time         `json:"created_at" db:"created_at"`
	UpdatedAt time.Time         `json:"updated_at" db:"updated_at"`
}

const ruleColumns = `id, name, query, schedule, window_seconds, threshold_op, threshold, signal, enabled, severity, labels, next_run_at, created_at, updated_at`

// ruleBody is a rule as sent.
type ruleBody struct {
	Name          string   `json:"name"`
	Query         string   `json:"query"`
	Schedule      string   `json:"schedule"`
	WindowSeconds int      `json:"window_seconds"`
	ThresholdOp   string   `json:"threshold_op"`
	Threshold     *float64 `json:"threshold"`
	Signal        bool     `json:"signal"`
	Enabled       *bool    `json:"enabled"`
	// Severity is warning (the default), critical or info; Labels are at
	// most 10 more labels of its alerts, for Alertmanager's routes.
	Severity string            `json:"severity"`
	Labels   map[string]string `json:"labels"`
}

func (b *ruleBody) validate() error {
	switch {
	case b.Name == "" || len(b.Name) > 200:
		return bad("name", "1 to 200 characters")
	case b.WindowSeconds < 60 || b.WindowSeconds > 30*86400:
		return bad("window_seconds", "from 60 to 2592000")
	case !slices.Contains([]string{">", ">=", "<", "<="}, b.ThresholdOp):
		return bad("threshold_op", "one of >, >=, <, <=")
	case b.Threshold == nil:
		return bad("threshold", "required: the count that raises an alert")
	case b.Severity != "" && !detect.ValidSeverity(b.Severity):
		return bad("severity", "one of %s", strings.Join(contract.RuleSeverities, ", "))
	}
	if err := detect.ValidateLabels(b.Labels); err != nil {
		return err
	}
	if b.Severity == "" {
		b.Severity = contract.RuleSeverities[0]
	}
	if b.Labels == nil {
		b.Labels = map[string]string{}
	}
	// Its first problem answers (a *fielderr.Error naming the field).
	if err := detect.Validate(detect.Rule{Query: b.Query, Schedule: b.Schedule, Signal: b.Signal}); err != nil {
		return err
	}
	if b.Enabled == nil {
		t := true
		b.Enabled = &t
	}
	return nil
}

// decodeRule reads and checks a rule as sent; it answers the problem and
// false when it is bad.
func (s *Server) decodeRule(w http.ResponseWriter, r *http.Request) (ruleBody, bool) {
	var b ruleBody
	if !jsonhttp.Decode(w, r, &b) {
		return b, false
	}
	if err := b.validate(); err != nil {
		s.respond(w, 0, nil, err)
		return b, false
	}
	return b, true
}

func (s *Server) listRules(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	serveList(s, w, r, p.Tenant, `SELECT `+ruleColumns+` FROM detection_rules WHERE tenant = $1 AND id > $2 ORDER BY id LIMIT $3`,
		func(x Rule) int64 { return x.ID })
}

// querier is the pool or a transaction.
type querier interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}

func (s *Server) oneRule(r *http.Request, q string, args ...any) (Rule, error) {
	return oneRuleOf(r, s.db(r), q, args...)
}

func oneRuleOf(r *http.Request, db querier, q string, args ...any) (Rule, error) {
	rows, err := db.Query(r.Context(), q, args...)
	if err != nil {
		return Rule{}, err
	}
	items, err := collectRules(rows)
	if err != nil {
		return Rule{}, err
	}
	if len(items) == 0 {
		return Rule{}, errNotFound
	}
	return items[0], nil
}

func (s *Server) createRule(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	b, ok := s.decodeRule(w, r)
	if !ok {
		return
	}
	var x Rule
	err := pgx.BeginFunc(r.Context(), s.db(r), func(tx pgx.Tx) error {
		if err := quota.Check(r.Context(), tx, p.Tenant, s.Limits.Rules, `SELECT count(*) FROM detection_rules WHERE tenant = $1`); err != nil {
			return err
		}
		if b.Signal {
			if err := quota.Check(r.Context(), tx, p.Tenant, s.Limits.SignalRules, `SELECT count(*) FROM detection_rules WHERE tenant = $1 AND signal`); err != nil {
				return err
			}
		}
		var err error
		x, err = oneRuleOf(r, tx, `INSERT INTO detection_rules (tenant, name, query, schedule, window_seconds, threshold_op, threshold, signal, enabled, severity, labels)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING `+ruleColumns, p.Tenant, b.Name, b.Query, b.Schedule, b.WindowSeconds, b.ThresholdOp, *b.Threshold, b.Signal, *b.Enabled,
			b.Severity, b.Labels)
		return err
	})
	s.respond(w, http.StatusCreated, x, err)
}

func (s *Server) getRule(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	var x Rule
	if err == nil {
		x, err = s.oneRule(r, `SELECT `+ruleColumns+` FROM detection_rules WHERE tenant = $1 AND id = $2`, p.Tenant, id)
	}
	s.respond(w, http.StatusOK, x, err)
}

func (s *Server) updateRule(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	b, ok := s.decodeRule(w, r)
	if !ok {
		return
	}
	var x Rule
	err = pgx.BeginFunc(r.Context(), s.db(r), func(tx pgx.Tx) error {
		// Turning a rule into a signal rule takes a signal rule's place.
		if b.Signal {
			if err := quota.Check(r.Context(), tx, p.Tenant, s.Limits.SignalRules, `SELECT count(*) FROM detection_rules WHERE tenant = $1 AND signal AND id <> $2`, id); err != nil {
				return err
			}
		}
		var err error
		x, err = oneRuleOf(r, tx, `UPDATE detection_rules SET name = $3, query = $4, schedule = $5, window_seconds = $6, threshold_op = $7, threshold = $8,
signal = $9, enabled = $10, severity = $11, labels = $12, next_run_at = now(), updated_at = now() WHERE tenant = $1 AND id = $2 RETURNING `+ruleColumns,
			p.Tenant, id, b.Name, b.Query, b.Schedule, b.WindowSeconds, b.ThresholdOp, *b.Threshold, b.Signal, *b.Enabled, b.Severity, b.Labels)
		return err
	})
	s.respond(w, http.StatusOK, x, err)
}

// Run is one evaluation of a rule.
type Run struct {
	ID         int64     `json:"id" db:"id"`
	StartedAt  time.Time `json:"started_at" db:"started_at"`
	FinishedAt time.Time `json:"finished_at" db:"finished_at"`
	Value      *float64  `json:"value" db:"value"`
	Alerts     int       `json:"alerts" db:"alerts"`
	Error      string    `json:"error,omitempty" db:"error"`
}

func (s *Server) listRuns(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	serveList(s, w, r, p.Tenant, `SELECT x.id, x.started_at, x.finished_at, x.value, x.alerts, x.error FROM rule_runs x
JOIN detection_rules d ON d.id = x.rule_id WHERE d.tenant = $1 AND x.id > $2 AND d.id = $4 ORDER BY x.id LIMIT $3`,
		func(x Run) int64 { return x.ID }, id)
}

// Baseline is a rule's auto-tuning result.
type Baseline struct {
	Samples            int       `json:"samples" db:"samples"`
	Mean               float64   `json:"mean" db:"mean"`
	StdDev             float64   `json:"stddev" db:"stddev"`
	SuggestedThreshold float64   `json:"suggested_threshold" db:"suggested_threshold"`
	ComputedAt         time.Time `json:"computed_at" db:"computed_at"`
}

func (s *Server) getBaseline(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	var b Baseline
	if err == nil {
		err = s.db(r).QueryRow(r.Context(), `SELECT b.samples, b.mean, b.stddev, b.suggested_threshold, b.computed_at FROM rule_baselines b
JOIN detection_rules d ON d.id = b.rule_id WHERE d.tenant = $1 AND d.id = $2`, p.Tenant, id).Scan(&b.Samples, &b.Mean, &b.StdDev, &b.SuggestedThreshold, &b.ComputedAt)
	}
	s.respond(w, http.StatusOK, b, err)
}

// Alert is a threshold crossing.
type Alert struct {
	ID          int64     `json:"id" db:"id"`
	RuleID      *int64    `json:"rule_id" db:"rule_id"`
	GroupKey    string    `json:"group,omitempty" db:"group_key"`
	Value       float64   `json:"value" db:"value"`
	WindowStart time.Time `json:"window_start" db:"window_start"`
	WindowEnd   time.Time `json:"window_end" db:"window_end"`
	Status      string    `json:"status" db:"status"`
	CreatedAt   time.Time `json:"created_at" db:"created_at"`
	// Labels are its identity in Alertmanager; Samples a few of the events
	// it counted.
	Labels  map[string]string `json:"labels" db:"labels"`
	Samples []detect.Sample   `json:"samples" db:"samples"`
	// Delivery is where its notification stands (see Delivery).
	Delivery Delivery `json:"delivery" db:"-"`
	// What Delivery is made of.
	PostedAt        *time.Time `json:"-" db:"posted_at"`
	DeliveredAt     *time.Time `json:"-" db:"delivered_at"`
	ResolvePostedAt *time.Time `json:"-" db:"resolve_posted_at"`
	DeliveryError   string     `json:"-" db:"delivery_error"`
}

// Delivery is an alert's way to Alertmanager as the api leader records
// it. State is off (the api has no Alertmanager), pending (not posted
// yet), sent (Alertmanager took it; its firing notification follows its
// routes), failed (no Alertmanager took it: Error says why; it is
// retried), resolving (acknowledged or closed, its end not posted yet) or
// resolved (its end posted: the resolved notification follows).
type Delivery struct {
	State       string     `json:"state"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	PostedAt    *time.Time `json:"posted_at,omitempty"`
	ResolvedAt  *time.Time `json:"resolved_at,omitempty"`
	Error       string     `json:"error,omitempty"`
}

// delivery derives an alert's Delivery.
func (s *Server) delivery(a Alert) Delivery {
	d := Delivery{DeliveredAt: a.DeliveredAt, PostedAt: a.PostedAt, ResolvedAt: a.ResolvePostedAt, Error: a.DeliveryError}
	switch {
	case s.Alertmanager == nil:
		d.State = "off"
	case a.Status != "open" && a.ResolvePostedAt != nil:
		d.State = "resolved"
	case a.DeliveryError != "":
		d.State = "failed"
	case a.Status != "open":
		d.State = "resolving"
	case a.DeliveredAt != nil:
		d.State = "sent"
	default:
		d.State = "pending"
	}
	return d
}

func (s *Server) listAlerts(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	limit, after, err := page(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains([]string{"open", "acknowledged", "closed"}, status) {
		s.respond(w, 0, nil, bad("status", "open, acknowledged or closed"))
		return
	}
	out, err := listOf(r.Context(), s.db(r), `SELECT id, rule_id, group_key, value, window_start, window_end, status, created_at,
labels, samples, posted_at, delivered_at, resolve_posted_at, delivery_error FROM alerts
WHERE tenant = $1 AND id > $2 AND ($4 = '' OR status = $4) ORDER BY id LIMIT $3`, p.Tenant, after, limit, func(a Alert) int64 { return a.ID }, status)
	for i := range out.Items {
		out.Items[i].Delivery = s.delivery(out.Items[i])
	}
	s.respond(w, http.StatusOK, out, err)
}

func (s *Server) updateAlert(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	var b alertBody
	if !jsonhttp.Decode(w, r, &b) {
		return
	}
	if !slices.Contains([]string{"open", "acknowledged", "closed"}, b.Status) {
		s.respond(w, 0, nil, bad("status", "open, acknowledged or closed"))
		return
	}
	// Reopened, it is posted again (and its end again once it is over);
	// acknowledged or closed, the leader posts its end (resolve_posted_at
	// is null while it is open).
	err = s.execOne(r, `UPDATE alerts SET status = $3,
posted_at = CASE WHEN $3 = 'open' AND status <> 'open' THEN NULL ELSE posted_at END,
resolve_posted_at = CASE WHEN $3 = 'open' THEN NULL ELSE resolve_posted_at END,
delivery_error = CASE WHEN $3 <> status THEN '' ELSE delivery_error END
WHERE tenant = $1 AND id = $2`, p.Tenant, id, b.Status)
	if errors.Is(err, errNotFound) {
		s.respond(w, 0, nil, err)
		return
	}
	s.respond(w, http.StatusNoContent, nil, err)
}

func collectRules(rows pgx.Rows) ([]Rule, error) {
	return pgx.CollectRows(rows, pgx.RowToStructByNameLax[Rule])
}

type alertBody struct {
	Status string `json:"status"`
}
