package contract

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Reader reads variables and collects every problem, each naming its
// variable, so a service reports all of them at once.
type Reader struct {
	Getenv func(string) string
	errs   []error
}

// Bad records a problem with the variable name.
func (r *Reader) Bad(name, format string, args ...any) {
	r.errs = append(r.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// Err is every problem recorded, or nil.
func (r *Reader) Err() error { return errors.Join(r.errs...) }

// String is the trimmed value, or def when unset.
func (r *Reader) String(name, def string) string {
	if v := strings.TrimSpace(r.Getenv(name)); v != "" {
		return v
	}
	return def
}

// Secret is the value of name, or else the contents of the file that
// fileName names (Kubernetes mounts secrets as files).
func (r *Reader) Secret(name, fileName string) string {
	if v := r.Getenv(name); v != "" {
		return strings.TrimSpace(v)
	}
	path := strings.TrimSpace(r.Getenv(fileName))
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		r.Bad(fileName, "cannot read %s: %v", path, err)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// Int is a whole number in [min, max], or def when unset.
func (r *Reader) Int(name string, def, min, max int64) int64 {
	v := strings.TrimSpace(r.Getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < min || n > max {
		r.Bad(name, "%q is not a whole number from %d to %d", v, min, max)
		return def
	}
	return n
}

// Float is a number in [min, max], or def when unset.
func (r *Reader) Float(name string, def, min, max float64) float64 {
	v := strings.TrimSpace(r.Getenv(name))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < min || f > max {
		r.Bad(name, "%q is not a number from %g to %g", v, min, max)
		return def
	}
	return f
}

// Duration is a Go duration ("250ms", "30s") in [min, max], or def when
// unset.
func (r *Reader) Duration(name string, def, min, max time.Duration) time.Duration {
	v := strings.TrimSpace(r.Getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < min || d > max {
		r.Bad(name, "%q is not a duration from %s to %s (e.g. 30s)", v, min, max)
		return def
	}
	return d
}

// Bool is "true"/"false" (also 1/0, yes/no), or def when unset.
func (r *Reader) Bool(name string, def bool) bool {
	switch v := strings.ToLower(strings.TrimSpace(r.Getenv(name))); v {
	case "":
		return def
	case "true", "1", "yes":
		return true
	case "false", "0", "no":
		return false
	default:
		r.Bad(name, "%q is not true or false", v)
		return def
	}
}

// Addr is a host:port (host may be empty) or def when unset.
func (r *Reader) Addr(name, def string) string {
	v := r.String(name, def)
	if v == "" {
		return ""
	}
	if err := checkAddr(v); err != nil {
		r.Bad(name, "%v", err)
	}
	return v
}

// Addrs is a comma-separated list of host:port, as a client that fails over
// from one server to the next takes it (the ClickHouse address: one
// Service, or a cluster's servers), or def when unset.
func (r *Reader) Addrs(name, def string) []string {
	v := r.String(name, def)
	if v == "" {
		return nil
	}
	out, err := SplitAddrs(v)
	if err != nil {
		r.Bad(name, "%v", err)
	}
	return out
}

// SplitAddrs splits and checks a comma-separated list of host:port.
func SplitAddrs(v string) ([]string, error) {
	var out []string
	for _, a := range strings.Split(v, ",") {
		a = strings.TrimSpace(a)
		if err := checkAddr(a); err != nil {
			return out, err
		}
		out = append(out, a)
	}
	return out, nil
}

func checkAddr(v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return fmt.Errorf("%q is not host:port ([host]:port, an IPv6 host in brackets)", v)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", v)
	}
	return nil
}
