// Package intake is what the ingest protocols share between decoding a
// request and answering it: authentication against the token store, the
// per-token rate limit, and the writer the events go to.
package intake
