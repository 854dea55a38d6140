package httpserver

import (
	"net"
	"net/netip"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// newClientIP returns the function that finds a request's client address:
// the peer address, unless the peer is a trusted proxy, in which case the
// right-most X-Forwarded-For entry that is not itself a trusted proxy
// (entries to its left are the client's to forge).
func newClientIP(trusted []string) (func(*fiber.Ctx) string, error) {
	var prefixes []netip.Prefix
	for _, t := range trusted {
		if !strings.Contains(t, "/") {
			if strings.Contains(t, ":") {
				t += "/128"
			} else {
				t += "/32"
			}
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return nil, err
		}
		prefixes = append(prefixes, p.Masked())
	}
	isTrusted := func(a netip.Addr) bool {
		for _, p := range prefixes {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
		return false
	}
	return func(c *fiber.Ctx) string {
		peer := c.Context().RemoteIP()
		if len(prefixes) == 0 {
			return peer.String()
		}
		return clientFromForwarded(peer, c.Get(fiber.HeaderXForwardedFor), isTrusted)
	}, nil
}

func clientFromForwarded(peer net.IP, forwarded string, isTrusted func(netip.Addr) bool) string {
	addr, ok := netip.AddrFromSlice(peer)
	if !ok || !isTrusted(addr.Unmap()) {
		return peer.String()
	}
	hops := strings.Split(forwarded, ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // a garbled entry: stop trusting the header here
		}
		if !isTrusted(hop.Unmap()) {
			return hop.Unmap().String()
		}
	}
	return addr.Unmap().String()
}
