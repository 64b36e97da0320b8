// Package server is the search service's HTTP API: searches (streamed
// JSON, cursor pagination), search history, saved searches, metrics and
// health. Every request is authenticated with an API token issued by the
// api service, bounded in size and time, and admitted by admission control
// before it reaches ClickHouse.
package server
