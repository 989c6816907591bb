package egress

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
)

// BlockedError is returned, wrapped in a *net.OpError, when a connection
// would reach an address webhooks may not target (SPEC §6) and Options
// allows no private targets. Classify reports it as KindBlocked.
type BlockedError struct {
	// IP is the address refused: the resolved address being connected to,
	// or the value of a non-canonical IPv4 literal in the URL.
	IP netip.Addr
	// Reason names the range, e.g. "loopback" or "carrier-grade NAT".
	Reason string
}

// Error says which address was refused, why, and the setting that allows it.
func (e *BlockedError) Error() string {
	return "egress: destination " + e.IP.String() + " is not allowed (" + e.Reason + "): " + AllowHint
}

// AllowHint names the setting that lets webhooks reach the addresses the guard refuses.
const AllowHint = "set HERALD_ALLOW_PRIVATE_TARGETS=true to allow private targets"

// CheckTargetHost is CheckHost for the host of a webhook URL being saved: its error is the
// explanation shown to whoever saves it, "host HOST is not allowed (REASON): " and AllowHint. A
// process that refuses private targets passes it to its store as models.Options.CheckTargetHost.
func CheckTargetHost(host string) error {
	var blocked *BlockedError
	if errors.As(CheckHost(host), &blocked) {
		return fmt.Errorf("host %s is not allowed (%s): %s", host, blocked.Reason, AllowHint)
	}
	return nil
}

// CheckHost returns a *BlockedError when host, as written in a URL (brackets removed), is
// refused whatever DNS says: "localhost", an IP literal CheckAddr refuses, or a non-canonical
// IPv4 literal. It returns nil for any other name, which is checked when it is connected to.
func CheckHost(host string) error {
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") {
		return &BlockedError{IP: netip.AddrFrom4([4]byte{127, 0, 0, 1}), Reason: "localhost"}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return CheckAddr(ip)
	}
	if ip, ok := legacyIPv4(host); ok {
		return &BlockedError{IP: ip, Reason: "non-canonical IPv4 literal"}
	}
	return nil
}

// CheckAddr returns a *BlockedError when ip is not a public unicast address:
// loopback, private (RFC 1918, IPv6 ULA), link-local (including the cloud
// metadata address), carrier-grade NAT, multicast, unspecified, broadcast,
// documentation, benchmarking or other reserved ranges, and IPv6 forms that
// embed such an IPv4 address (IPv4-mapped, NAT64, 6to4). Teredo is refused
// outright. It returns nil for a public address.
func CheckAddr(ip netip.Addr) error {
	if r := blockedReason(ip); r != "" {
		return &BlockedError{IP: ip, Reason: r}
	}
	return nil
}

type prefixReason struct {
	prefix netip.Prefix
	reason string
}

var (
	metadataV4  = netip.MustParseAddr("169.254.169.254")
	broadcastV4 = netip.MustParseAddr("255.255.255.255")

	// reservedV4 lists the special-purpose IPv4 ranges (RFC 6890 and IANA's
	// registry) that netip.Addr's predicates do not already cover.
	reservedV4 = []prefixReason{
		{netip.MustParsePrefix("0.0.0.0/8"), "this network"},
		{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignment"},
		{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
		{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay anycast"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
		{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	}

	nat64         = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour     = netip.MustParsePrefix("2002::/16")
	globalUnicast = netip.MustParsePrefix("2000::/3")

	// reservedV6 lists special-purpose IPv6 ranges; anything outside
	// 2000::/3 (apart from NAT64) is refused as well.
	reservedV6 = []prefixReason{
		{netip.MustParsePrefix("2001::/32"), "Teredo"},
		{netip.MustParsePrefix("2001::/23"), "IETF protocol assignment"},
		{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
		{netip.MustParsePrefix("3fff::/20"), "documentation"},
		{netip.MustParsePrefix("5f00::/16"), "segment routing"},
		{netip.MustParsePrefix("fec0::/10"), "site-local"},
	}
)

// blockedReason names why ip is refused, or returns "" for a public address.
func blockedReason(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid address"
	}
	ip = ip.WithZone("").Unmap()
	if ip.Is4() {
		return reasonV4(ip)
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		if r := reasonV4(netip.AddrFrom4([4]byte(b[12:16]))); r != "" {
			return r + " in NAT64"
		}
		return ""
	case sixToFour.Contains(ip):
		if r := reasonV4(netip.AddrFrom4([4]byte(b[2:6]))); r != "" {
			return r + " in 6to4"
		}
	}
	if r := reasonCommon(ip); r != "" {
		return r
	}
	for _, p := range reservedV6 {
		if p.prefix.Contains(ip) {
			return p.reason
		}
	}
	if !globalUnicast.Contains(ip) {
		return "reserved"
	}
	return ""
}

func reasonV4(ip netip.Addr) string {
	switch ip {
	case metadataV4:
		return "cloud metadata"
	case broadcastV4:
		return "broadcast"
	}
	if r := reasonCommon(ip); r != "" {
		return r
	}
	for _, p := range reservedV4 {
		if p.prefix.Contains(ip) {
			return p.reason
		}
	}
	return ""
}

func reasonCommon(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case ip.IsUnspecified():
		return "unspecified"
	}
	return ""
}

// control is the net.Dialer.ControlContext hook: it runs after name
// resolution, on the very address the socket connects to, so a name that
// resolves (or rebinds) to a private address is refused.
func control(_ context.Context, _, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Reason: "unparsable address " + strconv.Quote(address)}
	}
	return CheckAddr(ap.Addr())
}

// legacyIPv4 parses the IPv4 spellings inet_aton(3) accepts and netip does
// not: fewer than four parts ("127.1", "2130706433"), octal ("0177.0.0.1")
// and hex ("0x7f.0.0.1") parts, a trailing dot. Some resolvers turn these
// into addresses and others look them up as names, so they are refused
// before any lookup.
func legacyIPv4(host string) (netip.Addr, bool) {
	host = strings.TrimSuffix(host, ".")
	if host == "" {
		return netip.Addr{}, false
	}
	var parts [4]uint64
	n := 0
	for part := range strings.SplitSeq(host, ".") {
		if n == len(parts) {
			return netip.Addr{}, false
		}
		base := 10
		switch {
		case len(part) > 2 && (part[:2] == "0x" || part[:2] == "0X"):
			base, part = 16, part[2:]
		case len(part) > 1 && part[0] == '0':
			base, part = 8, part[1:]
		}
		v, err := strconv.ParseUint(part, base, 32)
		if err != nil {
			return netip.Addr{}, false
		}
		parts[n] = v
		n++
	}
	// Every part but the last is one byte; the last fills the rest.
	var v uint64
	for i := 0; i < n-1; i++ {
		if parts[i] > 0xff {
			return netip.Addr{}, false
		}
		v |= parts[i] << (24 - 8*i)
	}
	if last := parts[n-1]; last < 1<<(8*(5-n)) {
		v |= last
	} else {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}
