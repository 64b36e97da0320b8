package server

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/authtoken"
	"github.com/nanosiem/nano/services/search/history"
)

// savedSnapshot is a saved search's summary in the audit trail.
const savedSnapshot = `SELECT to_jsonb(x) FROM (SELECT name, query, range_from, range_to FROM saved_searches WHERE tenant = $1 AND id = $2) x`

// change runs a saved search's change and its audit entry in one
// transaction (history.WithTx); the answer goes out once both are
// committed.
func (s *Server) change(w http.ResponseWriter, r *http.Request, rt route, p authtoken.Principal) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	tx, err := s.Store.DB.Begin(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, "cannot reach the saved searches now")
		return
	}
	defer tx.Rollback(r.Context())
	snap := func(id int64) json.RawMessage {
		var b []byte
		if id == 0 {
			return nil
		}
		if err := tx.QueryRow(r.Context(), savedSnapshot, p.Tenant, id).Scan(&b); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return b
	}
	before := snap(id)
	rec := audit.NewHeld()
	rt.h(rec, r.WithContext(history.WithTx(r.Context(), tx)), p)
	if rec.Code == 0 {
		rec.Code = http.StatusOK
	}
	if rec.Code < 400 {
		if id == 0 {
			var out struct {
				ID int64 `json:"id"`
			}
			json.Unmarshal(rec.Body.Bytes(), &out)
			id = out.ID
		}
		e := s.entry(r, rt, p, audit.OK, rec.Code, before, snap(id), "")
		if id != 0 {
			e.ObjectID = strconv.FormatInt(id, 10)
		}
		err = audit.Record(r.Context(), tx, e)
		if err == nil {
			err = tx.Commit(r.Context())
		}
		if err != nil {
			s.Log.Error("cannot commit an audited change", "route", rt.pattern, "err", err)
			writeError(w, http.StatusServiceUnavailable, "the change could not be recorded in the audit trail, so it was not made; retry")
			return
		}
	}
	rec.Flush(w)
}

func (s *Server) entry(r *http.Request, rt route, p authtoken.Principal, outcome string, status int, before, after json.RawMessage, detail string) audit.Entry {
	trusted := s.Trusted
	if trusted == nil {
		trusted = audit.DefaultTrustedProxies
	}
	e := audit.Entry{Service: "search", Action: rt.audit, Route: rt.pattern, ObjectType: "saved_search", Outcome: outcome, Status: status,
		Before: before, After: after, Detail: detail, IP: audit.ClientIP(r, trusted), UserAgent: r.UserAgent()}.By(p)
	if id := r.PathValue("id"); id != "" && len(id) < 30 {
		e.ObjectID = id
	}
	return e
}

// record writes an entry outside any change (a refusal).
func (s *Server) record(r *http.Request, rt route, p authtoken.Principal, outcome string, status int, before, after json.RawMessage, detail string) {
	if err := audit.Record(r.Context(), s.Store.DB, s.entry(r, rt, p, outcome, status, before, after, detail)); err != nil {
		s.Log.Error("cannot record a refusal", "err", err)
	}
}
