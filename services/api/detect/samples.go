package detect

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/sqlgen"
)

// Sample is one event an alert keeps from its window (shown in the
// notification), its text bounded.
type Sample struct {
	Time     string `json:"time"`
	Host     string `json:"host,omitempty"`
	Service  string `json:"service,omitempty"`
	Severity string `json:"severity,omitempty"`
	Message  string `json:"message"`
}

// Bounds of the samples: events per alert (the default, and the most
// SampleEvents may be), bytes of a message, groups sampled per run.
const (
	DefaultSampleEvents = 3
	MaxSampleEvents     = 10
	maxSampleMessage    = 512
	maxSampledGroups    = 20
)

// SampleQuery is the search that finds a group's events: the rule's
// filter and lookups, each group-by field equal to the group's value, the
// newest first (no stats, no sort, no fields).
func SampleQuery(q *query.Query, group []GroupValue) *query.Query {
	s := *q
	s.Stats, s.Sort, s.Fields, s.Limit = nil, nil, nil, 0
	var terms []query.Node
	if q.Filter != nil {
		terms = append(terms, q.Filter)
	}
	if q.Stats != nil {
		for i, g := range group {
			if i >= len(q.Stats.By) || q.Stats.By[i].Kind == query.Time {
				continue
			}
			terms = append(terms, query.Compare{Field: q.Stats.By[i], Op: ":", Value: query.Value{Text: g.Value, Quoted: true}})
		}
	}
	switch len(terms) {
	case 0:
		s.Filter = nil
	case 1:
		s.Filter = terms[0]
	default:
		s.Filter = query.And{Terms: terms}
	}
	return &s
}

// samples reads up to d.SampleEvents of the events a group of r counted
// in [from, to] (none for a signal rule: its view keeps counts only).
func (d *Detector) samples(ctx context.Context, r Rule, group []GroupValue, from, to time.Time) ([]Sample, error) {
	n := d.SampleEvents
	if n <= 0 || r.Signal {
		return nil, nil
	}
	n = min(n, MaxSampleEvents)
	q, err := query.Parse(r.Query)
	if err != nil {
		return nil, err
	}
	st, err := sqlgen.Compile(sqlgen.Request{Query: SampleQuery(q, group), Tenant: r.Tenant, From: from, To: to, Now: to,
		Table: d.Engine.Database + ".events", PageSize: n})
	if err != nil {
		return nil, err
	}
	out := []Sample{}
	_, err = d.Runner.Run(ctx, st, func(row []any) error {
		// The default columns: timestamp, feed, severity, service, host,
		// message, attributes.
		if len(out) >= n || len(row) < 6 {
			return nil
		}
		s := func(i int) string { v, _ := row[i].(string); return v }
		out = append(out, Sample{Time: s(0), Severity: s(2), Service: s(3), Host: s(4), Message: bounded(s(5), maxSampleMessage)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read sample events: %w", err)
	}
	return out, nil
}

// bounded cuts s to at most n bytes of valid UTF-8, marking the cut.
func bounded(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
