// Package metadb is nano's metadata schema in PostgreSQL: versioned
// migrations, run by the api (the schema's owner; every replica may run
// them at start, a transaction advisory lock makes them take turns), and
// the exact rights of the services that share the database with less:
// ingest (feed tokens, HEC acknowledgements) and search (token
// verification, search history, saved searches), granted in the same
// transaction. Those services never change the schema: they wait (Ready)
// until the api has migrated it.
package metadb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/services/depwait"
	"github.com/nanosiem/nano/services/pgmigrate"
)

// Migration is one schema version.
type Migration = pgmigrate.Migration

// migrateLock is the advisory lock key migrations hold ("nanomigr").
const migrateLock = 0x6e616e6f6d696772

// Migrations are applied in order; never edit one that has shipped, add
// the next.
var Migrations = []Migration{
	{Version: 1, Name: "tenants, users and API tokens", SQL: `
CREATE TABLE tenants (
    id text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,62}$'),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email text NOT NULL CHECK (length(email) BETWEEN 3 AND 320),
    name text NOT NULL DEFAULT '',
    role text NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, email)
);
CREATE TABLE api_tokens (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id bigint REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL,
    hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    scopes text[] NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    last_used_at timestamptz
);
CREATE INDEX api_tokens_tenant ON api_tokens (tenant, id);
`},
	{Version: 2, Name: "search history and saved searches", SQL: `
CREATE TABLE search_history (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    token_id bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    query text NOT NULL,
    range_from timestamptz NOT NULL,
    range_to timestamptz NOT NULL,
    started_at timestamptz NOT NULL,
    elapsed_ms double precision NOT NULL,
    result_rows bigint NOT NULL,
    rows_read bigint NOT NULL,
    bytes_read bigint NOT NULL,
    status text NOT NULL CHECK (status IN ('ok', 'invalid', 'failed', 'rejected')),
    error text NOT NULL DEFAULT ''
);
CREATE INDEX search_history_tenant ON search_history (tenant, id DESC);
CREATE TABLE saved_searches (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    query text NOT NULL,
    range_from text NOT NULL DEFAULT '',
    range_to text NOT NULL DEFAULT '',
    created_by bigint REFERENCES api_tokens (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
`},
	{Version: 3, Name: "feeds, detection rules, alerts, dashboards, credentials, enrichment and the scheduler", SQL: `
CREATE TABLE feeds (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind text NOT NULL CHECK (kind IN ('http', 'hec', 'vector')),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
CREATE TABLE ingest_tokens (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    feed_id bigint NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    hash bytea NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE TABLE detection_rules (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    query text NOT NULL,
    schedule text NOT NULL,
    window_seconds integer NOT NULL CHECK (window_seconds BETWEEN 60 AND 2592000),
    threshold_op text NOT NULL CHECK (threshold_op IN ('>', '>=', '<', '<=')),
    threshold double precision NOT NULL,
    signal boolean NOT NULL DEFAULT false,
    enabled boolean NOT NULL DEFAULT true,
    next_run_at timestamptz NOT NULL DEFAULT now(),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
CREATE TABLE rule_runs (
    id bigserial PRIMARY KEY,
    rule_id bigint NOT NULL REFERENCES detection_rules (id) ON DELETE CASCADE,
    epoch bigint NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    value double precision,
    alerts integer NOT NULL DEFAULT 0,
    error text NOT NULL DEFAULT ''
);
CREATE INDEX rule_runs_rule ON rule_runs (rule_id, id DESC);
CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    rule_id bigint REFERENCES detection_rules (id) ON DELETE SET NULL,
    run_id bigint REFERENCES rule_runs (id) ON DELETE SET NULL,
    group_key text NOT NULL DEFAULT '',
    value double precision NOT NULL,
    window_start timestamptz NOT NULL,
    window_end timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'closed')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alerts_tenant ON alerts (tenant, id DESC);
CREATE TABLE rule_baselines (
    rule_id bigint PRIMARY KEY REFERENCES detection_rules (id) ON DELETE CASCADE,
    samples integer NOT NULL,
    mean double precision NOT NULL,
    stddev double precision NOT NULL,
    suggested_threshold double precision NOT NULL,
    computed_at timestamptz NOT NULL
);
CREATE TABLE dashboards (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    definition jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
CREATE TABLE credentials (
    id bigserial PRIMARY KEY,
    tenant text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind text NOT NULL,
    nonce bytea NOT NULL,
    ciphertext bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, name)
);
CREATE TABLE enrichment_datasets (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_]{0,40}$'),
    source text NOT NULL,
    format text NOT NULL CHECK (format IN ('csv', 'list')),
    sha256 text NOT NULL DEFAULT '',
    interval_seconds integer NOT NULL CHECK (interval_seconds >= 60),
    last_checksum text NOT NULL DEFAULT '',
    last_rows bigint NOT NULL DEFAULT 0,
    last_synced_at timestamptz,
    last_error text NOT NULL DEFAULT '',
    next_sync_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE scheduler_leader (
    id integer PRIMARY KEY CHECK (id = 1),
    epoch bigint NOT NULL,
    holder text NOT NULL,
    since timestamptz NOT NULL
);
CREATE TABLE task_runs (
    id bigserial PRIMARY KEY,
    task text NOT NULL,
    epoch bigint NOT NULL,
    holder text NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    error text NOT NULL DEFAULT ''
);
CREATE INDEX task_runs_task ON task_runs (task, id DESC);
`},
	{Version: 4, Name: "HEC acknowledgements shared by ingest replicas", SQL: `
-- Each ingest replica takes blocks of acknowledgement ids from the sequence
-- (ids block*1024 ..), so ids are unique across replicas; a committed id is
-- recorded so that any replica can report it to a forwarder's /ack poll.
CREATE SEQUENCE hec_ack_blocks;
CREATE TABLE hec_acks (
    channel text NOT NULL,
    ack_id bigint NOT NULL,
    committed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (channel, ack_id)
);
CREATE INDEX hec_acks_committed_at ON hec_acks (committed_at);
`},
	{Version: 5, Name: "enrichment datasets owned by a tenant or the platform", SQL: `
-- A dataset belongs to one tenant (tenant set) or to the platform (NULL:
-- every tenant may look it up; only a platform token changes it). The
-- datasets before this version were shared by all tenants: they become
-- the platform's. Names are unique per owner.
ALTER TABLE enrichment_datasets ADD COLUMN tenant text REFERENCES tenants (id) ON DELETE CASCADE;
ALTER TABLE enrichment_datasets DROP CONSTRAINT enrichment_datasets_name_key;
CREATE UNIQUE INDEX enrichment_datasets_owner_name ON enrichment_datasets (coalesce(tenant, ''), name);
-- Tables are named by the dataset's id from now on (enrich_<id>): load
-- every dataset again.
UPDATE enrichment_datasets SET last_checksum = '', last_error = '', next_sync_at = now();
`},
	{Version: 6, Name: "tenants' ingest usage per day, shared by ingest replicas", SQL: `
-- Each ingest replica adds the bytes (as received) and events it took for
-- a tenant every few seconds and reads the totals: the tenants' GB/day
-- quota holds across replicas and restarts. One row per tenant and UTC
-- day, kept as the deployment's usage record.
CREATE TABLE ingest_usage (
    tenant text NOT NULL,
    day date NOT NULL,
    bytes bigint NOT NULL DEFAULT 0,
    events bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, day)
);
`},
	identityMigration,
	{Version: 8, Name: "alerts delivered through Alertmanager: rules' severity and labels, alerts' labels, samples and delivery", SQL: `
ALTER TABLE detection_rules
    ADD COLUMN severity text NOT NULL DEFAULT 'warning' CHECK (severity IN ('warning', 'critical', 'info')),
    ADD COLUMN labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object');
-- labels: the alert's identity in Alertmanager, fixed when it is raised;
-- posted_at: its last post (firing); delivered_at: its first accepted
-- one; resolve_posted_at: its end accepted (or needing none).
ALTER TABLE alerts
    ADD COLUMN labels jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(labels) = 'object'),
    ADD COLUMN group_values jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(group_values) = 'array'),
    ADD COLUMN samples jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(samples) = 'array'),
    ADD COLUMN posted_at timestamptz,
    ADD COLUMN delivered_at timestamptz,
    ADD COLUMN resolve_posted_at timestamptz,
    ADD COLUMN delivery_error text NOT NULL DEFAULT '';
-- Alerts raised before: the open ones go out with their rule's labels,
-- the others are over.
UPDATE alerts a SET labels = jsonb_build_object('alertname', r.name, 'tenant', a.tenant, 'rule_id', r.id::text, 'severity', 'warning')
    || CASE WHEN a.group_key = '' THEN '{}'::jsonb ELSE jsonb_build_object('group', a.group_key) END
    FROM detection_rules r WHERE r.id = a.rule_id AND a.status = 'open';
UPDATE alerts SET resolve_posted_at = now() WHERE status <> 'open';
CREATE INDEX alerts_delivery ON alerts (tenant, id) WHERE status = 'open' OR resolve_posted_at IS NULL;
`},
	{Version: 9, Name: "feeds of syslog and of OpenTelemetry logs (OTLP)", SQL: `
-- A syslog feed's tokens go in its messages' structured data on the
-- syslog port (6514); an otlp feed's send OTLP: POST /v1/logs on the
-- ingest HTTP port and gRPC on 4317.
ALTER TABLE feeds DROP CONSTRAINT feeds_kind_check;
ALTER TABLE feeds ADD CONSTRAINT feeds_kind_check CHECK (kind IN ('http', 'hec', 'vector', 'syslog', 'otlp'));
`},
}

// migrationsTable records the applied versions.
const migrationsTable = "nano_schema_migrations"

// Migrate applies the migrations the database has not recorded, all in
// one transaction under an advisory lock, as the schema's owner, with
// every service sharing this login (no service roles), then makes sure
// the audit trail's partitions exist (PrepareAudit).
func Migrate(ctx context.Context, db *pgxpool.Pool) error { return MigrateFor(ctx, db, Roles{}) }

// MigrateFor is Migrate followed, in the same transaction, by the grants
// of roles (Grants): the services' roles get exactly their rights on the
// schema this version has, before the version is visible to them. A role
// that does not exist fails the migration (the deployment creates the
// roles; nothing is applied until they are there).
func MigrateFor(ctx context.Context, db *pgxpool.Pool, roles Roles) error {
	if err := roles.Validate(); err != nil {
		return err
	}
	set := pgmigrate.Set{What: "the metadata database", Table: migrationsTable, Lock: migrateLock, Migrations: Migrations}
	set.Then = func(ctx context.Context, tx pgx.Tx) error { return grant(ctx, tx, roles) }
	if err := set.Apply(ctx, db); err != nil {
		return err
	}
	return PrepareAudit(ctx, db)
}

// Latest is the schema version of this build.
func Latest() int { return Migrations[len(Migrations)-1].Version }

// Ready returns nil once the database holds this build's schema (the api
// has migrated it), a depwait.Pending error while it does not, and any
// other failure (no connection, no right to read the versions) as it is.
// ingest and search wait on it at start instead of migrating.
func Ready(ctx context.Context, db *pgxpool.Pool) error {
	// Whether the table is there first: a query on a missing table would
	// be an error in the server's log at every wait.
	var exists bool
	if err := db.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, migrationsTable).Scan(&exists); err != nil {
		return fmt.Errorf("cannot look for the metadata schema: %w", err)
	}
	if !exists {
		return depwait.Pending("the metadata database has no schema yet (the api migrates it)")
	}
	var v *int
	err := db.QueryRow(ctx, `SELECT max(version) FROM `+pgx.Identifier{migrationsTable}.Sanitize()).Scan(&v)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42P01": // dropped meanwhile
		return depwait.Pending("the metadata database has no schema yet (the api migrates it)")
	case err != nil:
		return fmt.Errorf("cannot read the metadata schema's version: %w", err)
	case v == nil || *v < Latest():
		have := 0
		if v != nil {
			have = *v
		}
		return depwait.Pending("the metadata schema is at version %d, this build needs %d (the api migrates it)", have, Latest())
	}
	return nil
}

// Roles name the PostgreSQL roles of the services that do not own the
// schema; "" means that service logs in as the owner (a single-login
// setup: development, tests).
type Roles struct {
	Ingest, Search string
}

var reRole = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Validate checks the names (lower-case identifiers, as the deployments
// create them).
func (r Roles) Validate() error {
	var errs []error
	for _, x := range [][2]string{{"ingest", r.Ingest}, {"search", r.Search}} {
		if x[1] != "" && !reRole.MatchString(x[1]) {
			errs = append(errs, fmt.Errorf("the %s role %q is not a lower-case PostgreSQL identifier", x[0], x[1]))
		}
	}
	if r.Ingest != "" && r.Ingest == r.Search {
		errs = append(errs, fmt.Errorf("ingest and search share the role %q: each needs its own", r.Ingest))
	}
	return errors.Join(errs...)
}

// Grants are each service's rights on the current schema, nothing more
// (%s is the role). ingest reads the feeds' ingest tokens (not api_tokens,
// not credentials, not users), records and reads HEC acknowledgements and
// takes their id blocks, and adds to and reads the tenants' daily ingest
// usage (the quotas shared by its replicas; it cannot delete the record). search verifies API tokens (their hash, tenant,
// scopes and validity; it only stamps last_used_at), keeps the tenants'
// search history and their saved searches, and finds the enrichment
// datasets a lookup may read (ids, owners and names, never their sources,
// which may hold credentials); it verifies browser sessions (their hash,
// owner, role and validity, and their user's name and whether disabled; it
// only stamps last_seen_at) and appends to the audit trail the changes it
// makes (saved searches; no right to read or change the trail). Both read
// the schema version
// to wait for the api's migrations. A future migration that a service
// needs rights on changes these lists in the same commit.
var Grants = map[string][]string{
	"ingest": {
		`GRANT SELECT ON nano_schema_migrations TO %s`,
		`GRANT SELECT (id, name, kind) ON feeds TO %s`,
		`GRANT SELECT (tenant, feed_id, hash, revoked_at) ON ingest_tokens TO %s`,
		`GRANT SELECT, INSERT, DELETE ON hec_acks TO %s`,
		`GRANT USAGE ON SEQUENCE hec_ack_blocks TO %s`,
		`GRANT SELECT, INSERT, UPDATE (bytes, events) ON ingest_usage TO %s`,
	},
	"search": {
		`GRANT SELECT ON nano_schema_migrations TO %s`,
		`GRANT SELECT (id, name, tenant, user_id, hash, scopes, expires_at, revoked_at), UPDATE (last_used_at) ON api_tokens TO %s`,
		`GRANT SELECT, INSERT ON search_history TO %s`,
		`GRANT USAGE ON SEQUENCE search_history_id_seq TO %s`,
		`GRANT SELECT, INSERT, UPDATE, DELETE ON saved_searches TO %s`,
		`GRANT USAGE ON SEQUENCE saved_searches_id_seq TO %s`,
		`GRANT SELECT (id, tenant, name) ON enrichment_datasets TO %s`,
		`GRANT SELECT (id, tenant, user_id, role, hash, expires_at, idle_seconds, last_seen_at, revoked_at), UPDATE (last_seen_at) ON sessions TO %s`,
		`GRANT SELECT (id, tenant, email, name, disabled_at) ON users TO %s`,
		`GRANT INSERT ON audit_log TO %s`,
	},
}

// grant gives each configured role exactly its Grants: whatever the owner
// granted it before on the schema's tables and sequences is revoked first,
// in the same transaction, so a right a service no longer needs goes.
func grant(ctx context.Context, tx pgx.Tx, roles Roles) error {
	for _, r := range []struct{ service, role string }{{"ingest", roles.Ingest}, {"search", roles.Search}} {
		if r.role == "" {
			continue
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, r.role).Scan(&exists); err != nil {
			return fmt.Errorf("cannot look up the %s role: %w", r.service, err)
		}
		if !exists {
			return fmt.Errorf("the %s role %q does not exist: the deployment creates it (see docs/security/database-roles.md), and the api grants it its rights once it does", r.service, r.role)
		}
		role := pgx.Identifier{r.role}.Sanitize()
		statements := []string{
			`REVOKE ALL ON ALL TABLES IN SCHEMA public FROM ` + role,
			`REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM ` + role,
		}
		for _, g := range Grants[r.service] {
			statements = append(statements, fmt.Sprintf(g, role))
		}
		for _, sql := range statements {
			if _, err := tx.Exec(ctx, sql); err != nil {
				return fmt.Errorf("cannot grant the %s role its rights (%s): %w", r.service, sql, err)
			}
		}
	}
	return nil
}

// EnsureTenant creates a tenant if it does not exist.
func EnsureTenant(ctx context.Context, db *pgxpool.Pool, id, name string) error {
	if id == contract.PlatformTenant {
		// Alertmanager tells the deployment's own alerts by this tenant.
		return fmt.Errorf("cannot create tenant %q: the name is the deployment's own (its platform alerts)", id)
	}
	if _, err := db.Exec(ctx, `INSERT INTO tenants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, name); err != nil {
		return fmt.Errorf("cannot create tenant %q: %w", id, err)
	}
	return nil
}

// Datasets are the ids of the enrichment datasets named in names that
// tenant may read: its own, else the platform's of that name. A name
// missing from the answer is no dataset of either.
func Datasets(ctx context.Context, db *pgxpool.Pool, tenant string, names []string) (map[string]int64, error) {
	out := map[string]int64{}
	if len(names) == 0 {
		return out, nil
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	rows, err := db.Query(ctx, `SELECT DISTINCT ON (name) name, id FROM enrichment_datasets
WHERE name = ANY($2) AND (tenant = $1 OR tenant IS NULL) ORDER BY name, tenant NULLS LAST`, tenant, names)
	if err != nil {
		return nil, fmt.Errorf("cannot read the enrichment datasets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var id int64
		if err := rows.Scan(&name, &id); err != nil {
			return nil, fmt.Errorf("cannot read the enrichment datasets: %w", err)
		}
		out[name] = id
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cannot read the enrichment datasets: %w", err)
	}
	return out, nil
}
