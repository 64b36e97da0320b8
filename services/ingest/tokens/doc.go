// Package tokens authenticates ingest credentials: each token maps to a
// tenant and feed. Only SHA-256 hashes are kept, and a lookup compares the
// presented token's hash with every stored hash in constant time.
package tokens
