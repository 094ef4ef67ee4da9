package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sealgate/sealgate/queue"
)

// The control socket lets `sealgate queue ...` manage the queue of a running
// gateway (bbolt allows one process at a time). It is a Unix socket in the
// data directory, mode 0600: file permissions are the authorisation, as for
// Postfix's postqueue.
const controlSocket = "control.sock"

// queueAdmin is what the control socket and the offline CLI need.
type queueAdmin interface {
	List(ctx context.Context, opts queue.ListOptions) ([]queue.MessageInfo, error)
	Get(id string) (queue.MessageInfo, error)
	Hold(id string) error
	Release(id string) error
	RetryNow(id string) error
	Delete(id string) error
	Stats() queue.Stats
}

func startControl(path string, q queueAdmin, log *slog.Logger) (*http.Server, error) {
	// A socket left by a killed process would make Listen fail; nobody
	// else can be serving it, as bbolt's lock on queue.db proves.
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	hs := &http.Server{Handler: controlHandler(q), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control socket stopped", "err", err)
		}
	}()
	return hs, nil
}

func controlHandler(q queueAdmin) http.Handler {
	mux := http.NewServeMux()
	writeJSON := func(w http.ResponseWriter, v any, err error) {
		if err != nil {
			status := http.StatusInternalServerError
			if errors.Is(err, queue.ErrNotFound) {
				status = http.StatusNotFound
			}
			http.Error(w, err.Error(), status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /queue", func(w http.ResponseWriter, r *http.Request) {
		opts := queue.ListOptions{After: r.URL.Query().Get("after"), State: queue.State(r.URL.Query().Get("state"))}
		fmt.Sscan(r.URL.Query().Get("limit"), &opts.Limit)
		list, err := q.List(r.Context(), opts)
		writeJSON(w, list, err)
	})
	mux.HandleFunc("GET /queue/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, q.Stats(), nil)
	})
	mux.HandleFunc("GET /queue/{id}", func(w http.ResponseWriter, r *http.Request) {
		mi, err := q.Get(r.PathValue("id"))
		writeJSON(w, mi, err)
	})
	actions := map[string]func(string) error{"hold": q.Hold, "release": q.Release, "retry": q.RetryNow, "delete": q.Delete}
	mux.HandleFunc("POST /queue/{id}/{action}", func(w http.ResponseWriter, r *http.Request) {
		act, ok := actions[r.PathValue("action")]
		if !ok {
			http.Error(w, "unknown action", http.StatusNotFound)
			return
		}
		writeJSON(w, map[string]string{"id": r.PathValue("id"), "result": "ok"}, act(r.PathValue("id")))
	})
	return mux
}

// runQueue is `sealgate queue list|stats|show|hold|release|retry|delete`.
func runQueue(args []string, stdout, stderr io.Writer) int {
	const use = "usage: sealgate queue list [--state S] | stats | show ID | hold ID | release ID | retry ID | delete ID  [--config FILE]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, use)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("queue "+verb, flag.ContinueOnError)
	cfgPath := fs.String("config", "", "configuration file (default: embedded defaults)")
	state := fs.String("state", "", "list: only messages with a recipient in this state")
	asJSON := fs.Bool("json", false, "print JSON")
	pos, code, ok := parseInterspersed(fs, args[1:], stderr)
	if !ok {
		return code
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	c := controlClient(cfg.DataPath(controlSocket))
	var path, method = "", http.MethodGet
	switch verb {
	case "list":
	case "stats":
		path = "/queue/stats"
	case "show", "hold", "release", "retry", "delete":
		if len(pos) != 1 {
			fmt.Fprintln(stderr, use)
			return 2
		}
		path = "/queue/" + url.PathEscape(pos[0])
		if verb != "show" {
			path, method = path+"/"+verb, http.MethodPost
		}
	default:
		fmt.Fprintln(stderr, use)
		return 2
	}
	if verb == "list" {
		list, err := listAll(c, *state)
		if err != nil {
			fmt.Fprintf(stderr, "sealgate: %v\n", err)
			return 1
		}
		if *asJSON {
			json.NewEncoder(stdout).Encode(list)
			return 0
		}
		printQueue(stdout, list)
		return 0
	}
	body, err := controlCall(c, method, path)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate: %v\n", err)
		return 1
	}
	if verb == "show" || verb == "stats" || *asJSON {
		stdout.Write(body)
		return 0
	}
	fmt.Fprintf(stdout, "%s %s: ok\n", verb, pos[0])
	return 0
}

// controlCall makes one request to the running gateway.
func controlCall(c *http.Client, method, path string) ([]byte, error) {
	req, _ := http.NewRequest(method, "http://sealgate"+path, nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the running gateway: %v (is `sealgate serve` running with this configuration?)", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New(strings.TrimSpace(string(body)))
	}
	return body, nil
}

// listAll pages through the whole queue, a thousand messages at a time.
func listAll(c *http.Client, state string) ([]queue.MessageInfo, error) {
	const page = 1000
	var all []queue.MessageInfo
	after := ""
	for {
		body, err := controlCall(c, http.MethodGet, "/queue?"+url.Values{"limit": {strconv.Itoa(page)}, "state": {state}, "after": {after}}.Encode())
		if err != nil {
			return nil, err
		}
		var list []queue.MessageInfo
		if err := json.Unmarshal(body, &list); err != nil {
			return nil, err
		}
		all = append(all, list...)
		if len(list) < page {
			return all, nil
		}
		after = list[len(list)-1].ID
	}
}

func printQueue(stdout io.Writer, list []queue.MessageInfo) {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tSIZE\tFROM\tRECIPIENT\tSTATE\tATTEMPTS\tLAST REPLY")
	for _, m := range list {
		for _, r := range m.Rcpts {
			from := m.From
			if from == "" {
				from = "<>"
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\n", m.ID, m.ReceivedAt.UTC().Format(time.RFC3339), m.Size, from, r.Addr, r.State, r.Attempts, oneLine(r.Text, 60))
		}
	}
	tw.Flush()
}

func controlClient(sock string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}},
	}
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-1] + "…"
	}
	return s
}
