package detect

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Schedule says when a rule runs: "@every 5m" (at least a minute) or a
// five-field cron expression (minute hour day-of-month month day-of-week,
// UTC; *, */n, a-b, a-b/n and lists).
type Schedule struct {
	every  time.Duration
	fields [5][]bool
}

var cronRanges = [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}}
var cronNames = [5]string{"minute", "hour", "day of month", "month", "day of week"}

// ParseSchedule parses s; errors name the part that is wrong.
func ParseSchedule(s string) (Schedule, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "@every "); ok {
		d, err := time.ParseDuration(strings.TrimSpace(rest))
		if err != nil || d < time.Minute || d > 30*24*time.Hour {
			return Schedule{}, fmt.Errorf("@every takes a duration from 1m to 720h, e.g. @every 5m")
		}
		return Schedule{every: d}, nil
	}
	parts := strings.Fields(s)
	if len(parts) != 5 {
		return Schedule{}, fmt.Errorf("expected @every <duration> or five cron fields (minute hour day month weekday), found %d fields", len(parts))
	}
	var sc Schedule
	for i, p := range parts {
		lo, hi := cronRanges[i][0], cronRanges[i][1]
		set := make([]bool, hi+1)
		for _, item := range strings.Split(p, ",") {
			step := 1
			if a, b, ok := strings.Cut(item, "/"); ok {
				n, err := strconv.Atoi(b)
				if err != nil || n < 1 {
					return Schedule{}, fmt.Errorf("%s: bad step in %q", cronNames[i], item)
				}
				item, step = a, n
			}
			from, to := lo, hi
			if item != "*" {
				a, b, isRange := strings.Cut(item, "-")
				var err1, err2 error
				from, err1 = strconv.Atoi(a)
				to = from
				if isRange {
					to, err2 = strconv.Atoi(b)
				}
				if err1 != nil || err2 != nil || from < lo || to > hi || from > to {
					return Schedule{}, fmt.Errorf("%s: %q is not within %d-%d", cronNames[i], item, lo, hi)
				}
			}
			for v := from; v <= to; v += step {
				set[v] = true
			}
		}
		sc.fields[i] = set
	}
	return sc, nil
}

// Next is the first time after t the schedule fires.
func (s Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Add(s.every)
	}
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	for i := 0; i < 366*24*60; i++ {
		if s.fields[0][t.Minute()] && s.fields[1][t.Hour()] && s.fields[2][t.Day()] && s.fields[3][int(t.Month())] && s.fields[4][int(t.Weekday())] {
			return t
		}
		t = t.Add(time.Minute)
	}
	return t // a date that never comes (e.g. 31 February): a year on
}
