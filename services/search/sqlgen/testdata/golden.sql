-- level:error service:api
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (severity = {p4:String} AND service = {p5:String})
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p6:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "error"
--   p5 String = "api"
--   p6 UInt64 = 100

-- "connection reset"
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND positionCaseInsensitiveUTF8(message, {p4:String}) > 0
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p5:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "connection reset"
--   p5 UInt64 = 100

-- timeout OR refused
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (positionCaseInsensitiveUTF8(message, {p4:String}) > 0 OR positionCaseInsensitiveUTF8(message, {p5:String}) > 0)
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p6:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "timeout"
--   p5 String = "refused"
--   p6 UInt64 = 100

-- NOT level:debug -service:web-1
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (NOT (severity = {p4:String}) AND NOT (service = {p5:String}))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p6:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "debug"
--   p5 String = "web-1"
--   p6 UInt64 = 100

-- service:api* host:web-?
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (like(service, {p4:String}) AND like(host, {p5:String}))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p6:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "api%"
--   p5 String = "web-_"
--   p6 UInt64 = 100

-- http.status>=500 http.status<600
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (toFloat64OrNull(arrayElement(attr_values, indexOf(attr_keys, {p4:String}))) >= {p5:Float64} AND toFloat64OrNull(arrayElement(attr_values, indexOf(attr_keys, {p6:String}))) < {p7:Float64})
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p8:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "http.status"
--   p5 Float64 = 500
--   p6 String = "http.status"
--   p7 Float64 = 600
--   p8 UInt64 = 100

-- duration:[10 TO 250.5]
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (toFloat64OrNull(arrayElement(attr_values, indexOf(attr_keys, {p4:String}))) >= {p5:Float64} AND toFloat64OrNull(arrayElement(attr_values, indexOf(attr_keys, {p4:String}))) <= {p6:Float64})
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p7:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "duration"
--   p5 Float64 = 10
--   p6 Float64 = 250.5
--   p7 UInt64 = 100

-- level>=warn
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND severity IN ({p4:String}, {p5:String}, {p6:String})
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p7:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "warn"
--   p5 String = "error"
--   p6 String = "fatal"
--   p7 UInt64 = 100

-- level:[info TO error]
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (severity IN ({p4:String}, {p5:String}, {p6:String}, {p7:String}) AND severity IN ({p8:String}, {p9:String}, {p10:String}, {p11:String}, {p12:String}))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p13:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "info"
--   p5 String = "warn"
--   p6 String = "error"
--   p7 String = "fatal"
--   p8 String = "trace"
--   p9 String = "debug"
--   p10 String = "info"
--   p11 String = "warn"
--   p12 String = "error"
--   p13 UInt64 = 100

-- ts>-15m
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (ts > toDateTime({p4:UInt32}) OR (ts = toDateTime({p4:UInt32}) AND ts_nanos > {p5:UInt32}))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p6:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 UInt32 = 1795427100
--   p5 UInt32 = 0
--   p6 UInt64 = 100

-- ts:[2026-11-23T09:30:00.5Z TO 2026-11-23T09:45:00Z]
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND ((ts > toDateTime({p4:UInt32}) OR (ts = toDateTime({p4:UInt32}) AND ts_nanos >= {p5:UInt32})) AND (ts < toDateTime({p6:UInt32}) OR (ts = toDateTime({p6:UInt32}) AND ts_nanos <= {p7:UInt32})))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p8:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 UInt32 = 1795426200
--   p5 UInt32 = 500000000
--   p6 UInt32 = 1795427100
--   p7 UInt32 = 0
--   p8 UInt64 = 100

-- user:* -message:healthcheck
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (has(attr_keys, {p5:String}) AND NOT (positionCaseInsensitiveUTF8(message, {p6:String}) > 0))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p7:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "user"
--   p5 String = "user"
--   p6 String = "healthcheck"
--   p7 UInt64 = 100

-- message:"disk full" raw:*oom*
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (positionCaseInsensitiveUTF8(message, {p4:String}) > 0 AND like(lowerUTF8(raw), {p5:String}))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p6:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "disk full"
--   p5 String = "%%oom%%"
--   p6 UInt64 = 100

-- fail*
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND like(lowerUTF8(message), {p4:String})
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p5:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "%fail%%"
--   p5 UInt64 = 100

-- '; DROP TABLE nano.events; --
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND (positionCaseInsensitiveUTF8(message, {p4:String}) > 0 AND positionCaseInsensitiveUTF8(message, {p5:String}) > 0 AND positionCaseInsensitiveUTF8(message, {p6:String}) > 0 AND positionCaseInsensitiveUTF8(message, {p7:String}) > 0 AND NOT (positionCaseInsensitiveUTF8(message, {p8:String}) > 0))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p9:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "';"
--   p5 String = "DROP"
--   p6 String = "TABLE"
--   p7 String = "nano.events;"
--   p8 String = "-"
--   p9 UInt64 = 100

-- | fields ts, service, http.status, message
SELECT ts, ts_nanos, service, arrayElement(attr_values, indexOf(attr_keys, {p4:String})) AS f2, message
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
ORDER BY ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p5:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "http.status"
--   p5 UInt64 = 100

-- level:error | sort service, -ts
SELECT ts, ts_nanos, feed, severity, service, host, message, attr_keys, attr_values
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND severity = {p4:String}
ORDER BY service ASC, ts DESC, ts_nanos DESC, ts DESC, ts_nanos DESC, message, host, service, feed, severity
LIMIT {p5:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "error"
--   p5 UInt64 = 100

-- | stats count() by service
SELECT service AS g0, count() AS a0
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
GROUP BY g0
ORDER BY a0 DESC, g0
LIMIT {p4:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 UInt64 = 100

-- level:error | stats count(), avg(duration) as avg_ms, max(duration), dc(user) by service, host | sort -avg_ms | limit 10
SELECT service AS g0, host AS g1, count() AS a0, avg(toFloat64OrNull(arrayElement(attr_values, indexOf(attr_keys, {p5:String})))) AS a1, max(toFloat64OrNull(arrayElement(attr_values, indexOf(attr_keys, {p6:String})))) AS a2, uniq(arrayElement(attr_values, indexOf(attr_keys, {p7:String}))) AS a3
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
  AND severity = {p4:String}
GROUP BY g0, g1
ORDER BY a1 DESC, g0, g1
LIMIT {p8:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "error"
--   p5 String = "duration"
--   p6 String = "duration"
--   p7 String = "user"
--   p8 UInt64 = 10

-- | stats sum(bytes), min(bytes) | limit 1
SELECT sum(toFloat64OrNull(arrayElement(attr_values, indexOf(attr_keys, {p4:String})))) AS a0, min(toFloat64OrNull(arrayElement(attr_values, indexOf(attr_keys, {p5:String})))) AS a1
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
ORDER BY a0 DESC
LIMIT {p6:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 String = "bytes"
--   p5 String = "bytes"
--   p6 UInt64 = 1

-- | stats dc(host) by level
SELECT severity AS g0, uniq(host) AS a0
FROM nano.events
WHERE tenant = {p0:String}
  AND ts >= toDateTime({p1:UInt32})
  AND (ts < toDateTime({p2:UInt32}) OR (ts = toDateTime({p2:UInt32}) AND ts_nanos <= {p3:UInt32}))
GROUP BY g0
ORDER BY a0 DESC, g0
LIMIT {p4:UInt64};
--   p0 String = "acme"
--   p1 UInt32 = 1795424400
--   p2 UInt32 = 1795428000
--   p3 UInt32 = 0
--   p4 UInt64 = 100

