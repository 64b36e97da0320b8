// Package standinproviders holds the rig's stand-ins for the Pulumi random
// and tls provider plugins, whose modules the Go module proxy does not
// serve, so that nano's real program can run on the real engine against
// the Kubernetes rig. They implement exactly the resources nano registers,
// under the same type tokens and property names, with real randomness
// (crypto/rand) and real keys and certificates (crypto/x509); nothing else.
// They are test tools: built by tests/setup into the cache, put on PATH by
// the rig tests only, never shipped to users, whose engines install the
// real plugins as usual.
package standinproviders

// The versions the stand-ins report: those of the SDKs in nano's go.mod,
// which the engine asks for (the stand-ins implement that SDK's types).
const (
	RandomVersion = "4.21.2"
	TLSVersion    = "5.5.0"
)
