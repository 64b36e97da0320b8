package syslog

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nanosiem/nano/services/events"
)

var now = time.Date(2026, 12, 5, 20, 0, 0, 0, time.UTC)

func attr(ev events.Event, key string) (string, bool) {
	for _, a := range ev.Attributes {
		if a.Key == key {
			return a.Value, true
		}
	}
	return "", false
}

func TestParseRFC5424(t *testing.T) {
	t.Parallel()
	const token = "tok-0123456789abcdefghij"
	msg := `<165>1 2026-12-05T19:58:01.123456Z fw01.example.com sshd 4242 ID47 [exampleSDID@32473 iut="3" eventSource="App"][nano@32473 token="` + token + `"] Failed password for root`
	p := NewParser().Parse([]byte(msg), now, events.DefaultLimits)
	ev := p.Event
	if p.Token != token {
		t.Errorf("token %q, want %q", p.Token, token)
	}
	if strings.Contains(ev.Raw, token) || strings.Contains(ev.Message, token) {
		t.Errorf("the token is stored: raw %q", ev.Raw)
	}
	if !strings.Contains(ev.Raw, "[nano@32473 token=\"[redacted]\"]") {
		t.Errorf("raw %q: the token's place is not marked", ev.Raw)
	}
	want := time.Date(2026, 12, 5, 19, 58, 1, 123456000, time.UTC)
	if !ev.Time.Equal(want) || ev.Host != "fw01.example.com" || ev.Service != "sshd" || ev.Severity != "info" || ev.Message != "Failed password for root" {
		t.Errorf("fields: %+v", ev)
	}
	for k, v := range map[string]string{AttrFacility: "local4", AttrSeverity: "notice", AttrProcID: "4242", AttrMsgID: "ID47",
		"sd.exampleSDID@32473.iut": "3", "sd.exampleSDID@32473.eventSource": "App", AttrFormat: "rfc5424"} {
		if got, ok := attr(ev, k); !ok || got != v {
			t.Errorf("attribute %s = %q (%v), want %q", k, got, ok, v)
		}
	}
	for _, a := range ev.Attributes {
		if strings.Contains(a.Key, "token") || a.Key == AttrParseError {
			t.Errorf("unexpected attribute %s=%q", a.Key, a.Value)
		}
	}
}

func TestParseRFC3164(t *testing.T) {
	t.Parallel()
	p := NewParser().Parse([]byte("<34>Oct 11 22:14:15 mymachine su[99]: 'su root' failed for lonvick on /dev/pts/8"), now, events.DefaultLimits)
	ev := p.Event
	if ev.Host != "mymachine" || ev.Service != "su" || ev.Severity != "fatal" || ev.Message != "'su root' failed for lonvick on /dev/pts/8" {
		t.Errorf("fields: %+v", ev)
	}
	if ev.Time.Month() != time.October || ev.Time.Day() != 11 || ev.Time.Hour() != 22 {
		t.Errorf("time %v", ev.Time)
	}
	if v, _ := attr(ev, AttrFacility); v != "auth" {
		t.Errorf("facility %q", v)
	}
	if v, _ := attr(ev, AttrProcID); v != "99" {
		t.Errorf("procid %q", v)
	}
	if _, bad := attr(ev, AttrParseError); bad {
		t.Errorf("parse error on a valid message: %+v", ev.Attributes)
	}
	if p.Token != "" {
		t.Errorf("token %q from RFC 3164", p.Token)
	}
}

// Malformed messages are stored whole, with the parser's error.
func TestParseMalformedKeepsTheLine(t *testing.T) {
	t.Parallel()
	for _, line := range []string{
		"no priority at all",
		"<999>1 2026-12-05T00:00:00Z h a - - - bad priority",
		"<13>1 not-a-time host app - - - x",
		"<13>1 2026-12-05T00:00:00Z host app - - [unterminated sd",
		"\xff\xfe binary \x00 noise",
		"",
	} {
		p := NewParser().Parse([]byte(line), now, events.DefaultLimits)
		ev := p.Event
		e, bad := attr(ev, AttrParseError)
		if !bad || e == "" {
			t.Errorf("%q: no %s (attrs %+v)", line, AttrParseError, ev.Attributes)
		}
		if want := strings.ToValidUTF8(line, "\uFFFD"); ev.Message != want || ev.Raw != want {
			t.Errorf("%q: message %q raw %q, want the line", line, ev.Message, ev.Raw)
		}
	}
}

// FuzzParse: any input gives an event with valid UTF-8, within the limits,
// and a token never stays in what is stored.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`<165>1 2026-12-05T19:58:01Z h a p m [nano@1 token="abcdefghijklmnop"] msg`,
		"<34>Oct 11 22:14:15 mymachine su: x", "<0>1 - - - - - -", "<191>", "<", "1 ", "<13>1 2026-12-05T00:00:00Z h a - - [a@1 b=\"\\]\"] m",
	} {
		f.Add([]byte(s))
	}
	l := events.Limits{FieldBytes: 64, MessageBytes: 256, RawBytes: 512, Attributes: 8}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := NewParser().Parse(b, now, l)
		ev := p.Event
		if !utf8.ValidString(ev.Raw) || !utf8.ValidString(ev.Message) || !utf8.ValidString(ev.Host) || !utf8.ValidString(ev.Service) {
			t.Fatalf("invalid UTF-8 in %+v", ev)
		}
		if len(ev.Raw) > l.RawBytes || len(ev.Message) > l.MessageBytes || len(ev.Attributes) > l.Attributes {
			t.Fatalf("over the limits: %+v", ev)
		}
		if len(p.Token) >= 8 && strings.Contains(ev.Raw, p.Token) {
			t.Fatalf("token %q stored in %q", p.Token, ev.Raw)
		}
	})
}
