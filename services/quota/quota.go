// Package quota is nano's per-tenant limits on the objects a tenant's
// tokens create (detection rules, signal rules, saved searches,
// enrichment datasets): each one costs every tenant something (a signal
// rule is a materialized view that runs on every insert of every tenant),
// so no one tenant may make them without bound.
//
// A creation checks its limit inside the transaction that inserts, with
// the tenant's row locked, so two requests at once cannot both take the
// last place. Over the limit the api and search answer 409 Conflict with
// the limit's variable named (jsonhttp.ErrorDetail.Limit).
package quota

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// The defaults of the limits (the README and docs/limits.md list them with
// their variables).
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

// Check locks tenant's row in tx (creations of one tenant take turns) and
// counts its objects with count (a SELECT count(*) taking $1 the tenant,
// then args); at or over the limit it returns *Exceeded.
func Check(ctx context.Context, tx pgx.Tx, tenant string, l Limit, count string, args ...any) error {
	if l.Max <= 0 {
		return nil
	}
	var locked string
	if err := tx.QueryRow(ctx, `SELECT id FROM tenants WHERE id = $1 FOR UPDATE`, tenant).Scan(&locked); err != nil {
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
