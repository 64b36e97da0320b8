package standinproviders

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// Random stands in for the random provider (pulumi-random v4): the
// RandomPassword, RandomBytes and RandomUuid nano registers.
func Random(version string) *Provider {
	return &Provider{Name: "random", Version: version, Resources: map[string]create{
		"random:index/randomPassword:RandomPassword": randomPassword,
		"random:index/randomBytes:RandomBytes":       randomBytes,
		"random:index/randomUuid:RandomUuid":         randomUUID,
	}}
}

const (
	lowerChars   = "abcdefghijklmnopqrstuvwxyz"
	upperChars   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	numericChars = "0123456789"
	specialChars = "!@#$%&*()-_=+[]{}<>:?"
)

// randomPassword draws length characters from the enabled classes (all by
// default, as the real provider's).
func randomPassword(in resource.PropertyMap) (resource.PropertyMap, error) {
	n := num(in, "length", 0)
	if n < 1 || n > 1024 {
		return nil, errors.New("length must be 1-1024")
	}
	var set string
	if boolean(in, "lower", true) {
		set += lowerChars
	}
	if boolean(in, "upper", true) {
		set += upperChars
	}
	if boolean(in, "numeric", true) {
		set += numericChars
	}
	if boolean(in, "special", true) {
		set += str(in, "overrideSpecial", specialChars)
	}
	if set == "" {
		return nil, errors.New("every character class is disabled")
	}
	out := make([]byte, n)
	for i := range out {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return nil, err
		}
		out[i] = set[j.Int64()]
	}
	return resource.PropertyMap{"result": resource.NewStringProperty(string(out))}, nil
}

func randomBytes(in resource.PropertyMap) (resource.PropertyMap, error) {
	n := num(in, "length", 0)
	if n < 1 || n > 1<<16 {
		return nil, errors.New("length must be 1-65536")
	}
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return resource.PropertyMap{
		"base64": resource.NewStringProperty(base64.StdEncoding.EncodeToString(b)),
		"hex":    resource.NewStringProperty(hex.EncodeToString(b)),
	}, nil
}

// randomUUID is a version 4 UUID.
func randomUUID(resource.PropertyMap) (resource.PropertyMap, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return resource.PropertyMap{"result": resource.NewStringProperty(h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:])}, nil
}
