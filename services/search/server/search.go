package server

import (
	"context"
	"crypto/sha256"
	"database/sql/driver"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/fielderr"
	"github.com/nanosiem/nano/services/jsonhttp"
	"github.com/nanosiem/nano/services/metadb"
	"github.com/nanosiem/nano/services/search/admission"
	"github.com/nanosiem/nano/services/search/history"
	"github.com/nanosiem/nano/services/search/query"
	"github.com/nanosiem/nano/services/search/runner"
	"github.com/nanosiem/nano/services/search/sqlgen"
)

// searchRequest is the body of POST /v1/search.
type searchRequest struct {
	Query string `json:"query"`
	// From and To bound event time: RFC 3339, a date, Unix seconds, "now"
	// or relative ("-24h"). Defaults: the configured range up to now.
	From string `json:"from"`
	To   string `json:"to"`
	// PageSize is rows per page (default and maximum configured).
	PageSize int `json:"page_size"`
	// Cursor continues a search from a previous page's next_cursor; the
	// query must be the same, the range comes from the cursor.
	Cursor string `json:"cursor"`
}

// cursor is what next_cursor carries (base64url JSON).
type cursor struct {
	Hash     string `json:"h"`
	From     int64  `json:"f"`
	To       int64  `json:"t"`
	Returned int    `json:"n"`
	Offset   int    `json:"o,omitempty"`
	Seconds  uint32 `json:"s,omitempty"`
	Nanos    uint32 `json:"ns,omitempty"`
	Skip     int    `json:"k,omitempty"`
	Keyset   bool   `json:"ks,omitempty"`
}

func fingerprint(tenant, q string) string {
	h := sha256.Sum256([]byte(tenant + "\x00" + q))
	return hex.EncodeToString(h[:12])
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 1024 {
		return c, fielderr.New("cursor", "not a cursor from this service")
	}
	if err := json.Unmarshal(b, &c); err != nil || c.Returned < 0 || c.Offset < 0 || c.Skip < 0 {
		return c, fielderr.New("cursor", "not a cursor from this service")
	}
	return c, nil
}

type resultColumn struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// clickHouseLimitCodes are the server's "a limit was exceeded" errors:
// TOO_MANY_ROWS, TIMEOUT_EXCEEDED, TOO_SLOW, MEMORY_LIMIT_EXCEEDED,
// TOO_MANY_BYTES, TOO_MANY_ROWS_OR_BYTES.
var clickHouseLimitCodes = map[int32]bool{158: true, 159: true, 160: true, 241: true, 307: true, 396: true}

// clickHouseComplexityCodes are the server's "query too complex" errors:
// TOO_DEEP_AST, TOO_BIG_AST, TOO_DEEP_RECURSION. The compiler's own bounds
// keep searches below them; a query that still reaches one is the
// client's to simplify.
var clickHouseComplexityCodes = map[int32]bool{167: true, 168: true, 306: true}

// ClickHouse's UNKNOWN_TABLE and UNKNOWN_IDENTIFIER: in a query with
// lookups, a dataset or column that the enrichment sync has not loaded
// (without lookups, a missing events table: the deployment's fault).
const (
	clickHouseUnknownTable      = 60
	clickHouseUnknownIdentifier = 47
)

// searchFailure is the status, message and history status of a failed
// search.
func searchFailure(err error, lookups bool) (int, string, string) {
	var ex *clickhouse.Exception
	var netErr net.Error
	switch {
	case errors.As(err, &ex) && clickHouseLimitCodes[ex.Code]:
		return http.StatusUnprocessableEntity, "the search exceeded a limit; narrow the time range or the filter (" + ex.Message + ")", "failed"
	case lookups && errors.As(err, &ex) && (ex.Code == clickHouseUnknownTable || ex.Code == clickHouseUnknownIdentifier):
		return http.StatusBadRequest, "a lookup names an enrichment dataset or column that is not loaded (datasets: the api's GET /v1/enrichments; a list dataset's column is indicator): " + ex.Message, "invalid"
	case errors.As(err, &ex) && clickHouseComplexityCodes[ex.Code]:
		return http.StatusBadRequest, "the query is too complex for ClickHouse; use fewer terms or less nesting (" + ex.Message + ")", "failed"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, "the search took too long", "failed"
	case errors.As(err, &ex):
		return http.StatusBadGateway, "ClickHouse failed the search: " + ex.Message, "failed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, driver.ErrBadConn), errors.Is(err, clickhouse.ErrAcquireConnTimeout),
		errors.As(err, &netErr):
		return http.StatusServiceUnavailable, "ClickHouse is unavailable; retry shortly", "failed"
	}
	return http.StatusBadGateway, "the search failed: " + err.Error(), "failed"
}

// searchRange is a search's time range: its cursor's (checked to belong to
// the same query of the same tenant) or from/to (default: the last
// DefaultRange). bad says what is wrong with the request, if anything.
func (s *Server) searchRange(req searchRequest, tenant string, now time.Time) (from, to time.Time, cur cursor, bad *jsonhttp.Problem) {
	from, to = now.Add(-s.Config.DefaultRange), now
	if req.Cursor != "" {
		var err error
		if cur, err = decodeCursor(req.Cursor); err != nil {
			return from, to, cur, &jsonhttp.Problems(err)[0]
		}
		if cur.Hash != fingerprint(tenant, req.Query) {
			return from, to, cur, &jsonhttp.Problem{Field: "cursor", Message: "it belongs to another query"}
		}
		from, to = time.Unix(0, cur.From), time.Unix(0, cur.To)
	} else {
		for _, b := range []struct {
			name, text string
			dst        *time.Time
		}{{"from", req.From, &from}, {"to", req.To, &to}} {
			if b.text == "" {
				continue
			}
			t, ok := sqlgen.ParseTime(b.text, now)
			if !ok {
				return from, to, cur, &jsonhttp.Problem{Field: b.name, Message: "expected a time (now, -15m, -24h, 2026-11-23, 2026-11-23T10:00:00Z or Unix seconds)"}
			}
			*b.dst = t
		}
		if to.Before(from) {
			return from, to, cur, &jsonhttp.Problem{Field: "to", Message: "before from"}
		}
	}
	return from, to, cur, nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	var req searchRequest
	if !jsonhttp.Decode(w, r, &req) {
		return
	}
	now := s.now()
	entry := history.Entry{TokenID: p.TokenRef(), Query: req.Query, StartedAt: now}
	// Every first page is a search in the history, whatever became of it.
	record := func() {
		if req.Cursor != "" {
			return
		}
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
		defer cancel()
		if err := s.Store.Record(ctx, p.Tenant, entry); err != nil {
			s.Log.Warn("search history", "err", err)
		}
	}
	fail := func(pb *problem) {
		entry.Status, entry.Error = pb.status, pb.String()
		writeProblem(w, pb)
		record()
	}
	pageSize := req.PageSize
	switch {
	case pageSize == 0:
		pageSize = s.Config.DefaultPageRows
	case pageSize < 1 || pageSize > s.Config.MaxPageRows:
		fail(invalid("page_size", fmt.Sprintf("from 1 to %d", s.Config.MaxPageRows)))
		return
	}
	pl, pb := s.plan(r.Context(), p.Tenant, req, now)
	entry.From, entry.To = pl.from, pl.to
	if pb != nil {
		fail(pb)
		return
	}
	cur := pl.cur
	creq := sqlgen.Request{Query: pl.q, Tenant: p.Tenant, From: pl.from, To: pl.to, Now: now, Table: s.Config.Table,
		PageSize: pageSize + 1, Offset: cur.Offset, Returned: cur.Returned, Datasets: pl.datasets}
	if cur.Keyset {
		creq.After = &sqlgen.Position{Seconds: cur.Seconds, Nanos: cur.Nanos, Skip: cur.Skip}
	}
	st, err := sqlgen.Compile(creq)
	if err != nil {
		fail(queryInvalid(err))
		return
	}
	kind := "events"
	if pl.q.Stats != nil {
		kind = "stats"
	}
	out := &resultStream{w: w, columns: st.Columns, page: pageSize}
	stats, pb := s.execute(w, r, p.Tenant, "search", kind, pl.lookups(), func(ctx context.Context) (runner.Stats, error) {
		var stats runner.Stats
		var err error
		if st.Keyset {
			stats, err = s.runNewestFirst(ctx, creq, out)
		} else {
			stats, err = s.Runner.Run(ctx, st, out.row)
		}
		if errors.Is(err, errPageFull) {
			err = nil
		}
		return stats, err
	})
	entry.ElapsedMS = statsOf(stats).ElapsedMS
	entry.Rows, entry.RowsRead, entry.BytesRead = int64(out.sent), int64(stats.RowsRead), int64(stats.BytesRead)
	if pb != nil {
		if !out.started {
			fail(pb)
			return
		}
		// Rows went out: the failure ends the answer.
		entry.Status, entry.Error = pb.status, pb.String()
		out.finish(stats, "", pb.Message)
		record()
		return
	}
	next := ""
	if out.more {
		nc := cursor{Hash: fingerprint(p.Tenant, req.Query), From: pl.from.UnixNano(), To: pl.to.UnixNano(), Returned: cur.Returned + out.sent}
		if st.Keyset {
			nc.Keyset, nc.Seconds, nc.Nanos, nc.Skip = true, out.lastSec, out.lastNanos, out.tie
			if cur.Keyset && cur.Seconds == out.lastSec && cur.Nanos == out.lastNanos {
				nc.Skip += cur.Skip // every row of this page shares the cursor's time
			}
		} else {
			nc.Offset = cur.Offset + out.sent
		}
		next = nc.encode()
	}
	entry.Status = "ok"
	out.finish(stats, next, "")
	record()
}

// problem is why a request failed: its HTTP status, its status in the
// search history (invalid, rejected or failed) and the problem to answer
// (in the error envelope, naming the field or the query's column). Every
// handler that runs a query answers its failures through one
// (writeProblem).
type problem struct {
	code   int
	status string
	jsonhttp.Problem
}

// invalid is a bad request that is not the query's text (a range, a page
// size, a cursor), naming its field.
func invalid(field, msg string) *problem {
	return &problem{code: http.StatusBadRequest, status: "invalid", Problem: jsonhttp.Problem{Field: field, Message: msg}}
}

// queryInvalid is a query that does not parse or compile: any error, with
// its column when it is a *query.Error (see queryProblem).
func queryInvalid(err error) *problem {
	return &problem{code: http.StatusBadRequest, status: "invalid", Problem: queryProblem(err)}
}

// failed is a problem that is not the request's (admission, ClickHouse,
// the metadata database).
func failed(code int, status, msg string) *problem {
	return &problem{code: code, status: status, Problem: jsonhttp.Problem{Message: msg}}
}

// writeProblem answers pb in the error envelope.
func writeProblem(w http.ResponseWriter, pb *problem) {
	jsonhttp.Fail(w, pb.code, pb.Problem)
}

// planned is a query request checked and resolved for its tenant: the
// parsed query, its range (and its cursor's position), and the datasets
// its lookups read.
type planned struct {
	q        *query.Query
	from, to time.Time
	cur      cursor
	datasets map[string]int64
}

func (pl planned) lookups() bool { return pl.q != nil && len(pl.q.Lookups) > 0 }

// plan is what every query request does before it compiles: parse the
// query, read its range (a cursor's, or from/to) and resolve the datasets
// its lookups name. A failure is the problem to answer; the range is set
// once it was read.
func (s *Server) plan(ctx context.Context, tenant string, req searchRequest, now time.Time) (planned, *problem) {
	var pl planned
	q, err := query.Parse(req.Query)
	if err != nil {
		return pl, queryInvalid(err)
	}
	pl.q = q
	var bad *jsonhttp.Problem
	if pl.from, pl.to, pl.cur, bad = s.searchRange(req, tenant, now); bad != nil {
		return planned{}, &problem{code: http.StatusBadRequest, status: "invalid", Problem: *bad}
	}
	if pl.datasets, err = s.datasets(ctx, tenant, q); err != nil {
		return pl, failed(http.StatusServiceUnavailable, "failed", "cannot read the enrichment datasets now; retry")
	}
	return pl, nil
}

// execute runs a compiled query for tenant once admitted (run), and
// observes it (observe): its statistics, or the problem to answer when it
// was turned away (status rejected) or failed.
func (s *Server) execute(w http.ResponseWriter, r *http.Request, tenant, what, kind string, lookups bool,
	run func(context.Context) (runner.Stats, error)) (runner.Stats, *problem) {
	release, code, msg := s.admit(w, r, tenant)
	if release == nil {
		return runner.Stats{}, failed(code, "rejected", msg)
	}
	defer release()
	stats, err := run(r.Context())
	if code, msg, status := s.observe(w, what, kind, tenant, stats, err, lookups); err != nil {
		return stats, failed(code, status, msg)
	}
	return stats, nil
}

// datasets resolves the datasets q's lookups name for tenant: its own or
// the platform's (a failure is logged; the caller answers 503).
func (s *Server) datasets(ctx context.Context, tenant string, q *query.Query) (map[string]int64, error) {
	names := sqlgen.LookupNames(q)
	if len(names) == 0 {
		return nil, nil
	}
	ds, err := metadb.Datasets(ctx, s.Store.DB, tenant, names)
	if err != nil {
		s.Log.Error("cannot resolve lookups", "tenant", tenant, "err", err)
	}
	return ds, err
}

// queryProblem is the problem of a query that does not parse or compile:
// field "query", and its column when the problem is in the query's text.
// Any error answers its text (column 0 when it is not a non-nil
// *query.Error), so an odd error from a lower layer is a clean 400, never
// a panic.
func queryProblem(err error) jsonhttp.Problem {
	var qe *query.Error
	if errors.As(err, &qe) && qe != nil {
		return jsonhttp.Problem{Field: "query", Message: qe.Error(), Column: qe.Col}
	}
	return jsonhttp.Problem{Field: "query", Message: err.Error()}
}

// observe counts a finished query under kind: rows and bytes read, its
// time and outcome. A failure (err) answers its status, message and
// history status, sets Retry-After on w when ClickHouse is unavailable and
// is logged as what failed.
func (s *Server) observe(w http.ResponseWriter, what, kind, tenant string, stats runner.Stats, err error, lookups bool) (code int, msg, status string) {
	s.Metrics.RowsRead.Add(float64(stats.RowsRead))
	s.Metrics.BytesRead.Add(float64(stats.BytesRead))
	if err == nil {
		s.Metrics.Queries.WithLabelValues(kind, "ok").Observe(stats.Elapsed.Seconds())
		return http.StatusOK, "", "ok"
	}
	code, msg, status = searchFailure(err, lookups)
	if code == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	s.Metrics.Queries.WithLabelValues(kind, status).Observe(stats.Elapsed.Seconds())
	s.Log.Warn(what+" failed", "tenant", tenant, "err", err)
	return code, msg, status
}

// statsOf is what a response says of a query's reads and time.
func statsOf(st runner.Stats) resultStats {
	return resultStats{RowsRead: st.RowsRead, BytesRead: st.BytesRead, ElapsedMS: float64(st.Elapsed.Microseconds()) / 1000}
}

// admit waits for the tenant's admission slot: its release, or nil with
// the status and message of the refusal (429 with Retry-After set on w
// when turned away, 503 when the wait ran out).
func (s *Server) admit(w http.ResponseWriter, r *http.Request, tenant string) (func(), int, string) {
	release, err := s.Admission.Acquire(r.Context(), tenant)
	if err == nil {
		return release, 0, ""
	}
	var rej *admission.Rejection
	if errors.As(err, &rej) {
		w.Header().Set("Retry-After", strconv.Itoa(int(rej.RetryAfter.Round(time.Second).Seconds())))
		return nil, http.StatusTooManyRequests, rej.Error()
	}
	return nil, http.StatusServiceUnavailable, "the search waited too long for a slot"
}

// errPageFull stops a query once the page (and one row to know there is a
// next page) has arrived.
var errPageFull = errors.New("page full")

// resultStream writes the response as rows arrive:
//
//	{"columns":[...],"rows":[[...],...],"count":N,"next_cursor":"...","stats":{...}}
type resultStream struct {
	w       http.ResponseWriter
	columns []sqlgen.Column
	page    int
	started bool
	sent    int
	more    bool
	// The time of the last row sent and how many rows of this page share
	// it (keyset pagination).
	lastSec, lastNanos uint32
	tie                int
	tsIndex            int
	enc                *json.Encoder
}

func (o *resultStream) start() {
	o.started = true
	o.tsIndex = -1
	cols := make([]resultColumn, len(o.columns))
	for i, c := range o.columns {
		cols[i] = resultColumn{c.Name, c.Type}
		if c.Output == sqlgen.Timestamp && o.tsIndex < 0 {
			o.tsIndex = i
		}
	}
	o.w.Header().Set("Content-Type", "application/json")
	o.w.WriteHeader(http.StatusOK)
	head, _ := json.Marshal(cols)
	fmt.Fprintf(o.w, `{"columns":%s,"rows":[`, head)
	o.enc = json.NewEncoder(o.w)
}

func (o *resultStream) row(row []any) error {
	if !o.started {
		o.start()
	}
	if o.sent == o.page {
		o.more = true
		return errPageFull
	}
	if o.sent > 0 {
		o.w.Write([]byte(","))
	}
	if err := o.enc.Encode(row); err != nil {
		return fmt.Errorf("cannot send a row: %w", err)
	}
	o.sent++
	if o.tsIndex >= 0 {
		ts, _ := row[o.tsIndex].(string)
		if t, err := time.Parse(time.RFC3339Nano, ts); err == nil {
			sec, nanos := uint32(t.Unix()), uint32(t.Nanosecond())
			if sec == o.lastSec && nanos == o.lastNanos && o.sent > 1 {
				o.tie++
			} else {
				o.lastSec, o.lastNanos, o.tie = sec, nanos, 1
			}
		}
	}
	if o.sent%256 == 0 {
		if f, ok := o.w.(http.Flusher); ok {
			f.Flush()
		}
	}
	return nil
}

type resultStats struct {
	RowsRead  uint64  `json:"rows_read"`
	BytesRead uint64  `json:"bytes_read"`
	ElapsedMS float64 `json:"elapsed_ms"`
}

// finish closes the rows and writes the count, cursor, statistics and,
// when the search failed after rows were sent, the error.
func (o *resultStream) finish(st runner.Stats, next, failure string) {
	if !o.started {
		o.start()
	}
	tail := map[string]any{
		"count": o.sent,
		"stats": statsOf(st),
	}
	if next != "" {
		tail["next_cursor"] = next
	} else {
		tail["next_cursor"] = nil
	}
	if failure != "" {
		tail["errors"] = []jsonhttp.Problem{{Message: failure}}
	}
	b, _ := json.Marshal(tail)
	// Splice the tail's members after the rows: ],"count":...}
	fmt.Fprintf(o.w, "],%s\n", b[1:])
}

// firstSlices is how many slices of the range the first window of a
// newest-first search covers; each further window is 4 times wider.
const firstSlices = 256

// runNewestFirst runs a newest-first event search window by window from
// the end of the range backwards, until the page is full or the range is
// done. Most searches find a page of events in the last minutes of their
// range, so ClickHouse reads those minutes instead of the whole range;
// windows are disjoint and in time order, so the rows come out exactly as
// one query over the range would return them.
func (s *Server) runNewestFirst(ctx context.Context, req sqlgen.Request, out *resultStream) (runner.Stats, error) {
	var total runner.Stats
	lo, hi := req.From, req.To
	if req.After != nil {
		if at := time.Unix(int64(req.After.Seconds), int64(req.After.Nanos)); at.Before(hi) {
			hi = at
		}
	}
	width := max(hi.Sub(lo)/firstSlices, time.Minute)
	want := req.PageSize
	for got := 0; ; {
		winLo := hi.Add(-width)
		if !winLo.After(lo) {
			winLo = lo
		}
		w := req
		w.From, w.To, w.PageSize, w.Returned = winLo, hi, want-got, req.Returned+got
		st, err := sqlgen.Compile(w)
		if err != nil {
			return total, err
		}
		stats, err := s.Runner.Run(ctx, st, out.row)
		total.Rows += stats.Rows
		total.RowsRead += stats.RowsRead
		total.BytesRead += stats.BytesRead
		total.Elapsed += stats.Elapsed
		if err != nil {
			return total, err
		}
		got += stats.Rows
		if got >= want || winLo.Equal(lo) || (req.Query.Limit > 0 && req.Returned+got >= req.Query.Limit) {
			return total, nil
		}
		hi = winLo.Add(-time.Nanosecond)
		req.After = nil
		width *= 4
	}
}
