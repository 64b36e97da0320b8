// Package sqlgen translates a parsed search (package query) into one
// ClickHouse SELECT over nano's events table.
//
// Every value from the analyst (and the tenant) is a query parameter,
// written {pN:Type} in the SQL text: ClickHouse's own parameter syntax,
// which the driver sends as server-side parameters where the server has
// them. Identifiers in the SQL come only from this package's fixed column
// list and the configured table (validated); attribute names are
// parameters too. Output column names shown to the analyst live beside the
// SQL (Statement.Columns), never in it.
package sqlgen
