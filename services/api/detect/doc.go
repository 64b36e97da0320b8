// Package detect runs detection rules: each rule is a search (nano's query
// language) counted over a time window on a schedule; crossing its
// threshold raises an alert. Signal rules count through a ClickHouse
// materialized view the service creates. Every run is recorded, and the
// recorded values give each rule a baseline and a suggested threshold.
package detect
