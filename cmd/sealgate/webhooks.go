package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/sealgate/sealgate/tracking/events"
)

const webhooksUsage = `usage:
  sealgate webhooks list   [--config FILE] [--data-dir DIR]
  sealgate webhooks replay [--config FILE] [--data-dir DIR] --dead [--since RFC3339] [--until RFC3339] [--subscriber NAME]
  sealgate webhooks replay [--config FILE] [--data-dir DIR] --since RFC3339 [--until RFC3339] [--subscriber NAME]

list counts pending and dead-lettered deliveries per subscriber. replay --dead
moves dead letters back to the outbox; replay without --dead enqueues every
stored event of the range again (this needs the subscriber list, so it works
once the configuration provides it). The data directory defaults to the one
of the embedded configuration (./sealgate-data).

events.db is locked while sealgate serve runs: stop it first, or use the
admin API (GET /api/webhooks, POST /api/webhooks/replay) of the running server.
`

// webhooksTarget is what the webhooks commands act on. The data directory
// and (later) the subscribers come from the configuration; --data-dir
// overrides the directory.
type webhooksTarget struct {
	eventsPath  string
	subscribers []events.Subscriber
}

// openTimeout is how long the CLI waits for bbolt's lock before reporting
// that a running gateway holds it.
const openTimeout = 2 * time.Second

// runWebhooks is `sealgate webhooks list|replay`.
func runWebhooks(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		fmt.Fprint(stderr, webhooksUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("webhooks "+verb, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(stderr, webhooksUsage) }
	dataDir := fs.String("data-dir", "", "data directory holding "+events.DefaultFile)
	cfgPath := fs.String("config", "", "configuration file (data_dir and webhook subscribers)")
	var dead *bool
	var since, until, subscriber *string
	if verb == "replay" {
		dead = fs.Bool("dead", false, "requeue dead-lettered deliveries")
		since = fs.String("since", "", "only events at or after this time (RFC 3339)")
		until = fs.String("until", "", "only events before this time (RFC 3339)")
		subscriber = fs.String("subscriber", "", "only this subscriber")
	}
	if code, ok := parseFlags(fs, args[1:], stderr); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fmt.Fprint(stderr, webhooksUsage)
		return 2
	}
	target, err := resolveWebhooksTarget(*dataDir, *cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}

	var filter events.ReplayFilter
	if verb == "replay" {
		filter.Dead, filter.Subscriber = *dead, *subscriber
		for _, p := range []struct {
			name, v string
			dst     *time.Time
		}{{"--since", *since, &filter.Since}, {"--until", *until, &filter.Until}} {
			if p.v == "" {
				continue
			}
			t, err := time.Parse(time.RFC3339, p.v)
			if err != nil {
				fmt.Fprintf(stderr, "sealgate: %s must be an RFC 3339 time such as 2026-03-02T09:00:00Z\n", p.name)
				return 2
			}
			*p.dst = t
		}
		if !filter.Dead && filter.Since.IsZero() {
			fmt.Fprintln(stderr, "sealgate: replay needs --dead, or --since to re-send a time range")
			return 2
		}
		if filter.Subscriber != "" && !events.ValidSubscriberName(filter.Subscriber) {
			fmt.Fprintf(stderr, "sealgate: %q is not a subscriber name\n", filter.Subscriber)
			return 2
		}
	}

	store, err := openEventsForCLI(target)
	if err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}
	defer store.Close()

	if verb == "list" {
		return webhooksList(store, stdout, stderr)
	}
	n, err := store.Replay(context.Background(), filter)
	if errors.Is(err, events.ErrNoSubscribers) {
		fmt.Fprintln(stderr, "sealgate: replaying a time range needs the webhook subscribers from the configuration;")
		fmt.Fprintln(stderr, "use --dead to requeue dead letters, or POST /api/webhooks/replay on the running server")
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}
	fmt.Fprintf(stdout, "requeued %d deliveries; sealgate serve sends them on its next start\n", n)
	return 0
}

// resolveWebhooksTarget finds events.db: in --data-dir when given, else in
// the configuration's data directory. The configuration also names the
// subscribers, which replaying a time range needs.
func resolveWebhooksTarget(dataDir, cfgPath string) (webhooksTarget, error) {
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		return webhooksTarget{}, err
	}
	eopts, err := eventsOptions(cfg, nil, nil)
	if err != nil {
		return webhooksTarget{}, err
	}
	t := webhooksTarget{eventsPath: cfg.DataPath(events.DefaultFile), subscribers: eopts.Subscribers}
	if dataDir != "" {
		t.eventsPath = filepath.Join(dataDir, events.DefaultFile)
	}
	return t, nil
}

func openEventsForCLI(t webhooksTarget) (*events.Store, error) {
	// Opening would create an empty database; a typo in --data-dir should
	// say so instead.
	if _, err := os.Stat(t.eventsPath); err != nil {
		return nil, fmt.Errorf("no events database at %s", t.eventsPath)
	}
	return events.Open(events.Options{Path: t.eventsPath, Subscribers: t.subscribers, OpenTimeout: openTimeout})
}

func webhooksList(store *events.Store, stdout, stderr io.Writer) int {
	stats, err := store.OutboxStats()
	if err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBSCRIBER\tPENDING\tDEAD\tOLDEST PENDING\tLAST ERROR")
	for _, st := range stats {
		oldest := "-"
		if !st.OldestPending.IsZero() {
			oldest = st.OldestPending.UTC().Format(time.RFC3339)
		}
		lastErr := st.LastError
		if lastErr == "" {
			lastErr = "-"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\n", st.Subscriber, st.Pending, st.Dead, oldest, lastErr)
	}
	tw.Flush()
	return 0
}
