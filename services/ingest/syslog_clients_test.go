package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nanosiem/nano/services/contract"
	"github.com/nanosiem/nano/tests/harness"
)

// Real syslog senders against the syslog port: util-linux logger (RFC
// 5424 and 3164, plain TCP with both framings and UDP), rsyslog (omfwd
// over TLS with a feed's client certificate, octet-counted; over TLS with
// a feed token in the structured data; plain TCP) and syslog-ng (its
// syslog() destination over TLS with a client certificate, its network()
// destination over plain TCP). Every message sent is stored exactly once
// under the right tenant and feed. Negative controls: rsyslog with a
// client certificate of another CA naming the same feed, and with a wrong
// token, stores nothing.
func TestSyslogRealClients(t *testing.T) {
	harness.Servers(t)
	clients, err := harness.FindSyslogClients()
	if err != nil {
		t.Fatal(err)
	}
	logger, err := exec.LookPath("logger")
	if err != nil {
		t.Fatal("util-linux logger is not installed: ", err)
	}
	p, err := harness.NewMutualTLS("127.0.0.1", "ingest")
	if err != nil {
		t.Fatal(err)
	}
	meta, token := feedToken(t, "ingest_syslog_clients_meta", "acme", "syslog")
	env := syslogTLSEnv(t, p)
	env[contract.PostgresURL] = meta
	env[contract.SyslogTCPSources] = "127.0.0.1/32=acme:plain"
	env[contract.SyslogUDPSources] = "127.0.0.1/32=acme:plain-udp"
	env[contract.IngestFlushInterval] = "100ms"
	env[contract.IngestMaxEventAgeDays] = ""
	s := startWith(t, "ingest_syslog_clients", env)
	waitToken(t, s, token)
	_, tlsPort, _ := net.SplitHostPort(s.syslog.tls)
	_, tcpPort, _ := net.SplitHostPort(s.syslog.tcp)
	_, udpPort, _ := net.SplitHostPort(s.syslog.udp)

	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	ca := write("ca.pem", p.CACert)
	feedCert, feedKey := write("feed.pem", p.Feed.Cert), write("feed-key.pem", p.Feed.Key)
	forgedCert, forgedKey := write("forged.pem", p.ForgedFeed.Cert), write("forged-key.pem", p.ForgedFeed.Key)

	// run starts a daemon and stops it at the end of the test.
	run := func(name string, cmd *exec.Cmd) {
		t.Helper()
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("%s output:\n%s", name, out.String())
			}
		})
	}
	// logTo sends n messages tagged tag through logger into a daemon's
	// input socket.
	waitSocket := func(path string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for {
			if _, err := os.Stat(path); err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never appeared", path)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	logTo := func(sock, tag string, n int) {
		t.Helper()
		waitSocket(sock)
		for i := 0; i < n; i++ {
			if out, err := exec.Command(logger, "-u", sock, "-t", tag, "-p", "auth.warning", fmt.Sprintf("%s message %d", tag, i)).CombinedOutput(); err != nil {
				t.Fatalf("logger: %v %s", err, out)
			}
		}
	}
	const n = 20

	// rsyslog: one daemon per way of attribution (each with its own input
	// socket and action), all sending as rsyslog does to a remote host.
	rsyslog := func(name, action string, globals string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		sock := filepath.Join(d, "in.sock")
		conf := write(name+".conf", fmt.Sprintf(`global(workDirectory=%q %s)
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket=%q)
template(name="nanotoken" type="string" string="<%%PRI%%>1 %%TIMESTAMP:::date-rfc3339%% %%HOSTNAME%% %%APP-NAME%% %%PROCID%% %%MSGID%% [nano@32473 token=\"%s\"] %%msg:2:$%%")
template(name="nanowrongtoken" type="string" string="<%%PRI%%>1 %%TIMESTAMP:::date-rfc3339%% %%HOSTNAME%% %%APP-NAME%% %%PROCID%% %%MSGID%% [nano@32473 token=\"wrong-token-0123456789abcdef\"] %%msg:2:$%%")
action(%s queue.type="LinkedList" action.resumeRetryCount="-1" action.resumeInterval="1")
`, d, globals, sock, token, action))
		run("rsyslogd "+name, clients.Rsyslogd(conf, d))
		return sock
	}
	tlsGlobals := func(cert, key string) string {
		g := fmt.Sprintf(`DefaultNetstreamDriver="gtls" DefaultNetstreamDriverCAFile=%q`, ca)
		if cert != "" {
			g += fmt.Sprintf(` DefaultNetstreamDriverCertFile=%q DefaultNetstreamDriverKeyFile=%q`, cert, key)
		}
		return g
	}
	tlsAction := fmt.Sprintf(`type="omfwd" target="127.0.0.1" port=%q protocol="tcp" TCP_Framing="octet-counted" StreamDriver="gtls" StreamDriverMode="1" StreamDriverAuthMode="x509/name" StreamDriverPermittedPeers="ingest"`, tlsPort)
	cases := []struct {
		name, tag, sock, feed string
	}{
		{"rsyslog-tls-cert", "rsyslogcert", rsyslog("rs-cert", tlsAction+` template="RSYSLOG_SyslogProtocol23Format"`, tlsGlobals(feedCert, feedKey)), "syslog-fw"},
		{"rsyslog-tls-token", "rsyslogtoken", rsyslog("rs-token", tlsAction+` template="nanotoken"`, tlsGlobals("", "")), "syslog-feed"},
		{"rsyslog-tcp", "rsyslogtcp", rsyslog("rs-tcp", fmt.Sprintf(`type="omfwd" target="127.0.0.1" port=%q protocol="tcp"`, tcpPort), ""), "plain"},
	}
	// Negative controls: another CA's certificate naming the feed, a
	// wrong token.
	forgedSock := rsyslog("rs-forged", tlsAction+` template="RSYSLOG_SyslogProtocol23Format"`, tlsGlobals(forgedCert, forgedKey))
	wrongSock := rsyslog("rs-wrong", tlsAction+` template="nanowrongtoken"`, tlsGlobals("", ""))

	// syslog-ng: syslog() over TLS with the feed's certificate (RFC 5424,
	// octet-counted), network() over plain TCP (RFC 3164, a line each).
	ngDir := filepath.Join(dir, "ng")
	if err := os.MkdirAll(ngDir, 0o700); err != nil {
		t.Fatal(err)
	}
	// And syslog() over TLS without a certificate, the feed's token set
	// in the structured data by a rewrite rule (the UI's configuration).
	ngTLS, ngToken, ngTCP := filepath.Join(ngDir, "tls.sock"), filepath.Join(ngDir, "token.sock"), filepath.Join(ngDir, "tcp.sock")
	ngConf := write("syslog-ng.conf", fmt.Sprintf(`@version: 3.38
options { keep-hostname(yes); stats_freq(0); };
source s_tls { unix-dgram(%q); };
source s_token { unix-dgram(%q); };
source s_tcp { unix-dgram(%q); };
rewrite r_nano { set(%q, value(".SDATA.nano@32473.token")); };
destination d_tls { syslog("127.0.0.1" port(%s) transport("tls") tls(ca-file(%q) cert-file(%q) key-file(%q) peer-verify(required-trusted))); };
destination d_token { syslog("127.0.0.1" port(%s) transport("tls") persist-name("nano-token") tls(ca-file(%q) peer-verify(required-trusted))); };
destination d_tcp { network("127.0.0.1" port(%s) transport("tcp")); };
log { source(s_tls); destination(d_tls); };
log { source(s_token); rewrite(r_nano); destination(d_token); };
log { source(s_tcp); destination(d_tcp); };
`, ngTLS, ngToken, ngTCP, token, tlsPort, ca, feedCert, feedKey, tlsPort, ca, tcpPort))
	run("syslog-ng", clients.SyslogNG(ngConf, ngDir))
	cases = append(cases, struct{ name, tag, sock, feed string }{"syslog-ng-syslog-tls", "ngsyslog", ngTLS, "syslog-fw"},
		struct{ name, tag, sock, feed string }{"syslog-ng-syslog-tls-token", "ngtoken", ngToken, "syslog-feed"},
		struct{ name, tag, sock, feed string }{"syslog-ng-network-tcp", "ngnetwork", ngTCP, "plain"})

	for _, c := range cases {
		logTo(c.sock, c.tag, n)
	}
	logTo(forgedSock, "forged", n)
	logTo(wrongSock, "wrongtoken", n)
	// logger straight to the port: RFC 5424 octet-counted and RFC 3164
	// newline-framed over TCP, RFC 5424 over UDP.
	for _, l := range []struct {
		tag  string
		args []string
	}{
		{"logger5424tcp", []string{"--rfc5424", "--tcp", "--octet-count", "-P", tcpPort}},
		{"logger3164tcp", []string{"--rfc3164", "--tcp", "-P", tcpPort}},
		{"logger5424udp", []string{"--rfc5424", "--udp", "-P", udpPort}},
	} {
		for i := 0; i < n; i++ {
			args := append([]string{"-n", "127.0.0.1", "-t", l.tag, "-p", "local3.err"}, l.args...)
			args = append(args, fmt.Sprintf("%s message %d", l.tag, i))
			if out, err := exec.Command(logger, args...).CombinedOutput(); err != nil {
				t.Fatalf("logger %v: %v %s", args, err, out)
			}
			if strings.Contains(l.tag, "udp") {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}
	cases = append(cases, struct{ name, tag, sock, feed string }{"logger-5424-tcp", "logger5424tcp", "", "plain"},
		struct{ name, tag, sock, feed string }{"logger-3164-tcp", "logger3164tcp", "", "plain"},
		struct{ name, tag, sock, feed string }{"logger-5424-udp", "logger5424udp", "", "plain-udp"})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if t.Failed() {
					s.dump(t, "feed = '"+c.feed+"'")
				}
			}()
			s.waitCount(t, fmt.Sprintf("service = '%s' AND message LIKE '%s message %%'", c.tag, c.tag), n)
			s.waitCount(t, fmt.Sprintf("service = '%s' AND tenant = 'acme' AND feed = '%s'", c.tag, c.feed), n)
			// Each message once: n distinct messages.
			var distinct uint64
			if err := s.conn.QueryRow(t.Context(), "SELECT uniqExact(message) FROM "+s.table+" WHERE service = ?", c.tag).Scan(&distinct); err != nil {
				t.Fatal(err)
			}
			if distinct != n {
				t.Errorf("%d distinct messages, want %d", distinct, n)
			}
		})
	}
	t.Run("severity and facility", func(t *testing.T) {
		s.waitCount(t, "service = 'rsyslogcert' AND severity = 'warn' AND attr_values[indexOf(attr_keys, 'syslog.facility')] = 'auth'", n)
		s.waitCount(t, "service = 'logger5424tcp' AND severity = 'error' AND attr_values[indexOf(attr_keys, 'syslog.facility')] = 'local3'", n)
	})
	t.Run("refused", func(t *testing.T) {
		// The refused senders had the time the others took to be stored
		// (and retry every second): none of their messages is.
		if got := s.count(t, "service IN ('forged', 'wrongtoken')"); got != 0 {
			t.Errorf("%d messages of the refused senders were stored", got)
		}
		if v := s.metric(t, `nano_ingest_syslog_refused_total{reason="handshake",transport="tls"}`); v == "" || v == "0" {
			t.Errorf("no TLS handshake refused (the forged certificate): %q", v)
		}
		s.waitMetric(t, `nano_ingest_rejected_events_total{protocol="syslog",reason="unauthorized"}`, fmt.Sprint(n))
		if got := s.count(t, "position(raw, '"+token+"') > 0"); got != 0 {
			t.Errorf("the token is stored in %d raw messages", got)
		}
	})
}

// dump logs some rows where (a failed test's evidence).
func (s *service) dump(t *testing.T, where string) {
	rows, err := s.conn.Query(t.Context(), "SELECT tenant, feed, service, host, message, raw FROM "+s.table+" WHERE "+where+" LIMIT 5")
	if err != nil {
		t.Log(err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var tenant, feed, service, host, message, raw string
		if err := rows.Scan(&tenant, &feed, &service, &host, &message, &raw); err == nil {
			t.Logf("row: %s/%s service=%q host=%q message=%q raw=%q", tenant, feed, service, host, message, raw)
		}
	}
}
