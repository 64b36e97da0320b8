// Package chclient holds how every service dials ClickHouse beyond the
// address and credentials: TLS for the native protocol (ClickHouse Cloud
// serves it only over TLS, on 9440).
package chclient

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/nanosiem/nano/services/contract"
)

// TLSFromEnv is TLS from NANO_CLICKHOUSE_TLS and NANO_CLICKHOUSE_CA_FILE,
// recording a bad value on r under the variable's name.
func TLSFromEnv(r *contract.Reader) *tls.Config {
	tc, err := TLS(r.Bool(contract.ClickHouseTLS, false), r.String(contract.ClickHouseCAFile, ""))
	if err != nil {
		r.Bad(contract.ClickHouseCAFile, "%v", err)
	}
	return tc
}

// TLS is the client TLS configuration: nil when off; otherwise the
// system's roots, or those of the PEM bundle caFile names. The server name
// is the address's host (clickhouse-go sets it per address).
func TLS(enabled bool, caFile string) (*tls.Config, error) {
	if !enabled {
		if caFile != "" {
			return nil, fmt.Errorf("a CA file (%s) is set but TLS is off", caFile)
		}
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return cfg, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("cannot read the CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	cfg.RootCAs = pool
	return cfg, nil
}
