package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/nanosiem/nano/services/api/enrich"
	"github.com/nanosiem/nano/services/audit"
	"github.com/nanosiem/nano/services/authtoken"
)

// auditSpec is how a route is recorded in the audit trail: the action,
// the type of object it acts on (its summary before and after is read by
// snapshots[object]), and whether the object's id comes from the created
// object in the response rather than the path.
type auditSpec struct {
	action, object string
	created        bool
}

func audited(action, object string) *auditSpec { return &auditSpec{action: action, object: object} }
func created(action, object string) *auditSpec {
	return &auditSpec{action: action, object: object, created: true}
}

// selfAudited marks a route whose handler records itself (sign-out).
var selfAudited = &auditSpec{action: "self"}

// computes marks a POST that changes nothing: it computes an answer from
// its body, as a GET does from its URL (a rule test), so it is not a
// change for the trail.
var computes = &auditSpec{action: "compute"}

// isChange says whether a route with this spec is an audited change (run
// by change).
func (a *auditSpec) isChange() bool { return a != nil && a != selfAudited && a != computes }

// snapshots read an object's summary for the trail: what a reviewer needs
// to see what changed, never a secret (no token or session hashes, no
// sealed credentials, dataset sources redacted, a dashboard's definition
// by its digest). $1 is the tenant, $2 the id.
var snapshots = map[string]string{
	"token":        `SELECT name, scopes, user_id, expires_at, revoked_at FROM api_tokens WHERE tenant = $1 AND id = $2`,
	"user":         `SELECT email, name, role, oidc_subject IS NOT NULL AS single_sign_on, disabled_at FROM users WHERE tenant = $1 AND id = $2`,
	"session":      `SELECT user_id, role, expires_at, revoked_at FROM sessions WHERE tenant = $1 AND id = $2`,
	"feed":         `SELECT name, kind FROM feeds WHERE tenant = $1 AND id = $2`,
	"ingest_token": `SELECT feed_id, revoked_at FROM ingest_tokens WHERE tenant = $1 AND id = $2`,
	"rule":         `SELECT name, query, schedule, window_seconds, threshold_op, threshold, signal, enabled FROM detection_rules WHERE tenant = $1 AND id = $2`,
	"alert":        `SELECT rule_id, group_key, status FROM alerts WHERE tenant = $1 AND id = $2`,
	"dashboard":    `SELECT name, md5(definition::text) AS definition_md5 FROM dashboards WHERE tenant = $1 AND id = $2`,
	"credential":   `SELECT name, kind FROM credentials WHERE tenant = $1 AND id = $2`,
	"enrichment": `SELECT name, tenant IS NULL AS platform, source, format, sha256, interval_seconds FROM enrichment_datasets
WHERE id = $2 AND (tenant = $1 OR tenant IS NULL)`,
}

// snapshot is the object's summary as JSON (nil when there is none).
func snapshot(r *http.Request, db dbtx, object, tenant string, id int64) (json.RawMessage, error) {
	q, ok := snapshots[object]
	if !ok || id == 0 {
		return nil, nil
	}
	var b []byte
	err := db.QueryRow(r.Context(), `SELECT to_jsonb(x) FROM (`+q+`) x`, tenant, id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if object == "enrichment" {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			if src, ok := m["source"].(string); ok {
				m["source"] = enrich.Redact(src)
			}
			b, _ = json.Marshal(m)
		}
	}
	return b, nil
}

func (s *Server) trusted() []netip.Prefix {
	if s.Trusted != nil {
		return s.Trusted
	}
	return audit.DefaultTrustedProxies
}

// entry is the audit entry of r by p on rt.
func (s *Server) entry(r *http.Request, rt route, p authtoken.Principal) audit.Entry {
	action, object := "request", ""
	if rt.audit.isChange() {
		action, object = rt.audit.action, rt.audit.object
	}
	return audit.Entry{Service: "api", Action: action, Route: rt.method + " " + rt.path, ObjectType: object,
		IP: audit.ClientIP(r, s.trusted()), UserAgent: r.UserAgent()}.By(p)
}

// change runs an audited route: in one transaction the object's summary
// before, the handler (its statements run in the transaction: db), the
// summary after and the entry; the response goes out once they are
// committed. A handler's refusal (4xx, 5xx) rolls back and records only a
// refusal by permission (403).
func (s *Server) change(w http.ResponseWriter, r *http.Request, rt route, p authtoken.Principal) {
	e := s.entry(r, rt, p)
	var id int64
	if strings.Contains(rt.path, "{id}") {
		id, _ = strconv.ParseInt(r.PathValue("id"), 10, 64)
	}
	tx, err := s.DB.Begin(r.Context())
	if err != nil {
		s.respond(w, 0, nil, err)
		return
	}
	defer tx.Rollback(r.Context())
	if !rt.audit.created {
		if e.Before, err = snapshot(r, tx, rt.audit.object, p.Tenant, id); err != nil {
			s.respond(w, 0, nil, err)
			return
		}
	}
	rec := audit.NewHeld()
	rt.h(rec, r.WithContext(context.WithValue(r.Context(), txKey{}, tx)), p)
	if rec.Code == 0 {
		rec.Code = http.StatusOK
	}
	e.Status = rec.Code
	if rec.Code >= 400 {
		tx.Rollback(r.Context())
		if rec.Code == http.StatusForbidden {
			e.Outcome, e.Before = audit.Denied, nil
			e.Detail = errorMessage(rec.Body.Bytes())
			if err := audit.Record(r.Context(), s.DB, e); err != nil {
				s.Log.Error("cannot record a refusal", "error", err)
			}
		}
		rec.Flush(w)
		return
	}
	if rt.audit.created {
		var out struct {
			ID int64 `json:"id"`
		}
		json.Unmarshal(rec.Body.Bytes(), &out)
		if id != 0 {
			e.Detail = fmt.Sprintf("%s %d", strings.Split(strings.TrimPrefix(rt.path, "/v1/"), "/")[0], id)
		}
		id = out.ID
	}
	if id != 0 {
		e.ObjectID = strconv.FormatInt(id, 10)
	}
	if e.After, err = snapshot(r, tx, rt.audit.object, p.Tenant, id); err == nil {
		e.Outcome = audit.OK
		err = audit.Record(r.Context(), tx, e)
	}
	if err == nil {
		err = tx.Commit(r.Context())
	}
	if err != nil {
		s.Log.Error("cannot commit an audited change", "route", e.Route, "error", err)
		fail(w, http.StatusServiceUnavailable, "", "the change could not be recorded in the audit trail, so it was not made; retry")
		return
	}
	rec.Flush(w)
}

// denied records a route refused for want of a scope or role.
func (s *Server) denied(r *http.Request, rt route, p authtoken.Principal) {
	e := s.entry(r, rt, p)
	e.Outcome, e.Status, e.Detail = audit.Denied, http.StatusForbidden, "needs the "+rt.scope+" scope"
	if id := r.PathValue("id"); id != "" && len(id) < 30 {
		e.ObjectID = id
	}
	if err := audit.Record(r.Context(), s.DB, e); err != nil {
		s.Log.Error("cannot record a refusal", "error", err)
	}
}

// errorMessage is an error body's problems, one a line.
func errorMessage(b []byte) string {
	var body apiError
	if json.Unmarshal(b, &body) != nil {
		return ""
	}
	return body.Error()
}

// listAudit answers GET /v1/audit: the tenant's trail (every tenant's with
// ?tenant=* for a platform token), newest first, filtered and paged.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p authtoken.Principal) {
	q := r.URL.Query()
	f := audit.Filter{Tenant: p.Tenant, Actor: q.Get("actor"), ActorKind: q.Get("actor_kind"), Action: q.Get("action"),
		ObjectType: q.Get("object_type"), ObjectID: q.Get("object_id"), Outcome: q.Get("outcome"), Limit: 50}
	if t := q.Get("tenant"); t != "" && t != p.Tenant {
		if t != "*" || !p.Can(authtoken.ScopePlatform) {
			fail(w, http.StatusForbidden, "tenant", "only a token of the platform scope reads every tenant's trail (tenant=*)")
			return
		}
		f.AllTenants = true
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			s.respond(w, 0, nil, bad("limit", "from 1 to 500"))
			return
		}
		f.Limit = n
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			s.respond(w, 0, nil, bad("cursor", "the next_cursor of the previous page"))
			return
		}
		f.Before = n
	}
	for name, dst := range map[string]**time.Time{"since": &f.Since, "until": &f.Until} {
		if v := q.Get(name); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				s.respond(w, 0, nil, bad(name, "an RFC 3339 time like 2026-12-01T00:00:00Z"))
				return
			}
			*dst = &t
		}
	}
	if field, err := f.Validate(); err != nil {
		s.respond(w, 0, nil, bad(field, "%v", err))
		return
	}
	items, next, err := audit.List(r.Context(), s.DB, f)
	if items == nil {
		items = []audit.Entry{}
	}
	s.respond(w, http.StatusOK, list[audit.Entry]{Items: items, NextCursor: next}, err)
}
