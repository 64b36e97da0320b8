// Package syslog is ingest's syslog port: RFC 5424 and RFC 3164 messages
// over TCP (octet-counted or newline framing, RFC 6587), TLS (RFC 5425)
// and UDP (RFC 5426), each message attributed to a tenant and feed by the
// connection's client certificate, a feed token in its structured data
// (TLS only) or, for plain TCP and UDP, the operator's list of source
// networks; see docs/reference/syslog.md.
package syslog
