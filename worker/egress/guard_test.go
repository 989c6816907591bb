package egress

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestLegacyIPv4(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		host string
		want string // "" when not an inet_aton spelling
	}{
		"decimal":           {"2130706433", "127.0.0.1"},
		"octal":             {"0177.0.0.1", "127.0.0.1"},
		"hex parts":         {"0x7f.0x0.0x0.0x1", "127.0.0.1"},
		"hex whole":         {"0X7F000001", "127.0.0.1"},
		"two parts":         {"127.1", "127.0.0.1"},
		"three parts":       {"10.1.513", "10.1.2.1"},
		"trailing dot":      {"1.2.3.4.", "1.2.3.4"},
		"max":               {"4294967295", "255.255.255.255"},
		"too big":           {"4294967296", ""},
		"part too big":      {"256.1", ""},
		"last part too big": {"1.2.3.256", ""},
		"five parts":        {"1.2.3.4.5", ""},
		"empty part":        {"1..2", ""},
		"bad octal":         {"08.0.0.1", ""},
		"bare 0x":           {"0x", ""},
		"name":              {"example.com", ""},
		"empty":             {"", ""},
		"sign":              {"+1", ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ip, ok := legacyIPv4(tc.host)
			if tc.want == "" {
				if ok {
					t.Errorf("legacyIPv4(%q) = %s, want no address", tc.host, ip)
				}
				return
			}
			if !ok || ip != netip.MustParseAddr(tc.want) {
				t.Errorf("legacyIPv4(%q) = %s, %v; want %s", tc.host, ip, ok, tc.want)
			}
		})
	}
}

func FuzzLegacyIPv4(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "2130706433", "0177.0.0.1", "0x7f.1", "1.2.3.4.5", "example.com", "0x", "08.0.0.1", "..", "4294967296"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, host string) {
		ip, ok := legacyIPv4(host)
		if ok && !ip.Is4() {
			t.Fatalf("legacyIPv4(%q) = %s, not IPv4", host, ip)
		}
		if want, err := netip.ParseAddr(host); err == nil && want.Is4() && (!ok || ip != want) {
			t.Fatalf("legacyIPv4(%q) = %s, %v; canonical form is %s", host, ip, ok, want)
		}
	})
}

func FuzzCheckAddr(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{0x20, 0x02, 0x7f, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0, 8, 8, 8, 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		err := CheckAddr(ip)
		if ip.Is4() {
			// The IPv4-mapped form is judged like the address it maps.
			mapped := CheckAddr(netip.AddrFrom16(ip.As16()))
			if (err == nil) != (mapped == nil) {
				t.Fatalf("%s: %v, but mapped: %v", ip, err, mapped)
			}
		}
		if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
			if err == nil {
				t.Fatalf("%s allowed", ip)
			}
		}
	})
}

// TestCheckTargetHost pins the explanation a user sees when a webhook URL is refused, and lets
// names through to the connect-time guard.
func TestCheckTargetHost(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"127.0.0.1":        "host 127.0.0.1 is not allowed (loopback): set HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets",
		"LOCALHOST.":       "host LOCALHOST. is not allowed (localhost): set HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets",
		"0x7f.1":           "host 0x7f.1 is not allowed (non-canonical IPv4 literal): set HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets",
		"intranet.example": "",
		"8.8.8.8":          "",
	} {
		err := CheckTargetHost(host)
		if got := fmt.Sprint(err); (err == nil) != (want == "") || (err != nil && got != want) {
			t.Errorf("CheckTargetHost(%q) = %v, want %q", host, err, want)
		}
	}
}
