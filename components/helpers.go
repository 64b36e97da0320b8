package components

import (
	"fmt"
	"strconv"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Helpers that several components use.

// secret marks o secret whatever its provider does: generated credentials
// and anything built from them never reach state or outputs in plaintext.
func secret(o pulumi.StringOutput) pulumi.StringOutput {
	return pulumi.ToSecret(o).(pulumi.StringOutput)
}

// idToInt reads a Hetzner resource id, which hcloud takes as a number.
func idToInt(id pulumi.IDOutput) pulumi.IntOutput {
	return id.ApplyT(func(id pulumi.ID) (int, error) {
		n, err := strconv.Atoi(string(id))
		if err != nil {
			return 0, fmt.Errorf("cannot read Hetzner id %q: %w", id, err)
		}
		return n, nil
	}).(pulumi.IntOutput)
}

// collector returns a bad() that prefixes the component's name.
func collector(component string, errs *[]error) func(format string, args ...any) {
	return func(format string, args ...any) {
		*errs = append(*errs, fmt.Errorf(component+": "+format, args...))
	}
}
