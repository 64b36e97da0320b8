-- migration 1: events table
CREATE TABLE IF NOT EXISTS nano.events_local ON CLUSTER nano
(
    ts DateTime CODEC(Delta, ZSTD(1)),
    ts_nanos UInt32 CODEC(ZSTD(1)),
    tenant LowCardinality(String),
    feed LowCardinality(String),
    severity LowCardinality(String),
    service LowCardinality(String),
    host String CODEC(ZSTD(1)),
    message String CODEC(ZSTD(3)),
    attr_keys Array(LowCardinality(String)),
    attr_values Array(String) CODEC(ZSTD(3)),
    raw String CODEC(ZSTD(3)),
    INDEX message_tokens message TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 4
)
ENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/nano/events_local', '{replica}')
PARTITION BY toYYYYMMDD(ts)
ORDER BY (tenant, ts, ts_nanos)
TTL ts + toIntervalDay(30) TO VOLUME 'warm', ts + toIntervalDay(365)
SETTINGS storage_policy = 'nano_hot_warm'

-- migration 1: events table
CREATE TABLE IF NOT EXISTS nano.events ON CLUSTER nano AS nano.events_local
ENGINE = Distributed(nano, nano, events_local, rand())

-- migration 2: insert table placing rows by content
CREATE TABLE IF NOT EXISTS nano.events_ingest ON CLUSTER nano AS nano.events_local
ENGINE = Distributed(nano, nano, events_local, cityHash64(tenant, feed, ts, ts_nanos, raw))

