package main

import (
	"context"
	"net"
	"testing"

	"github.com/sealgate/sealgate/delivery/dnstest"
	"github.com/sealgate/sealgate/policy"
	"github.com/sealgate/sealgate/queue"
)

// WKD lookups resolve host names through the configured DNS, not the system's.
func TestResolverDialerUsesConfiguredDNS(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	d := resolverDialer{res: dnstest.NewResolver(dnstest.Zone{"openpgpkey.example.test": {A: []string{"127.0.0.1"}}})}
	c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("openpgpkey.example.test", port))
	if err != nil {
		t.Fatalf("dial through the fake zone: %v", err)
	}
	c.Close()
	if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("unknown.example.test", port)); err == nil {
		t.Fatal("a name the configured DNS does not know was dialled")
	}
}

// Stored decisions are read back; sealgate's own DSNs travel as non-PHI;
// damaged decisions are an error (the message waits), never "no policy".
func TestDecisionsFor(t *testing.T) {
	enc, err := policy.EncodeDecisions(map[string]policy.Decision{"a@x.example": dsnDecision})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := decisionsFor(queue.Attempt{Rcpts: []string{"a@x.example"}, Meta: map[string]string{policy.MetaKey: enc}})
	if err != nil || ds["a@x.example"].Require != policy.RequireNone {
		t.Fatalf("round trip: %v %v", ds, err)
	}
	ds, err = decisionsFor(queue.Attempt{Rcpts: []string{"s@x.example"}, Meta: map[string]string{queue.MetaDSN: "failure"}})
	if err != nil || ds["s@x.example"].Rule != "dsn" {
		t.Fatalf("DSN: %v %v", ds, err)
	}
	if _, err := decisionsFor(queue.Attempt{Rcpts: []string{"a@x.example"}, Meta: map[string]string{policy.MetaKey: "{garbage"}}); err == nil {
		t.Fatal("damaged decisions accepted")
	}
	if ds, err := decisionsFor(queue.Attempt{Rcpts: []string{"a@x.example"}}); err != nil || ds != nil {
		t.Fatalf("no decisions: %v %v (want nil: protect applies its fail-closed default)", ds, err)
	}
}
