// Command ingest is nano's ingestion service (the seed's "Vector" role):
// stateless, horizontally scaled, taking logs over HTTP with bearer tokens
// (8080) and Splunk HEC (8088) into ClickHouse, with metrics, health and
// readiness on 9598. Configuration comes from the environment
// (services/contract).
package main
