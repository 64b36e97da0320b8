// Command search is nano's search service (port 3002): a query language
// over the events in ClickHouse, read from the dedicated clickhouse-search
// replica, with admission control, search history and saved searches in
// PostgreSQL. It keeps no state of its own; any replica serves any request.
package main
