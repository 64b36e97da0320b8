-- migration 1: events table
CREATE TABLE IF NOT EXISTS nano.events
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
ENGINE = MergeTree()
PARTITION BY toYYYYMMDD(ts)
ORDER BY (tenant, ts, ts_nanos)
TTL ts + toIntervalDay(90)
SETTINGS non_replicated_deduplication_window = 1000

