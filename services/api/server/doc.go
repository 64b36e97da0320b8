// Package server is the api service's REST API over the metadata in
// PostgreSQL: tokens, users, feeds and their ingest tokens, detection
// rules (with runs and baselines), alerts, dashboards, credentials
// (encrypted at rest), enrichment datasets and the scheduler's state.
// Every replica serves it; errors name the field; lists page by cursor;
// /openapi.json describes it.
package server
