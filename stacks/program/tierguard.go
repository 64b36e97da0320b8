package program

import (
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/nanosiem/nano/stacks/model/settings"
)

// TierGuardSuffix ends the name of the resource that holds a stack's tier,
// provider and region, so the engine's refusal names what changed:
// "...RandomUuid::<deployment>-tier-provider-region".
const TierGuardSuffix = "-tier-provider-region"

// tierGuard registers, before anything else, a resource whose keepers are
// the stack's tier, provider and region: changing any of them replaces it,
// and while nano:protectData is true it is protected, so the engine refuses
// the replacement when it plans it, before it touches a resource that holds
// data (which a new tier, provider or region would replace or delete). The
// tiers' components depend on it, so none of their resources is registered
// before the guard has passed.
func tierGuard(ctx *pulumi.Context, s settings.Settings) (pulumi.Resource, error) {
	return random.NewRandomUuid(ctx, s.Deployment+TierGuardSuffix, &random.RandomUuidArgs{
		Keepers: pulumi.StringMap{
			settings.KeyTier: pulumi.String(string(s.Tier.Name)), settings.KeyProvider: pulumi.String(string(s.Provider)),
			settings.KeyRegion: pulumi.String(s.Region),
		},
	}, pulumi.Protect(s.ProtectData))
}
