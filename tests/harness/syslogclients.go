package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// SyslogClients are Debian's rsyslog (with its GnuTLS driver) and
// syslog-ng, unpacked by tests/setup into NANO_SYSLOG_CLIENTS (default
// ~/.cache/nano/syslog-clients) because their packages conflict as
// system log daemons.
type SyslogClients struct{ Root string }

// FindSyslogClients locates them, or says how to get them.
func FindSyslogClients() (SyslogClients, error) {
	dir := os.Getenv("NANO_SYSLOG_CLIENTS")
	if dir == "" {
		cache := os.Getenv("NANO_CACHE")
		if cache == "" {
			home, _ := os.UserHomeDir()
			cache = filepath.Join(home, ".cache", "nano")
		}
		dir = filepath.Join(cache, "syslog-clients")
	}
	c := SyslogClients{Root: filepath.Join(dir, "root")}
	for _, bin := range []string{"usr/sbin/rsyslogd", "usr/sbin/syslog-ng"} {
		if _, err := os.Stat(filepath.Join(c.Root, bin)); err != nil {
			return c, fmt.Errorf("%s is missing: run tests/setup (it unpacks rsyslog and syslog-ng): %w", bin, err)
		}
	}
	return c, nil
}

func (c SyslogClients) env() []string {
	return append(os.Environ(), "LD_LIBRARY_PATH="+filepath.Join(c.Root, "usr/lib/x86_64-linux-gnu")+":"+filepath.Join(c.Root, "usr/lib/syslog-ng"))
}

// Rsyslogd runs rsyslogd in the foreground on conf, its modules from the
// unpacked package, its pid file in dir.
func (c SyslogClients) Rsyslogd(conf, dir string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.Root, "usr/sbin/rsyslogd"), "-n", "-f", conf, "-i", filepath.Join(dir, "rsyslogd.pid"),
		"-M", filepath.Join(c.Root, "usr/lib/x86_64-linux-gnu/rsyslog"))
	cmd.Env = c.env()
	return cmd
}

// SyslogNG runs syslog-ng in the foreground on conf, its state in dir.
func (c SyslogClients) SyslogNG(conf, dir string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(c.Root, "usr/sbin/syslog-ng"), "-F", "-f", conf,
		"--module-path="+filepath.Join(c.Root, "usr/lib/syslog-ng/3.38"), "--persist-file="+filepath.Join(dir, "syslog-ng.persist"),
		"--pidfile="+filepath.Join(dir, "syslog-ng.pid"), "--control="+filepath.Join(dir, "syslog-ng.ctl"), "--no-caps", "--stderr")
	cmd.Env = c.env()
	return cmd
}
