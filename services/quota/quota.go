// Package quota is nano's per-tenant limits on the objects a tenant's
// tokens create (detection rules, signal rules, saved searches,
// enrichment datasets): each one costs every tenant something (a signal
// rule is a materialized view that runs on every insert of every tenant),
// so no one tenant may make them without bound.
//
// A creation checks its limit inside the transaction that inserts, under
// a transaction advisory lock of the tenant, so two requests at once
// cannot both take the last place. (An advisory lock, not the tenant's
// row FOR UPDATE: a row lock needs UPDATE on tenants, which search's
// database role, which saves searches, must not have.) Over the limit the api and search answer 409 Conflict with
// the limit's variable named (jsonhttp.Problem.Limit).
package quota

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The defaults of the limits (docs/security/tenancy.md lists them with their
// variables).
const (
	DefaultMaxRules         = 500
	DefaultMaxSignalRules   = 20
	DefaultMaxDatasets      = 20
	DefaultMaxSavedSearches = 500
)

// Limit caps one kind of object per tenant.
type Limit struct {
	// What is the objects' name as a message says it ("signal rules").
	What string
	// Key is the variable that sets it (NANO_API_MAX_SIGNAL_RULES).
	Key string
	// Max is how many a tenant may hold; 0 is no limit.
	Max int
}

// Exceeded is a creation refused at the limit.
type Exceeded struct {
	Limit Limit
	Have  int
}

func (e *Exceeded) Error() string {
	return fmt.Sprintf("the tenant has %d %s, its limit (%s=%d); delete one or ask the operator to raise the limit", e.Have, e.Limit.What, e.Limit.Key, e.Limit.Max)
}

// lockClass is the first key of the tenants' advisory locks ("nq"); the
// second is a hash of the tenant's id (tenants that share a hash only
// take turns). Two-key locks never meet the single-key ones of the
// migrations and the scheduler.
const lockClass = 0x6e71

// Check takes tenant's lock in tx (creations of one tenant take turns,
// until tx ends) and counts its objects with count (a SELECT count(*)
// taking $1 the tenant, then args); at or over the limit it returns
// *Exceeded.
func Check(ctx context.Context, tx pgx.Tx, tenant string, l Limit, count string, args ...any) error {
	if l.Max <= 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int, hashtext($2))`, lockClass, tenant); err != nil {
		return fmt.Errorf("cannot lock tenant %q: %w", tenant, err)
	}
	var have int
	if err := tx.QueryRow(ctx, count, append([]any{tenant}, args...)...).Scan(&have); err != nil {
		return fmt.Errorf("cannot count the tenant's %s: %w", l.What, err)
	}
	if have >= l.Max {
		return &Exceeded{Limit: l, Have: have}
	}
	return nil
}

// As returns the *Exceeded in err's chain, if any.
func As(err error) (*Exceeded, bool) {
	var e *Exceeded
	ok := errors.As(err, &e)
	return e, ok
}
