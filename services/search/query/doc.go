// Package query is nano's search language: the parser that turns what an
// analyst types into a syntax tree, with errors that point at a column.
// The SQL it becomes is sqlgen's business; nothing here touches SQL.
//
//	level:error service:api "connection reset" | stats count() by host | sort -count | limit 10
//
// See docs/reference/search-language.md for the full grammar.
package query
