module github.com/nanosiem/nano

go 1.24

require (
	github.com/blang/semver v3.5.1+incompatible // indirect
	github.com/compose-spec/compose-go/v2 v2.6.0 // indirect
	github.com/pulumi/pulumi-hcloud/sdk v1.21.0 // indirect
	github.com/pulumi/pulumi-random/sdk/v4 v4.16.7 // indirect
	github.com/pulumi/pulumi-tls/sdk/v5 v5.0.9 // indirect
	github.com/pulumi/pulumi/sdk/v3 v3.200.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
