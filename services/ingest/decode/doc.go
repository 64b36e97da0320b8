// Package decode turns request bodies into events: JSON objects, JSON
// arrays and newline-delimited JSON (bearer HTTP), Splunk HEC event streams
// and raw lines, optionally gzip-compressed, within size bounds.
package decode
