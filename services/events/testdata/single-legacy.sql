-- migration 1: events table
CREATE TABLE IF NOT EXISTS nano.events
(
    ts DateTime,
    ts_nanos UInt32,
    tenant String,
    feed String,
    severity String,
    service String,
    host String,
    message String,
    attr_keys Array(String),
    attr_values Array(String),
    raw String
)
ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (tenant, ts, ts_nanos)

