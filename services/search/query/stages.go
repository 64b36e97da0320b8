package query

import (
	"strings"
	"unicode/utf8"
)

// Stages splits a query's text at its top-level pipes: the filter's text
// and each stage's ("lookup bad_ips on src", "stats count() by host"),
// trimmed, as typed. Pipes inside phrases do not split.
func Stages(q string) (filter string, stages []string, err error) {
	toks, err := lex(q)
	if err != nil {
		return "", nil, err
	}
	// Token columns count characters from 1; cut at their byte offsets.
	offset := func(col int) int {
		n := 0
		for i := range q {
			n++
			if n == col {
				return i
			}
		}
		return len(q)
	}
	start := 0
	var parts []string
	for _, t := range toks {
		if t.kind != tPipe {
			continue
		}
		at := offset(t.col)
		parts = append(parts, strings.TrimSpace(q[start:at]))
		start = at + utf8.RuneLen('|')
	}
	parts = append(parts, strings.TrimSpace(q[start:]))
	return parts[0], parts[1:], nil
}

// Phrase quotes s as a phrase of the search language ("..." with \" and
// \\ escaped).
func Phrase(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
