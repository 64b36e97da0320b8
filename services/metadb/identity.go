package metadb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// identityMigration is people signing in through an identity provider
// (OIDC), their browser sessions, the sign-in flows in progress, and the
// audit trail (docs/security/sign-in.md).
//
// audit_log is append-only for the services: it is partitioned by month
// (nano_audit_partitions creates the partitions ahead of time; retention
// drops whole partitions), nobody holds UPDATE, DELETE or TRUNCATE on it
// or its partitions (revoked from PUBLIC and from the owner, the api's
// role, which runs the migrations), and triggers refuse those statements
// even from a superuser. Services that only write it (search) need INSERT
// alone; the identity column needs no right on its sequence. A role
// holding no right on the table but its owner's may re-grant itself: what
// PostgreSQL cannot take from an owner is documented in docs/security/sign-in.md.
var identityMigration = Migration{Version: 7, Name: "users signed in through OIDC, sessions, sign-in flows and the append-only audit trail", SQL: `
ALTER TABLE users
    ADD COLUMN oidc_issuer text,
    ADD COLUMN oidc_subject text,
    ADD COLUMN disabled_at timestamptz,
    ADD COLUMN last_login_at timestamptz;
CREATE UNIQUE INDEX users_oidc_subject ON users (tenant, oidc_issuer, oidc_subject) WHERE oidc_subject IS NOT NULL;

-- A browser session: the cookie holds a secret whose SHA-256 is hash. The
-- role is the one the identity provider's groups gave at sign-in.
CREATE TABLE sessions (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role text NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    idle_seconds integer NOT NULL CHECK (idle_seconds > 0),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz,
    ip text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_tenant ON sessions (tenant, id);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- A sign-in in progress: state and the browser binding are stored hashed;
-- the row is consumed (deleted) by the callback, so a state works once.
CREATE TABLE login_states (
    state_hash bytea PRIMARY KEY CHECK (length(state_hash) = 32),
    binding_hash bytea NOT NULL CHECK (length(binding_hash) = 32),
    nonce text NOT NULL,
    verifier text NOT NULL,
    tenant text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX login_states_expires ON login_states (expires_at);

-- The audit trail. tenant is '' for a failed sign-in that named none; no
-- foreign keys: deleting a user or a tenant keeps its trail.
CREATE TABLE audit_log (
    id bigint GENERATED ALWAYS AS IDENTITY,
    at timestamptz NOT NULL DEFAULT now(),
    tenant text NOT NULL DEFAULT '',
    service text NOT NULL,
    actor_kind text NOT NULL CHECK (actor_kind IN ('user', 'token', 'anonymous')),
    actor_id bigint,
    actor text NOT NULL DEFAULT '',
    session_id bigint,
    action text NOT NULL,
    route text NOT NULL DEFAULT '',
    object_type text NOT NULL DEFAULT '',
    object_id text NOT NULL DEFAULT '',
    outcome text NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    status integer NOT NULL DEFAULT 0,
    before jsonb,
    after jsonb,
    detail text NOT NULL DEFAULT '',
    ip text NOT NULL DEFAULT '',
    user_agent text NOT NULL DEFAULT '',
    -- origin: '' for an entry made here; moved:<source>:<id> for one a
    -- tier move brought from another deployment (it is appended once).
    origin text NOT NULL DEFAULT '',
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE INDEX audit_log_tenant ON audit_log (tenant, id DESC);
CREATE INDEX audit_log_origin ON audit_log (origin) WHERE origin <> '';

CREATE FUNCTION nano_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION nano_audit_refuse();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION nano_audit_refuse();
REVOKE ALL ON audit_log FROM PUBLIC;
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM CURRENT_USER;

-- nano_audit_partition makes sure the partition of the month of m exists,
-- with the parent's refusals (row triggers are cloned; a partition's own
-- TRUNCATE needs its own trigger) and the same revoked rights;
-- nano_audit_partitions those of this month and the next months_ahead.
CREATE FUNCTION nano_audit_partition(m date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    first date := date_trunc('month', m)::date;
    part text := 'audit_log_' || to_char(first, 'YYYYMM');
BEGIN
    PERFORM pg_advisory_xact_lock(7233170240853516659);
    IF to_regclass(quote_ident(part)) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I PARTITION OF audit_log FOR VALUES FROM (%L) TO (%L)', part,
        first::timestamp AT TIME ZONE 'UTC', (first + interval '1 month')::timestamp AT TIME ZONE 'UTC');
    EXECUTE format('CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON %I FOR EACH STATEMENT EXECUTE FUNCTION nano_audit_refuse()', part);
    EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', part);
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON %I FROM CURRENT_USER', part);
    RETURN true;
END $$;
CREATE FUNCTION nano_audit_partitions(months_ahead integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    made integer := 0;
BEGIN
    IF months_ahead < 0 OR months_ahead > 24 THEN
        RAISE EXCEPTION 'months_ahead must be from 0 to 24, got %', months_ahead;
    END IF;
    FOR i IN 0..months_ahead LOOP
        IF nano_audit_partition(((now() AT TIME ZONE 'UTC')::date + make_interval(months => i))::date) THEN
            made := made + 1;
        END IF;
    END LOOP;
    RETURN made;
END $$;
REVOKE ALL ON FUNCTION nano_audit_partition(date) FROM PUBLIC;
REVOKE ALL ON FUNCTION nano_audit_partitions(integer) FROM PUBLIC;
`}

// AuditMonthsAhead is how many months of audit partitions beyond the
// current one exist after PrepareAudit.
const AuditMonthsAhead = 2

// PrepareAudit creates the audit trail's partitions of this month and the
// next AuditMonthsAhead (the api at start and hourly; Migrate too). An
// insert into a month without its partition fails, so a change that
// cannot be audited is not made.
func PrepareAudit(ctx context.Context, db *pgxpool.Pool) error {
	if _, err := db.Exec(ctx, `SELECT nano_audit_partitions($1)`, AuditMonthsAhead); err != nil {
		return fmt.Errorf("cannot create the audit trail's partitions: %w", err)
	}
	return nil
}
