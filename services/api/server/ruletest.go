package server

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/nanosiem/nano/services/api/detect"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/fielderr"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/search/query"
)

// Bounds of rule tests: how many run at once (more are turned away with
// 429), and how many groups an answer lists (a run measures at most
// detect.MaxGroups).
const (
	maxRuleTests  = 2
	maxTestGroups = 100
)

// RuleTest is what a run of a rule would decide now, over the rule's
// window ending now: the scheduler's own evaluation (detect.Evaluate),
// with nothing recorded and no alert raised or sent.
type RuleTest struct {
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	ThresholdOp string    `json:"threshold_op"`
	Threshold   float64   `json:"threshold"`
	// Value is what the run records (the sum over its groups); Alerts how
	// many groups would raise an alert.
	Value  float64 `json:"value"`
	Alerts int     `json:"alerts"`
	// Groups are the measured groups, those that raise an alert first
	// (each part in the query's order), at most 100; TotalGroups counts
	// them all and Truncated says some are not listed.
	Groups      []detect.Verdict `json:"groups"`
	TotalGroups int              `json:"total_groups"`
	Truncated   bool             `json:"truncated"`
}

// testDraftRule answers POST /v1/rules/test: a rule as it would be created
// (the same fields and checks), tested without being saved.
func (s *Server) testDraftRule(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	b, ok := s.decodeRule(w, r)
	if !ok {
		return
	}
	if b.Signal {
		// Its view is named after the saved rule and counts the events
		// inserted since it was made: a draft has none.
		s.respond(w, 0, nil, bad("signal", "a signal rule counts the events its view saw since the rule's first run; save it, then test it (POST /v1/rules/{id}/test)"))
		return
	}
	s.testRule(w, r, detect.Rule{Tenant: p.Tenant, Name: b.Name, Query: b.Query, Schedule: b.Schedule, Window: time.Duration(b.WindowSeconds) * time.Second,
		Op: b.ThresholdOp, Threshold: *b.Threshold, Signal: b.Signal, Severity: b.Severity, Labels: b.Labels})
}

// testSavedRule answers POST /v1/rules/{id}/test: the tenant's saved rule
// as its next run would see it now.
func (s *Server) testSavedRule(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	id, err := pathID(r)
	var x Rule
	if err == nil {
		x, err = s.oneRule(r, `SELECT `+ruleColumns+` FROM detection_rules WHERE tenant = $1 AND id = $2`, p.Tenant, id)
	}
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	s.testRule(w, r, detect.Rule{ID: x.ID, Tenant: p.Tenant, Name: x.Name, Query: x.Query, Schedule: x.Schedule, Window: time.Duration(x.WindowSeconds) * time.Second,
		Op: x.ThresholdOp, Threshold: x.Threshold, Signal: x.Signal, Severity: x.Severity, Labels: x.Labels})
}

// testRule evaluates rule through the scheduler's detector and answers its
// verdicts.
func (s *Server) testRule(w http.ResponseWriter, r *http.Request, rule detect.Rule) {
	var d *detect.Detector
	if s.Detector != nil {
		d = s.Detector()
	}
	if d == nil {
		w.Header().Set("Retry-After", "5")
		fail(w, http.StatusServiceUnavailable, "", "rules cannot be tested until ClickHouse answers the api; retry")
		return
	}
	select {
	case s.ruleTests <- struct{}{}:
		defer func() { <-s.ruleTests }()
	default:
		w.Header().Set("Retry-After", "2")
		fail(w, http.StatusTooManyRequests, "", "other rule tests are running; retry")
		return
	}
	ev, err := d.EvaluateNow(r.Context(), rule)
	if err != nil {
		s.testFailed(w, err)
		return
	}
	out := RuleTest{WindowStart: ev.From.UTC(), WindowEnd: ev.To.UTC(), ThresholdOp: rule.Op, Threshold: rule.Threshold,
		Value: ev.Total(), Alerts: len(ev.Firing()), TotalGroups: len(ev.Groups)}
	groups := slices.Clone(ev.Groups)
	slices.SortStableFunc(groups, func(a, b detect.Verdict) int {
		switch {
		case a.Fires == b.Fires:
			return 0
		case a.Fires:
			return -1
		}
		return 1
	})
	if len(groups) > maxTestGroups {
		groups, out.Truncated = groups[:maxTestGroups], true
	}
	out.Groups = groups
	if out.Groups == nil {
		out.Groups = []detect.Verdict{}
	}
	jsonhttp.Reply(w, http.StatusOK, out)
}

// testFailed answers a rule test whose evaluation failed, as the rule's
// runs would fail: the query at fault (400 with its column), a search
// ClickHouse refused (502 with its reason), one that took too long (504),
// or ClickHouse or PostgreSQL not answering (503).
func (s *Server) testFailed(w http.ResponseWriter, err error) {
	var qe *query.Error
	var ex *clickhouse.Exception
	switch {
	case errors.As(err, &qe) && qe != nil:
		s.respond(w, 0, nil, fielderr.Wrap("query", qe))
	case errors.Is(err, context.DeadlineExceeded):
		fail(w, http.StatusGatewayTimeout, "", "the rule's search took too long; narrow its query or window")
	case errors.As(err, &ex) && ex != nil:
		fail(w, http.StatusBadGateway, "", "ClickHouse failed the rule's search (its runs would fail too): "+ex.Message)
	default:
		s.Log.Warn("a rule test failed", "error", err)
		w.Header().Set("Retry-After", "5")
		fail(w, http.StatusServiceUnavailable, "", "the rule's search cannot run now; retry")
	}
}
