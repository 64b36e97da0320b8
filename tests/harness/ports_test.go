package harness

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// A port FreePort hands out is below the ephemeral range, free to bind,
// and reserved against every other harness process: their flock on its
// file (another open file description, as another process has) fails.
func TestFreePortIsReservedOutsideTheEphemeralRange(t *testing.T) {
	t.Parallel()
	lo, hi := portRange()
	seen := map[int]bool{}
	for range 20 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if p < lo || p > hi || seen[p] {
			t.Fatalf("port %d: outside %d-%d or handed out twice", p, lo, hi)
		}
		seen[p] = true
		f, err := os.Open(filepath.Join(portsDir, strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close()
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			t.Fatalf("port %d is not reserved: another process's lock got %v", p, err)
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		l.Close()
	}
	if eph, ok := ephemeralStart(); ok && hi >= eph {
		t.Fatalf("the range %d-%d reaches the ephemeral range (from %d)", lo, hi, eph)
	}
}
