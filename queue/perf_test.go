package queue

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// heapPeak samples the live+unswept heap every 2ms until stopped and
// returns the highest value seen minus the value after a GC at start. GC
// runs at GOGC=20 meanwhile, so the peak tracks live memory rather than
// the collector's pacing (which differs a lot under -race).
func heapPeak() (stop func() (growth uint64)) {
	old := debug.SetGCPercent(20)
	runtime.GC()
	sample := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(sample)
	base := sample[0].Value.Uint64()
	var peak uint64
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			rtmetrics.Read(s)
			peak = max(peak, s[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(done)
		<-finished
		debug.SetGCPercent(old)
		if peak < base {
			return 0
		}
		return peak - base
	}
}

// hashingDeliverer reads each attempt's body through a hash, never
// holding it in memory.
type hashingDeliverer struct {
	mu     sync.Mutex
	sums   map[string][32]byte
	sizes  map[string]int64
	counts map[string]int
}

func (h *hashingDeliverer) Deliver(ctx context.Context, a Attempt) []Result {
	rc, err := a.Open()
	if err != nil {
		return nil
	}
	defer rc.Close()
	hh := sha256.New()
	n, err := io.Copy(hh, rc)
	if err != nil {
		return nil
	}
	h.mu.Lock()
	h.sums[a.ID] = [32]byte(hh.Sum(nil))
	h.sizes[a.ID] = n
	h.counts[a.ID]++
	h.mu.Unlock()
	return allStatus(a, StatusDelivered, 250, "", "ok")
}

func newHashingDeliverer() *hashingDeliverer {
	return &hashingDeliverer{sums: map[string][32]byte{}, sizes: map[string]int64{}, counts: map[string]int{}}
}

func TestLargeMessageBoundedMemory(t *testing.T) {
	const size = 60 << 20
	h := newHashingDeliverer()
	opts := testOptions(t, h)
	q := mustOpen(t, opts)

	src := io.LimitReader(rand.NewChaCha8([32]byte{7}), size)
	want := sha256.New()
	stop := heapPeak()
	id, err := q.Enqueue(context.Background(), Envelope{From: "s@clinic.example", To: []string{"r@dest.example"}}, io.TeeReader(src, want))
	enqGrowth := stop()
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(q.spoolPath(id))
	if err != nil {
		t.Fatal(err)
	}
	segs := int64((size + spoolSegSize - 1) / spoolSegSize)
	if st.Size() != spoolHeaderLen+size+segs*spoolTagLen {
		t.Fatalf("spool file is %d bytes, want %d", st.Size(), spoolHeaderLen+size+segs*spoolTagLen)
	}

	stop = heapPeak()
	start(t, q)
	waitFor(t, "60 MB message delivered", func() bool { return gone(q, id) })
	delGrowth := stop()

	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sizes[id] != size || h.sums[id] != [32]byte(want.Sum(nil)) {
		t.Fatalf("delivered %d bytes with a different hash", h.sizes[id])
	}
	t.Logf("60 MiB message: peak heap growth enqueue %.2f MiB, verify+deliver %.2f MiB", mib(enqGrowth), mib(delGrowth))
	const limit = 8 << 20
	if enqGrowth > limit || delGrowth > limit {
		t.Fatalf("heap grew %.1f / %.1f MiB for a 60 MiB message; want < %d MiB", mib(enqGrowth), mib(delGrowth), limit>>20)
	}
}

// heapNow returns the live heap after a full GC.
func heapNow() uint64 {
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func TestConcurrentEnqueueDeliveredExactlyOnce(t *testing.T) {
	h := newHashingDeliverer()
	opts := testOptions(t, h)
	opts.Workers = 20
	q := mustOpen(t, opts)
	start(t, q)
	const G, N = 20, 100
	var mu sync.Mutex
	wantSum := map[string][32]byte{}
	var wg sync.WaitGroup
	for g := 0; g < G; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < N; i++ {
				body := fmt.Sprintf("Subject: load\r\n\r\nmessage %d/%d\r\n", g, i)
				id, err := q.Enqueue(context.Background(), Envelope{From: "s@clinic.example", To: []string{fmt.Sprintf("r%d@d%d.example", i, g%3)}}, strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if _, dup := wantSum[id]; dup {
					t.Errorf("duplicate queue id %s", id)
				}
				wantSum[id] = sha256.Sum256([]byte(body))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(90 * time.Second)
	for q.Stats().Messages != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := q.Stats(); st.Messages != 0 {
		list, _ := q.List(context.Background(), ListOptions{Limit: 5})
		t.Fatalf("not all delivered: %+v; e.g. %+v", st, list)
	}
	time.Sleep(50 * time.Millisecond) // room for a wrong second delivery
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(wantSum) != G*N || len(h.counts) != G*N {
		t.Fatalf("enqueued %d, delivered %d distinct", len(wantSum), len(h.counts))
	}
	for id, sum := range wantSum {
		if h.counts[id] != 1 || h.sums[id] != sum {
			t.Fatalf("%s delivered %d times (hash ok %v)", id, h.counts[id], h.sums[id] == sum)
		}
	}
	t.Logf("%d messages: %d file fsyncs, %d dir fsyncs, %d bbolt commits", G*N, q.fileSyncs.Load(), q.dirSyncs.Load(), q.commits.Load())
}

func BenchmarkEnqueue(b *testing.B) {
	body := strings.Repeat("x", 4096)
	run := func(b *testing.B, parallel bool) {
		opts := testOptions(b, nil)
		q := mustOpen(b, opts)
		defer q.Close()
		env := Envelope{From: "s@clinic.example", To: []string{"r@dest.example"}}
		f0, d0, c0 := q.fileSyncs.Load(), q.dirSyncs.Load(), q.commits.Load()
		b.ResetTimer()
		t0 := time.Now()
		if parallel {
			b.SetParallelism(32)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := q.Enqueue(context.Background(), env, strings.NewReader(body)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		} else {
			for range b.N {
				if _, err := q.Enqueue(context.Background(), env, strings.NewReader(body)); err != nil {
					b.Fatal(err)
				}
			}
		}
		el := time.Since(t0)
		b.StopTimer()
		n := float64(b.N)
		b.ReportMetric(n/el.Seconds(), "msgs/s")
		b.ReportMetric(float64(q.fileSyncs.Load()-f0)/n, "file-fsyncs/msg")
		b.ReportMetric(float64(q.dirSyncs.Load()-d0)/n, "dir-fsyncs/msg")
		b.ReportMetric(float64(q.commits.Load()-c0)/n, "db-commits/msg")
	}
	b.Run("serial", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}

// populate writes n small messages straight into a queue directory, in
// large transactions and without per-file fsync (test setup speed only;
// the format is the one Enqueue writes). Only the first withBody messages
// (the first to become due) get a spool file: creating and removing 100k
// files costs minutes on a slow disk, and Open never reads bodies.
func populate(t *testing.T, opts Options, n, withBody int) {
	t.Helper()
	q := mustOpen(t, opts)
	defer q.Close()
	meta := map[string]string{"decision": strings.Repeat("m", 1024)}
	now := q.clock.Now()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = newID()
	}
	slices.Sort(ids) // appending in key order keeps bbolt commits small
	body := func(i int) string { return fmt.Sprintf("Subject: s\r\n\r\nsmall body %d\r\n", i) }
	// Spool files in parallel: file creation dominates on slow disks.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < withBody; i += 8 {
				var buf bytes.Buffer
				sw, _ := newSealWriter(&buf, opts.Key, ids[i])
				sw.Write([]byte(body(i)))
				sw.Close()
				if err := os.WriteFile(q.spoolPath(ids[i]), buf.Bytes(), 0o600); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	const chunk = 25000
	for done := 0; done < n; done += chunk {
		var d delta
		err := q.db.Update(func(tx *bolt.Tx) error {
			d.reset()
			for i := done; i < min(done+chunk, n); i++ {
				env := Envelope{From: "s@clinic.example", To: []string{fmt.Sprintf("r%d@dest.example", i)}, Meta: meta}
				// Spread queue times over the last 10 hours, oldest first.
				rec := newRecord(ids[i], env, env.To, int64(len(body(i))), now.Add(-10*time.Hour+time.Duration(i)*time.Millisecond))
				if err := putRecord(tx, &d, nil, rec); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestManyQueuedBoundedMemory(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	clock := newFakeClock()
	var delivered atomic.Int64
	opts := testOptions(t, delivererFunc(func(ctx context.Context, a Attempt) []Result {
		delivered.Add(1)
		return allStatus(a, StatusDelivered, 250, "", "ok")
	}))
	opts.Clock = clock
	opts.Workers = 20
	t0 := time.Now()
	populate(t, opts, n, 2000)
	t.Logf("populated %d messages in %v", n, time.Since(t0))

	baseHeap := heapNow()
	stop := heapPeak()
	t0 = time.Now()
	q := mustOpen(t, opts)
	openTime := time.Since(t0)
	st := q.Stats()
	if st.Messages != int64(n) || st.Recipients[StateQueued] != int64(n) {
		t.Fatalf("stats after Open: %+v", st)
	}
	if st.OldestAge < 10*time.Hour-time.Second || st.OldestAge > 10*time.Hour {
		t.Fatalf("oldest age %v, want ~10h", st.OldestAge)
	}
	openGrowth := stop()
	retained := max(heapNow(), baseHeap)

	stop = heapPeak()
	runStop := start(t, q)
	waitFor(t, "a few scheduler passes", func() bool { return delivered.Load() >= 500 })
	runStop()
	runGrowth := stop()
	st = q.Stats()
	if st.Messages > int64(n-500) || st.Recipients[StateQueued]+st.Recipients[StateDelivering] != st.Messages {
		t.Fatalf("stats after delivering: %+v", st.Recipients)
	}
	t.Logf("%d queued (1 KiB meta each, ~%d MiB of envelopes): Open %v, peak heap growth Open+Stats %.1f MiB (%.1f MiB live after), scheduler %.1f MiB",
		n, n>>10, openTime, mib(openGrowth), mib(retained-baseHeap), mib(runGrowth))
	limit := uint64(24 << 20)
	if openGrowth > limit || runGrowth > limit {
		t.Fatalf("heap grew %.1f / %.1f MiB with %d queued; want < %d MiB", mib(openGrowth), mib(runGrowth), n, limit>>20)
	}
}
