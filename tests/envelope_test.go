package tests

import (
	"encoding/json"

	"github.com/nanosiem/nano/services/provision"
)

// firstProblem is the first problem of an error envelope
// ({"errors":[{"message","field",...}]}, docs/reference/errors.md).
func firstProblem(out map[string]any) map[string]any {
	list, _ := out["errors"].([]any)
	if len(list) == 0 {
		return nil
	}
	p, _ := list[0].(map[string]any)
	return p
}

// problemText reads an answer as the provisioning endpoint's ErrorBody:
// its problems, "field: message" a line ("" when it is not one).
func problemText(body map[string]any) string {
	b, _ := json.Marshal(body)
	var e provision.ErrorBody
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	return e.Error()
}
