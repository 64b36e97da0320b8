package tests

import (
	"encoding/json"

	"github.com/nanosiem/nano/services/provision"
)

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
