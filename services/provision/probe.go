package provision

import (
	"fmt"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// probeComponent is a component resource of the probe program.
type probeComponent struct{ pulumi.ResourceState }

// envProbe is the tests' nanoenv:index:Probe (tests/standinproviders): the
// digests of named variables in the environment providers get.
type envProbe struct {
	pulumi.CustomResourceState
	Digests pulumi.StringMapOutput `pulumi:"digests"`
	Files   pulumi.StringMapOutput `pulumi:"files"`
	UID     pulumi.StringOutput    `pulumi:"uid"`
}

// Probe is a program made only of component resources, which need no
// provider plugin: it checks the provisioning service and the engine where
// no cloud is reachable (`nano serve --program probe`). Config (namespace
// "probe"): parts (components to register, 3), delayMs (time the program
// takes before registering), secret (exported as a secret output), protect
// (the root component is protected, as nano:protectData protects data),
// envNames (comma-separated variables: registers the tests' env probe, a
// provider plugin, and exports envDigests and envUid, the user it runs as),
// envPaths (comma-separated files and directories the probe tries to read,
// exported as envFiles) and envRound (changing it makes the probe look
// again).
func Probe(ctx *pulumi.Context) error {
	cfg := config.New(ctx, "probe")
	if d := cfg.GetInt("delayMs"); d > 0 {
		select {
		case <-time.After(time.Duration(d) * time.Millisecond):
		case <-ctx.Context().Done():
			return ctx.Context().Err()
		}
	}
	parts := 3
	if n, err := cfg.TryInt("parts"); err == nil {
		parts = n
	}
	root := &probeComponent{}
	if err := ctx.RegisterComponentResource("nano:probe:Deployment", ctx.Stack(), root, pulumi.Protect(cfg.GetBool("protect"))); err != nil {
		return err
	}
	for i := 0; i < parts; i++ {
		part := &probeComponent{}
		if err := ctx.RegisterComponentResource("nano:probe:Part", fmt.Sprintf("%s-part-%d", ctx.Stack(), i), part, pulumi.Parent(root)); err != nil {
			return err
		}
		if err := ctx.RegisterResourceOutputs(part, pulumi.Map{"index": pulumi.Int(i)}); err != nil {
			return err
		}
	}
	if names := cfg.Get("envNames"); names != "" {
		var paths []string
		if p := cfg.Get("envPaths"); p != "" {
			paths = strings.Split(p, ",")
		}
		probe := &envProbe{}
		err := ctx.RegisterResource("nanoenv:index:Probe", ctx.Stack()+"-env", pulumi.Map{
			"names": pulumi.ToStringArray(strings.Split(names, ",")), "paths": pulumi.ToStringArray(paths),
			"round": pulumi.String(cfg.Get("envRound")),
		}, probe, pulumi.Parent(root))
		if err != nil {
			return err
		}
		ctx.Export("envDigests", probe.Digests)
		ctx.Export("envFiles", probe.Files)
		ctx.Export("envUid", probe.UID)
	}
	tier := config.New(ctx, "nano").Get("tier")
	if err := ctx.RegisterResourceOutputs(root, pulumi.Map{"tier": pulumi.String(tier)}); err != nil {
		return err
	}
	ctx.Export("tier", pulumi.String(tier))
	ctx.Export("parts", pulumi.Int(parts))
	ctx.Export("secret", cfg.GetSecret("secret"))
	return nil
}
