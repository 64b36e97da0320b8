package hostguard

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The guard, as the host loads it, in network namespaces shaped like a
// server: a "host" namespace that forwards between a workload (a pod or
// container: its own namespace, routed through the host, as a CNI bridge
// or Docker's does) and the "cloud" (a namespace holding 169.254.169.254
// and another address, on the host's default route). Before the rule is
// loaded the workload reaches the metadata service (the control: without
// the guard a pod can read the user data); after, the workload and the
// host's unprivileged processes are refused while the host's root still
// reaches it and the workload still reaches the rest of the cloud. Run it
// under the rig lock (it makes network namespaces): flock
// /work/locks/rig.lock go test ./components/hostguard.
func TestGuardInNetworkNamespaces(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Fatal("the guard's test makes network namespaces and needs root")
	}
	for _, bin := range []string{"ip", Nft, "perl", "setpriv", "timeout"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("the guard's test needs %s (tests/setup installs nftables): %v", bin, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id := fmt.Sprintf("%d", os.Getpid()%100000)
	host, pod, cloud := "nano-gh-"+id, "nano-gp-"+id, "nano-gc-"+id
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, ns := range []string{host, pod, cloud} {
		run("ip", "netns", "add", ns)
		t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns).Run() })
	}
	for _, c := range [][]string{
		{"ip", "-n", host, "link", "add", "pod0", "type", "veth", "peer", "name", "eth0", "netns", pod},
		{"ip", "-n", host, "link", "add", "up0", "type", "veth", "peer", "name", "eth0", "netns", cloud},
		{"ip", "-n", host, "addr", "add", "10.42.0.1/24", "dev", "pod0"},
		{"ip", "-n", host, "addr", "add", "192.0.2.2/24", "dev", "up0"},
		{"ip", "-n", pod, "addr", "add", "10.42.0.2/24", "dev", "eth0"},
		{"ip", "-n", cloud, "addr", "add", "192.0.2.1/24", "dev", "eth0"},
		{"ip", "-n", cloud, "addr", "add", Address + "/32", "dev", "lo"},
	} {
		run(c...)
	}
	for _, ns := range []string{host, pod, cloud} {
		for _, dev := range []string{"lo", "eth0", "pod0", "up0"} {
			_ = exec.CommandContext(ctx, "ip", "-n", ns, "link", "set", dev, "up").Run()
		}
	}
	run("ip", "-n", pod, "route", "add", "default", "via", "10.42.0.1")
	run("ip", "-n", host, "route", "add", "default", "via", "192.0.2.1")
	run("ip", "-n", cloud, "route", "add", "10.42.0.0/24", "via", "192.0.2.2")
	run("ip", "netns", "exec", host, "sysctl", "-qw", "net.ipv4.ip_forward=1")

	// The cloud: one server on every address (the metadata service's and
	// another), answering each connection with a line.
	srv := exec.CommandContext(ctx, "ip", "netns", "exec", cloud, "perl", "-MIO::Socket::INET", "-e",
		`$s = IO::Socket::INET->new(LocalAddr => "0.0.0.0:80", Listen => 16, ReuseAddr => 1) or die "listen: $!";
$| = 1; print "ready\n";
while ($c = $s->accept) { print $c "metadata\n"; close $c }`)
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Process.Kill(); _ = srv.Wait() })
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("the cloud's server did not start: %q %v", line, err)
	}

	// dial connects from a namespace (as uid, 0 for root) and reports
	// "connected" or the error.
	dial := func(ns string, uid int, addr string) string {
		t.Helper()
		args := []string{"ip", "netns", "exec", ns}
		if uid != 0 {
			args = append(args, "setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups")
		}
		args = append(args, "timeout", "10", "perl", "-MIO::Socket::INET", "-e",
			fmt.Sprintf(`IO::Socket::INET->new(PeerAddr => "%s:80") and print "connected" or print $!`, addr))
		b, _ := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
		return strings.TrimSpace(string(b))
	}
	const nobody = 65534
	for _, c := range []struct {
		who, ns string
		uid     int
	}{{"a pod", pod, 0}, {"an unprivileged host process", host, nobody}} {
		if got := dial(c.ns, c.uid, Address); got != "connected" {
			t.Fatalf("without the guard %s should reach the metadata service (the rig's control), got %q", c.who, got)
		}
	}

	rules := filepath.Join(t.TempDir(), "guard.nft")
	if err := os.WriteFile(rules, []byte(Ruleset()), 0o644); err != nil {
		t.Fatal(err)
	}
	// Loaded twice, as at every start of the unit: the second load
	// replaces the table, it does not add to it.
	for range 2 {
		run("ip", "netns", "exec", host, Nft, "-f", rules)
	}
	if listed := run("ip", "netns", "exec", host, Nft, "list", "table", "inet", Table); strings.Count(listed, "reject") != 2 {
		t.Errorf("after two loads the table has %d reject rules, want 2:\n%s", strings.Count(listed, "reject"), listed)
	}

	for _, c := range []struct {
		who, ns string
		uid     int
		addr    string
		want    string
	}{
		{"a pod to the metadata service", pod, 0, Address, "Connection refused"},
		{"a pod running as a user, to the metadata service", pod, nobody, Address, "Connection refused"},
		{"an unprivileged host process to the metadata service", host, nobody, Address, "Connection refused"},
		{"the host's root to the metadata service", host, 0, Address, "connected"},
		{"a pod to another address of the cloud", pod, 0, "192.0.2.1", "connected"},
	} {
		if got := dial(c.ns, c.uid, c.addr); got != c.want {
			t.Errorf("with the guard, %s: %q, want %q", c.who, got, c.want)
		}
	}
}

func TestUnitRunsBeforeTheRuntimeAndIsRequiredByIt(t *testing.T) {
	t.Parallel()
	for _, runtime := range []string{"docker.service", "k3s.service"} {
		u, err := Unit(runtime)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"Before=network-pre.target " + runtime + "\n", "RequiredBy=" + runtime + "\n",
			"DefaultDependencies=no\n", "Type=oneshot\n", "RemainAfterExit=yes\n"} {
			if !strings.Contains(u, want) {
				t.Errorf("%s guard unit lacks %q:\n%s", runtime, want, u)
			}
		}
		if strings.Contains(u, "ExecStop") {
			t.Errorf("stopping the guard must not remove the rule:\n%s", u)
		}
		if got := strings.Join(ExecStart(u), " "); got != Nft+" -f "+RulesetPath {
			t.Errorf("ExecStart %q", got)
		}
	}
	for _, bad := range []string{"", "docker", "docker.service; rm -rf /", "../x.service"} {
		if _, err := Unit(bad); err == nil {
			t.Errorf("Unit(%q) accepted", bad)
		}
	}
}
