// Package metadb is nano's metadata schema in PostgreSQL: versioned,
// idempotent migrations shared by the api service (which owns most of the
// data) and search (token verification, search history, saved searches).
// Every replica of either service may run Migrate at start; a transaction
// advisory lock makes them take turns.
package metadb

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/nanosiem/nano/services/contract"
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
	{Version: 6, Name: "alerts delivered through Alertmanager: rules' severity and labels, alerts' labels, samples and delivery", SQL: `
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
}

// Migrate applies the migrations the database has not recorded, all in
// one transaction under an advisory lock.
func Migrate(ctx context.Context, db *pgxpool.Pool) error {
	return pgmigrate.Set{What: "the metadata database", Table: "nano_schema_migrations", Lock: migrateLock, Migrations: Migrations}.Apply(ctx, db)
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
