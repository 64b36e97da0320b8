package main

import (
	"github.com/nanosiem/nano/services/contract"
)

// config is the service's validated configuration.
type config struct {
	Listen string
}

// loadConfig reads the environment and reports every bad variable by name.
func loadConfig(getenv func(string) string) (config, error) {
	r := &contract.Reader{Getenv: getenv}
	c := config{Listen: r.Addr(contract.ListenAddr, contract.Addr(contract.Ports.Web))}
	return c, r.Err()
}
