package syslog

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/nanosiem/nano/services/events"
)

// TokenSDID is the name (before the "@") of the structured-data element
// that carries a feed token over TLS: [nano@32473 token="..."]. Any
// enterprise number is accepted after the "@" (32473 is the one nano's
// documentation uses).
const TokenSDID = "nano"

// tokenParam is the parameter of that element holding the token.
const tokenParam = "token"

// Attribute keys set on syslog events.
const (
	AttrParseError = "syslog.parse_error"
	AttrFacility   = "syslog.facility"
	AttrSeverity   = "syslog.severity"
	AttrProcID     = "syslog.procid"
	AttrMsgID      = "syslog.msgid"
	AttrFormat     = "syslog.format"
	// AttrTruncated is set on a message cut to the size limit: its length.
	AttrTruncated = "syslog.truncated_from"
	// sdPrefix prefixes structured data: sd.<SD-ID>.<param>.
	sdPrefix = "sd."
)

// redacted replaces a token in the stored original message.
const redacted = "[redacted]"

// Parsed is one syslog message as nano stores it, and the feed token its
// structured data carried ("" when none).
type Parsed struct {
	Event events.Event
	Token string
}

// Parser parses syslog messages; one per connection (it is not safe for
// concurrent use).
type Parser struct {
	rfc5424, rfc3164 gosyslog.Machine
}

// NewParser returns a parser of both formats, in best-effort mode (a
// malformed message keeps what was read before the error).
func NewParser() *Parser {
	return &Parser{
		rfc5424: rfc5424.NewMachine(rfc5424.WithBestEffort()),
		rfc3164: rfc3164.NewMachine(rfc3164.WithBestEffort(), rfc3164.WithYear(rfc3164.CurrentYear{}), rfc3164.WithRFC3339(),
			rfc3164.WithSecondFractions()),
	}
}

// Parse maps one syslog message (without its framing) to an event: RFC
// 5424 when it starts with "<PRI>1 ", else RFC 3164 (BSD). A message the
// parsers refuse is kept whole as the event's message and raw text, with
// the parser's error in syslog.parse_error and whatever fields were read
// before it; nothing is dropped for being malformed. A token carried in
// the structured data is taken out of the attributes and replaced in the
// raw text. now dates messages without a time; extra attributes are added.
func (sp *Parser) Parse(msg []byte, now time.Time, l events.Limits, extra ...events.Attr) Parsed {
	line := toValidUTF8(msg)
	ev := events.Event{Time: now, Raw: line}
	var (
		m      gosyslog.Message
		err    error
		format string
	)
	if is5424(msg) {
		format = "rfc5424"
		m, err = sp.rfc5424.Parse(msg)
	} else {
		format = "rfc3164"
		m, err = sp.rfc3164.Parse(msg)
	}
	var p Parsed
	var attrs events.Attrs
	attrs = append(attrs, events.Attr{Key: AttrFormat, Value: format})
	attrs = append(attrs, extra...)
	var base *gosyslog.Base
	switch sm := m.(type) {
	case *rfc5424.SyslogMessage:
		if sm != nil {
			base = &sm.Base
			if sm.StructuredData != nil {
				for id, params := range *sm.StructuredData {
					name, _, _ := strings.Cut(id, "@")
					for k, v := range params {
						if name == TokenSDID && k == tokenParam {
							p.Token = v
							continue
						}
						attrs = append(attrs, events.Attr{Key: sdPrefix + id + "." + k, Value: toValidUTF8([]byte(v))})
					}
				}
			}
		}
	case *rfc3164.SyslogMessage:
		if sm != nil {
			base = &sm.Base
		}
	}
	if base != nil {
		if base.Timestamp != nil && !base.Timestamp.IsZero() {
			ev.Time = *base.Timestamp
		}
		if base.Hostname != nil {
			ev.Host = *base.Hostname
		}
		if base.Appname != nil {
			ev.Service = *base.Appname
		}
		if base.Severity != nil {
			if lvl := base.SeverityLevel(); lvl != nil {
				ev.Severity = events.NormalizeSeverity(*lvl)
				attrs = append(attrs, events.Attr{Key: AttrSeverity, Value: *lvl})
			}
		}
		if f := base.FacilityLevel(); f != nil {
			attrs = append(attrs, events.Attr{Key: AttrFacility, Value: *f})
		}
		if base.ProcID != nil {
			attrs = append(attrs, events.Attr{Key: AttrProcID, Value: *base.ProcID})
		}
		if base.MsgID != nil {
			attrs = append(attrs, events.Attr{Key: AttrMsgID, Value: *base.MsgID})
		}
		if base.Message != nil {
			// rsyslog's %msg% keeps the space after the tag (its
			// RFC 5424 templates send it); the raw text keeps it all.
			ev.Message = toValidUTF8([]byte(strings.TrimSpace(*base.Message)))
		}
	}
	if err != nil || base == nil {
		e := "unparseable"
		if err != nil {
			e = err.Error()
		}
		attrs = append(attrs, events.Attr{Key: AttrParseError, Value: e})
		ev.Message = line
	}
	if p.Token != "" {
		ev.Raw = strings.ReplaceAll(ev.Raw, p.Token, redacted)
		ev.Message = strings.ReplaceAll(ev.Message, p.Token, redacted)
	}
	ev.Attributes = attrs
	ev.Clamp(l)
	p.Event = ev
	return p
}

// is5424 reports whether msg starts "<PRI>1 " (RFC 5424's version 1).
func is5424(msg []byte) bool {
	if len(msg) < 4 || msg[0] != '<' {
		return false
	}
	i := 1
	for i < len(msg) && i <= 4 && msg[i] >= '0' && msg[i] <= '9' {
		i++
	}
	if i == 1 || i >= len(msg) || msg[i] != '>' {
		return false
	}
	if _, err := strconv.Atoi(string(msg[1:i])); err != nil {
		return false
	}
	rest := msg[i+1:]
	return len(rest) >= 2 && rest[0] == '1' && rest[1] == ' '
}

// toValidUTF8 keeps text as is and replaces invalid UTF-8 (binary noise
// on a syslog port) with U+FFFD.
func toValidUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
