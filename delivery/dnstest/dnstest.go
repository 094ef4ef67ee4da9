// Package dnstest provides DNS fakes for tests: an in-process authoritative
// server on 127.0.0.1 (UDP and TCP, built on miekg/dns) and a map-based
// delivery.Resolver. Both are configured from the same Zone map.
//
// Names without an entry answer NXDOMAIN. A name with an entry but no records
// of the asked type answers NOERROR with no data (NODATA). CNAMEs are
// followed within the zone, up to 8 links. The AD bit is set only when
// every name on the answer path is marked Authentic.
package dnstest

import (
	"net"
	"strings"
	"time"

	"github.com/sealgate/sealgate/delivery"
)

// Records are the records of one name.
type Records struct {
	MX    []*net.MX // Host "." is a null MX (RFC 7505)
	A     []string  // IPv4 addresses
	AAAA  []string  // IPv6 addresses
	TXT   []string  // each string is one TXT record
	TLSA  []delivery.TLSA
	CNAME string // alias target; other records of the name are ignored

	Authentic bool // answers for this name carry the AD bit
	ServFail  bool // every question for this name gets SERVFAIL
	// Truncate makes UDP answers for this name empty with the TC bit set,
	// forcing a TCP retry (the server only).
	Truncate bool
	// Delay holds the answer back (the server only), e.g. to provoke a
	// client timeout.
	Delay time.Duration
}

// Zone maps a domain name (any case, trailing dot optional) to its records.
type Zone map[string]Records

func canon(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, ".")) + "."
}

// normalize copies z with canonical keys.
func (z Zone) normalize() Zone {
	n := make(Zone, len(z))
	for k, v := range z {
		n[canon(k)] = v
	}
	return n
}

// chase follows CNAMEs from name. It returns the chain of names visited
// (the last is where records were found or not), whether all names are
// authentic, and whether the final name exists.
func (z Zone) chase(name string) (chain []string, recs Records, auth, exists bool) {
	name = canon(name)
	auth = true
	for range 9 {
		chain = append(chain, name)
		r, ok := z[name]
		if !ok {
			return chain, Records{}, false, false
		}
		auth = auth && r.Authentic
		if r.CNAME == "" || len(chain) == 9 {
			return chain, r, auth, true
		}
		name = canon(r.CNAME)
	}
	return chain, Records{}, false, false
}
