package components

import (
	"github.com/pulumi/pulumi-hcloud/sdk/go/hcloud"
	"github.com/pulumi/pulumi-tls/sdk/v5/go/tls"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// newAdminSSHKey registers the admin's SSH key with Hetzner. With no public
// key configured it generates an ED25519 pair and returns the private key
// (secret); otherwise the returned private key is an empty secret.
func newAdminSSHKey(ctx *pulumi.Context, name, publicKey string, labels pulumi.StringMap, parent pulumi.ResourceOption) (*hcloud.SshKey, pulumi.StringOutput, error) {
	var pub pulumi.StringInput = pulumi.String(publicKey)
	private := secret(pulumi.String("").ToStringOutput())
	if publicKey == "" {
		key, err := tls.NewPrivateKey(ctx, name+"-admin-ssh", &tls.PrivateKeyArgs{Algorithm: pulumi.String("ED25519")}, parent)
		if err != nil {
			return nil, private, err
		}
		pub, private = key.PublicKeyOpenssh, secret(key.PrivateKeyOpenssh)
	}
	sshKey, err := hcloud.NewSshKey(ctx, name+"-admin", &hcloud.SshKeyArgs{PublicKey: pub, Labels: labels}, parent)
	return sshKey, private, err
}
