package server

import (
	"errors"
	"net/http"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/sqlgen"
)

// histogramRequest is the body of POST /v1/histogram: a search's query
// and range (no page or cursor).
type histogramRequest struct {
	Query string `json:"query"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// histogramBucket is one bar: the events from T (Unix seconds) for the
// response's step.
type histogramBucket struct {
	T      int64  `json:"t"`
	Events uint64 `json:"events"`
}

type histogramResponse struct {
	From        string            `json:"from"`
	To          string            `json:"to"`
	StepSeconds int64             `json:"step_seconds"`
	Buckets     []histogramBucket `json:"buckets"`
	Total       uint64            `json:"total"`
	Stats       resultStats       `json:"stats"`
}

// histogram counts the events the query matches per step of its range,
// every bucket of the range present (zeros included), under the same
// admission control and ClickHouse limits as a search.
func (s *Server) histogram(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var req histogramRequest
	if !jsonhttp.Decode(w, r, &req) {
		return
	}
	q, err := query.Parse(req.Query)
	if err != nil {
		jsonhttp.Fail(w, http.StatusBadRequest, queryProblem(err))
		return
	}
	now := s.now()
	from, to, _, bad := s.searchRange(searchRequest{Query: req.Query, From: req.From, To: req.To}, p.Tenant, now)
	if bad != nil {
		jsonhttp.Fail(w, http.StatusBadRequest, *bad)
		return
	}
	datasets, err := s.datasets(r.Context(), p.Tenant, q)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot read the enrichment datasets now; retry")
		return
	}
	step := sqlgen.HistogramStep(from, to)
	st, err := sqlgen.Histogram(sqlgen.Request{Query: q, Tenant: p.Tenant, From: from, To: to, Now: now, Table: s.Config.Table, Datasets: datasets}, step)
	if err != nil {
		jsonhttp.Fail(w, http.StatusBadRequest, queryProblem(err))
		return
	}
	release, code, msg := s.admit(w, r, p.Tenant)
	if release == nil {
		writeError(w, code, msg)
		return
	}
	defer release()
	counts := map[int64]uint64{}
	stats, err := s.Runner.Run(r.Context(), st, func(row []any) error {
		t, n, ok := bucketRow(row)
		if !ok {
			return errors.New("ClickHouse answered a histogram row of unexpected types")
		}
		counts[t] = n
		return nil
	})
	if code, msg, _ := s.observe(w, "histogram", "histogram", p.Tenant, stats, err, len(q.Lookups) > 0); err != nil {
		writeError(w, code, msg)
		return
	}
	sec := int64(step / time.Second)
	resp := histogramResponse{From: from.UTC().Format(time.RFC3339Nano), To: to.UTC().Format(time.RFC3339Nano), StepSeconds: sec,
		Buckets: []histogramBucket{}, Stats: statsOf(stats)}
	for t := from.Unix() / sec * sec; t <= to.Unix(); t += sec {
		resp.Buckets = append(resp.Buckets, histogramBucket{T: t, Events: counts[t]})
		resp.Total += counts[t]
	}
	jsonhttp.Reply(w, http.StatusOK, resp)
}

// bucketRow reads a (bucket, events) row as the runner emits it.
func bucketRow(row []any) (int64, uint64, bool) {
	if len(row) != 2 {
		return 0, 0, false
	}
	var t int64
	switch v := row[0].(type) {
	case uint32:
		t = int64(v)
	case uint64:
		t = int64(v)
	default:
		return 0, 0, false
	}
	n, ok := row[1].(uint64)
	return t, n, ok
}
