package main

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/sealgate/sealgate/internal/mxtest"
)

// TestKill9UnderLoadLosesNothing is the durability promise, tested the hard
// way: 20 clients send 2,000 messages while the real process is killed with
// SIGKILL at random moments and restarted. Every message that got a 250 must
// reach the MX. Messages whose transaction failed may or may not arrive.
func TestKill9UnderLoadLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("long-running durability test")
	}
	const (
		clients   = 20
		perClient = 100
		kills     = 4
	)
	w := newWorld(t, mxtest.Options{})
	port := freePort(t)
	g := startGateway(t, w.config(port, "  workers: 20\n"))
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	var (
		mu        sync.Mutex
		acked     = map[string]bool{}
		attempts  atomic.Int64
		failures  atomic.Int64
		gwMu      sync.Mutex // held while the gateway restarts
		wg        sync.WaitGroup
		sendsDone = make(chan struct{})
	)
	body := strings.Repeat("Lorem ipsum dolor sit amet, consectetur adipiscing elit.\r\n", 16)
	send := func(c *smtp.Client, id string) error {
		msg := fmt.Sprintf("From: load@hospital.example\r\nTo: sink@example.org\r\nMessage-ID: <%s@load.test>\r\nSubject: load\r\n\r\n%s", id, body)
		return c.SendMail("load@hospital.example", []string{"sink@example.org"}, strings.NewReader(msg))
	}
	for ci := 0; ci < clients; ci++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var c *smtp.Client
			for i := 0; i < perClient; {
				if c == nil {
					var err error
					if c, err = smtp.Dial(addr); err != nil {
						time.Sleep(50 * time.Millisecond)
						continue
					}
				}
				attempts.Add(1)
				id := fmt.Sprintf("c%02d-m%03d-a%d", ci, i, attempts.Load())
				if err := send(c, id); err != nil {
					failures.Add(1)
					c.Close()
					c = nil
					continue // a new ID next time: this one is "maybe"
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
				i++
			}
			if c != nil {
				c.Quit()
			}
		}()
	}
	go func() { wg.Wait(); close(sendsDone) }()

	killed := 0
	for killed < kills {
		select {
		case <-sendsDone:
			killed = kills
			continue
		case <-time.After(time.Duration(300+rand.IntN(1200)) * time.Millisecond):
		}
		gwMu.Lock()
		g.kill()
		killed++
		time.Sleep(time.Duration(rand.IntN(300)) * time.Millisecond)
		g.start()
		gwMu.Unlock()
	}
	<-sendsDone

	mu.Lock()
	want := len(acked)
	mu.Unlock()
	idRE := regexp.MustCompile(`Message-ID: <([^@>]+)@load\.test>`)
	arrivals := func() map[string]int {
		seen := map[string]int{}
		for _, m := range w.mx.Messages() {
			if id := idRE.FindSubmatch(m.Data); id != nil {
				seen[string(id[1])]++
			}
		}
		return seen
	}
	deadline := time.Now().Add(3 * time.Minute)
	var seen map[string]int
	for {
		seen = arrivals()
		lost := 0
		for id := range acked {
			if seen[id] == 0 {
				lost++
			}
		}
		if lost == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	lost, dups, unacked := 0, 0, 0
	for id := range acked {
		if seen[id] == 0 {
			lost++
		}
	}
	for id, n := range seen {
		if n > 1 {
			dups += n - 1
		}
		if !acked[id] {
			unacked++
		}
	}
	t.Logf("kill -9 test: %d kills, %d acknowledged, %d failed transactions, %d arrived, lost=%d duplicates=%d arrived-without-ack=%d",
		kills, want, failures.Load(), len(seen), lost, dups, unacked)
	if want != clients*perClient {
		t.Fatalf("only %d of %d messages acknowledged", want, clients*perClient)
	}
	if lost != 0 {
		t.Fatalf("LOST %d acknowledged messages", lost)
	}
}
