// Package otlp takes OpenTelemetry logs (OTLP): POST /v1/logs on the
// ingest HTTP port (protobuf or JSON, optionally gzip-compressed) and the
// gRPC LogsService/Export on its own port (4317), both with the feed's
// token as "Authorization: Bearer <token>" (a header; gRPC metadata). Every
// request goes through the intake's admission (disk guard, time window,
// token rate, tenant quotas) and is answered after ClickHouse committed its
// records. Refusals the exporter should retry are HTTP 429/503 with
// Retry-After, gRPC UNAVAILABLE or RESOURCE_EXHAUSTED with RetryInfo; the
// others are final. The OTLP messages are decoded by the OpenTelemetry
// Collector's pdata module (its protobuf and OTLP/JSON encodings, which
// differ from plain protojson in trace and span ids).
package otlp
