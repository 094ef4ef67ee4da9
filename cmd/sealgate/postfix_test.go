package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sealgate/sealgate/internal/mxtest"
	"github.com/sealgate/sealgate/internal/postfixtest"
)

// TestPostfixRelaysThroughGateway is the smarthost use: a real Postfix with
// relayhost = sealgate hands a message over (with STARTTLS), and sealgate
// delivers it to the recipient's MX.
func TestPostfixRelaysThroughGateway(t *testing.T) {
	w := newWorld(t, mxtest.Options{TLS: mxtest.TLSModern})
	port := freePort(t)
	startGateway(t, w.config(port, ""))
	pf := postfixtest.Start(t, postfixtest.Options{Relayhost: fmt.Sprintf("127.0.0.1:%d", port)})

	out, code := swaks(t, "--server", pf.Addr, "--from", "alice@hospital.example", "--to", "bob@example.org",
		"--header", "Subject: via postfix", "--body", "relayed by a real Postfix")
	if code != 0 {
		t.Fatalf("swaks to postfix: %s", out)
	}
	msgs, err := w.mx.WaitFor(1, 60*time.Second)
	if err != nil {
		t.Fatalf("%v\npostfix log:\n%s", err, pf.Log())
	}
	data := string(msgs[0].Data)
	if !strings.Contains(data, "relayed by a real Postfix") {
		t.Errorf("body lost:\n%s", data)
	}
	// Both hops are on record: Postfix's own Received, and sealgate's
	// saying it got the message from Postfix over TLS.
	if !strings.Contains(data, "by gw.hospital.example (sealgate) with ESMTPS") || !strings.Contains(data, "from upstream.test") {
		t.Errorf("Received headers do not show postfix → sealgate over TLS:\n%s", data)
	}
	if !strings.Contains(pf.Log(), "relay=127.0.0.1[127.0.0.1]:") || !strings.Contains(pf.Log(), "status=sent") {
		t.Errorf("postfix did not log a successful relay:\n%s", pf.Log())
	}
}
