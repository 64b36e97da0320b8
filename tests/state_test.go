package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// resourceTypes lists the resource types of an exported deployment.
func resourceTypes(t *testing.T, deployment string) []string {
	t.Helper()
	var d struct {
		Resources []struct {
			Type string `json:"type"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(deployment), &d); err != nil {
		t.Fatalf("cannot read exported state: %v", err)
	}
	var out []string
	for _, r := range d.Resources {
		out = append(out, r.Type)
	}
	return out
}

// lastLines returns the last n non-empty lines of s, for readable logs.
func lastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
