package harness

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Ports for the servers the harness starts. A port a listener on port 0
// handed out and closed again can be taken before the server binds it:
// by another test process's server (go test runs several packages at once,
// and package tests runs its rig tests two at a time) or by an outgoing
// connection, which takes its local port from the same ephemeral range.
// So a port here is drawn below that range (ip_local_port_range), where
// the kernel places no outgoing connection, and is reserved for the test
// process's life with an flock on a file named after it, which every
// harness process honours and the kernel releases when the process ends.

// portsDir holds the reservation files.
var portsDir = filepath.Join(os.TempDir(), "nano-harness-ports")

var (
	portsMu sync.Mutex
	// reserved are this process's ports, each with its locked file.
	reserved = map[int]*os.File{}
)

// ephemeralStart is the first port of the kernel's ephemeral range
// (ip_local_port_range), if it can be read.
func ephemeralStart() (int, bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, false
	}
	eph, err := strconv.Atoi(f[0])
	return eph, err == nil
}

// portRange is where free ports are drawn from: the 10,000 ports below
// the kernel's ephemeral range (read once).
var portRange = sync.OnceValues(func() (lo, hi int) {
	if eph, ok := ephemeralStart(); ok && eph > 11024 {
		return eph - 10000, eph - 1
	}
	return 22768, 32767
})

// FreePort returns a loopback TCP port nobody listens on now and no other
// harness process has reserved; it stays this process's, for a server the
// harness or a test starts.
func FreePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	if err := os.MkdirAll(portsDir, 0o777); err != nil {
		return 0, fmt.Errorf("cannot find a free port: %w", err)
	}
	lo, hi := portRange()
	for range 1000 {
		p := lo + rand.IntN(hi-lo+1)
		if reserved[p] != nil {
			continue
		}
		f, err := os.OpenFile(filepath.Join(portsDir, strconv.Itoa(p)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return 0, fmt.Errorf("cannot find a free port: %w", err)
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				continue // another harness process has it
			}
			return 0, fmt.Errorf("cannot find a free port: %w", err)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			f.Close() // in use by something else: releases the lock
			continue
		}
		l.Close()
		reserved[p] = f
		return p, nil
	}
	return 0, fmt.Errorf("cannot find a free port: 1000 tries in %d-%d found none", lo, hi)
}

// FreeAddr is "127.0.0.1:<port>" with a port from FreePort, for a server a
// test starts later (a child process, or serve called by the test): the
// reservation keeps other test processes' servers off it until then.
func FreeAddr(t testing.TB) string {
	t.Helper()
	p, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}
