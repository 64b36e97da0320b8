package server

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/search/runner"
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
	now := s.now()
	pl, pb := s.plan(r.Context(), p.Tenant, searchRequest{Query: req.Query, From: req.From, To: req.To}, now)
	if pb != nil {
		writeProblem(w, pb)
		return
	}
	from, to := pl.from, pl.to
	step := sqlgen.HistogramStep(from, to)
	st, err := sqlgen.Histogram(sqlgen.Request{Query: pl.q, Tenant: p.Tenant, From: from, To: to, Now: now, Table: s.Config.Table, Datasets: pl.datasets}, step)
	if err != nil {
		writeProblem(w, queryInvalid(err))
		return
	}
	counts := map[int64]uint64{}
	stats, pb := s.execute(w, r, p.Tenant, "histogram", "histogram", pl.lookups(), func(ctx context.Context) (runner.Stats, error) {
		return s.Runner.Run(ctx, st, func(row []any) error {
			t, n, ok := bucketRow(row)
			if !ok {
				return errors.New("ClickHouse answered a histogram row of unexpected types")
			}
			counts[t] = n
			return nil
		})
	})
	if pb != nil {
		writeProblem(w, pb)
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
