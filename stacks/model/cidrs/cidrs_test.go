package cidrs

import "testing"

func TestWorld(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{"0.0.0.0/0"}, "IPv4"},
		{[]string{"0.0.0.0/1", "128.0.0.0/1"}, "IPv4"},
		{[]string{"128.0.0.0/1", "0.0.0.0/2", "64.0.0.0/2"}, "IPv4"},
		{[]string{"10.1.2.3/0"}, "IPv4"}, // host bits set: still everything
		{[]string{"::/0"}, "IPv6"},
		{[]string{"::0/0"}, "IPv6"},
		{[]string{"0:0::/0"}, "IPv6"},
		{[]string{"::/1", "8000::/1"}, "IPv6"},
		{[]string{"::ffff:0.0.0.0/96"}, "IPv4"},
		{[]string{"::ffff:0.0.0.0/97", "128.0.0.0/1"}, "IPv4"},
		{[]string{"0.0.0.0/1"}, ""},
		{[]string{"0.0.0.0/1", "128.0.0.0/2", "192.0.0.0/3", "224.0.0.0/4"}, ""}, // misses 240/4
		{[]string{"203.0.113.0/24", "2001:db8::/32"}, ""},
		{[]string{"0.0.0.0/1", "not a cidr", ""}, ""},
		{nil, ""},
	} {
		if got := World(c.in); got != c.want {
			t.Errorf("World(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
