package sqlgen

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/nanosiem/nano/services/search/query"
)

// ParseTime reads a time as analysts type it: "now", a relative offset
// ("-15m", "-2h", "-7d", "-1w", "-30s"), RFC 3339 ("2026-11-23T10:00:00Z",
// fractional seconds allowed), a UTC date or date-time without zone
// ("2026-11-23", "2026-11-23T10:00:00") or Unix seconds.
func ParseTime(s string, now time.Time) (time.Time, bool) {
	if s == "now" {
		return now, true
	}
	if len(s) >= 3 && s[0] == '-' {
		unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[len(s)-1]]
		n, err := strconv.Atoi(s[1 : len(s)-1])
		if unit != 0 && err == nil && n >= 0 && int64(n) <= int64(200*365*24*time.Hour/unit) {
			return now.Add(-time.Duration(n) * unit), true
		}
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 && n < math.MaxUint32 {
		return time.Unix(n, 0), true
	}
	return time.Time{}, false
}

// timeValue is a query value that must be a time.
func timeValue(v query.Value, now time.Time) (time.Time, error) {
	t, ok := ParseTime(v.Text, now)
	if !ok {
		return t, &query.Error{Col: v.Col, Msg: "expected a time (now, -15m, -2h, -7d, 2026-11-23, 2026-11-23T10:00:00Z or Unix seconds), found " + strconv.Quote(v.Text)}
	}
	if err := inRange(t); err != nil {
		return t, &query.Error{Col: v.Col, Msg: err.Error()}
	}
	return t, nil
}

// inRange checks t fits ClickHouse's DateTime (1970 to 2106).
func inRange(t time.Time) error {
	if t.Unix() < 0 || t.Unix() >= math.MaxUint32 {
		return errTimeRange
	}
	return nil
}

type timeRangeError struct{}

func (timeRangeError) Error() string { return "expected a time between 1970 and 2106" }

var errTimeRange = timeRangeError{}

// numberValue is a query value that must be a number.
func numberValue(v query.Value) (float64, error) {
	f, err := strconv.ParseFloat(v.Text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, &query.Error{Col: v.Col, Msg: "expected a number, found " + strconv.Quote(v.Text)}
	}
	return f, nil
}

// likePattern turns a wildcard value (* any run, ? one character) into a
// LIKE pattern, escaping LIKE's own metacharacters.
func likePattern(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '\\', '%', '_':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '*':
			b.WriteByte('%')
		case '?':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
