package main

import (
	"github.com/nanosiem/nano/services/contract"
)

// config is the service's validated configuration.
type config struct {
	Listen string
	// OpsListen serves /metrics, /healthz, /readyz and /version, which the
	// public port (every path the proxies do not route elsewhere) refuses.
	OpsListen string
}

// loadConfig reads the environment and reports every bad variable by name.
func loadConfig(getenv func(string) string) (config, error) {
	r := &contract.Reader{Getenv: getenv}
	c := config{Listen: r.Addr(contract.ListenAddr, contract.Addr(contract.Ports.Web)),
		OpsListen: r.Addr(contract.MetricsAddr, contract.Addr(contract.Ports.WebOps))}
	if c.Listen == c.OpsListen {
		r.Bad(contract.MetricsAddr, "is %s's address too: the operational endpoints need a port of their own, off the public routes", contract.ListenAddr)
	}
	return c, r.Err()
}
