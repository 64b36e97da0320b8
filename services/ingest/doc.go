// Command ingest is nano's ingestion service (the seed's "Vector" role):
// stateless, horizontally scaled, taking logs over HTTP with bearer tokens
// (8080), OpenTelemetry logs (OTLP/HTTP POST /v1/logs on 8080, OTLP/gRPC on
// 4317) and Splunk HEC (8088) into ClickHouse, with metrics, health and
// readiness on 9598. Configuration comes from the environment
// (services/contract).
package main
