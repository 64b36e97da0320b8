// Package audit is nano's audit trail: who (a person or an API token)
// did what (the route, the object, a summary of it before and after,
// without secrets), in which tenant, when, from where, and whether it was
// done, refused or failed. The api and search services record every
// change they make, sign-ins, sign-outs and failed sign-ins; the trail is
// append-only (metadb's audit_log: no service may update or delete it;
// retention drops whole months, Expire).
package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/authtoken"
)

// Outcomes of an entry.
const (
	OK     = "ok"     // done
	Denied = "denied" // refused: the principal may not
	Failed = "failed" // attempted and failed (a sign-in)
)

// Kinds of actor.
const (
	ActorUser      = "user"
	ActorToken     = "token"
	ActorAnonymous = "anonymous"
)

// Entry is one record of the trail.
type Entry struct {
	ID      int64     `json:"id"`
	At      time.Time `json:"at"`
	Tenant  string    `json:"tenant"`
	Service string    `json:"service"`
	// ActorKind is user, token or anonymous; ActorID the user's or the
	// token's id; Actor the user's email or the token's name.
	ActorKind string `json:"actor_kind"`
	ActorID   *int64 `json:"actor_id,omitempty"`
	Actor     string `json:"actor"`
	SessionID *int64 `json:"session_id,omitempty"`
	// Action is what was done: rule.update, alert.update, signin,
	// signin.failed, signout...; Route the API operation.
	Action     string `json:"action"`
	Route      string `json:"route,omitempty"`
	ObjectType string `json:"object_type,omitempty"`
	ObjectID   string `json:"object_id,omitempty"`
	Outcome    string `json:"outcome"`
	Status     int    `json:"status,omitempty"`
	// Before and After summarize the object (its fields without secrets).
	Before    json.RawMessage `json:"before,omitempty"`
	After     json.RawMessage `json:"after,omitempty"`
	Detail    string          `json:"detail,omitempty"`
	IP        string          `json:"ip"`
	UserAgent string          `json:"user_agent,omitempty"`
}

// maxSummary bounds Before and After; a larger summary is replaced by its
// size.
const maxSummary = 16 << 10

// By fills the entry's actor from p.
func (e Entry) By(p authtoken.Principal) Entry {
	e.Tenant = p.Tenant
	switch {
	case p.SessionID != 0:
		e.ActorKind, e.ActorID, e.Actor = ActorUser, p.UserID, p.Email
		id := p.SessionID
		e.SessionID = &id
	case p.TokenID != 0:
		id := p.TokenID
		e.ActorKind, e.ActorID, e.Actor = ActorToken, &id, p.TokenName
	default:
		e.ActorKind = ActorAnonymous
	}
	return e
}

// DB is where entries are written: the pool, or the transaction of the
// change they record (the change and its entry commit together).
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Record appends e (At and ID are the database's).
func Record(ctx context.Context, db DB, e Entry) error {
	if e.Service == "" || e.Action == "" || e.ActorKind == "" || e.Outcome == "" {
		return errors.New("cannot record an audit entry without its service, action, actor kind and outcome")
	}
	_, err := db.Exec(ctx, `INSERT INTO audit_log (tenant, service, actor_kind, actor_id, actor, session_id, action, route, object_type, object_id,
outcome, status, before, after, detail, ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)`,
		clip(e.Tenant, 63), e.Service, e.ActorKind, e.ActorID, clip(e.Actor, 320), e.SessionID, clip(e.Action, 100), clip(e.Route, 200),
		clip(e.ObjectType, 50), clip(e.ObjectID, 100), e.Outcome, e.Status, summary(e.Before), summary(e.After), clip(e.Detail, 500),
		clip(e.IP, 64), clip(e.UserAgent, 300))
	if err != nil {
		return fmt.Errorf("cannot record the audit entry: %w", err)
	}
	return nil
}

// summary is a JSON summary as stored: nil stays NULL, a large one is
// replaced by its size.
func summary(b json.RawMessage) any {
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if len(b) > maxSummary {
		return fmt.Sprintf(`{"truncated": true, "bytes": %d}`, len(b))
	}
	return string(b)
}

func clip(s string, n int) string {
	if len(s) > n {
		s = s[:n]
	}
	return strings.ToValidUTF8(s, "")
}

// Filter selects entries of a tenant (AllTenants: every tenant's, for the
// platform's operator), newest first.
type Filter struct {
	Tenant     string
	AllTenants bool
	// Actor matches the email or token name exactly; ActorKind user or
	// token; Action exactly, or every action under a prefix ending in "."
	// (rule. matches rule.create and rule.update).
	Actor, ActorKind, Action string
	ObjectType, ObjectID     string
	Outcome                  string
	Since, Until             *time.Time
	// Before pages: entries with a smaller id (the previous page's
	// next_cursor); Limit is the page size.
	Before int64
	Limit  int
}

var reAction = regexp.MustCompile(`^[a-z_]+(\.[a-z_]+)*\.?$`)

// Validate names the first bad filter field.
func (f Filter) Validate() (field string, err error) {
	switch {
	case f.Limit < 1 || f.Limit > 500:
		return "limit", errors.New("from 1 to 500")
	case f.Action != "" && !reAction.MatchString(f.Action):
		return "action", errors.New("an action like rule.update, or a prefix like rule.")
	case f.ActorKind != "" && f.ActorKind != ActorUser && f.ActorKind != ActorToken && f.ActorKind != ActorAnonymous:
		return "actor_kind", errors.New("user, token or anonymous")
	case f.Outcome != "" && f.Outcome != OK && f.Outcome != Denied && f.Outcome != Failed:
		return "outcome", errors.New("ok, denied or failed")
	case f.Since != nil && f.Until != nil && !f.Since.Before(*f.Until):
		return "until", errors.New("after since")
	}
	for name, v := range map[string]string{"actor": f.Actor, "object_type": f.ObjectType, "object_id": f.ObjectID} {
		if len(v) > 320 || !utf8.ValidString(v) {
			return name, errors.New("at most 320 characters")
		}
	}
	return "", nil
}

// List answers one page of entries and the cursor of the next ("" at the
// end).
func List(ctx context.Context, db *pgxpool.Pool, f Filter) ([]Entry, string, error) {
	if field, err := f.Validate(); err != nil {
		return nil, "", fmt.Errorf("%s: %w", field, err)
	}
	before := f.Before
	if before <= 0 {
		before = 1<<63 - 1
	}
	rows, err := db.Query(ctx, `SELECT id, at, tenant, service, actor_kind, actor_id, actor, session_id, action, route, object_type, object_id,
outcome, status, before, after, detail, ip, user_agent FROM audit_log
WHERE ($1 OR tenant = $2) AND id < $3
AND ($4 = '' OR actor = $4) AND ($5 = '' OR actor_kind = $5)
AND ($6 = '' OR action = $6 OR (right($6, 1) = '.' AND starts_with(action, $6)))
AND ($7 = '' OR object_type = $7) AND ($8 = '' OR object_id = $8) AND ($9 = '' OR outcome = $9)
AND ($10::timestamptz IS NULL OR at >= $10) AND ($11::timestamptz IS NULL OR at < $11)
ORDER BY id DESC LIMIT $12`, f.AllTenants, f.Tenant, before, f.Actor, f.ActorKind, f.Action, f.ObjectType, f.ObjectID, f.Outcome, f.Since, f.Until, f.Limit)
	if err != nil {
		return nil, "", fmt.Errorf("cannot read the audit trail: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Entry, error) {
		var e Entry
		var before, after []byte
		err := r.Scan(&e.ID, &e.At, &e.Tenant, &e.Service, &e.ActorKind, &e.ActorID, &e.Actor, &e.SessionID, &e.Action, &e.Route, &e.ObjectType,
			&e.ObjectID, &e.Outcome, &e.Status, &before, &after, &e.Detail, &e.IP, &e.UserAgent)
		e.Before, e.After = before, after
		return e, err
	})
	if err != nil {
		return nil, "", fmt.Errorf("cannot read the audit trail: %w", err)
	}
	next := ""
	if len(out) == f.Limit {
		next = fmt.Sprint(out[len(out)-1].ID)
	}
	return out, next, nil
}
