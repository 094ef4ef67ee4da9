package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/sealgate/sealgate/tracking"
)

const trackingUsage = `usage: sealgate tracking classify [flags] FILE.jsonl

Classifies recorded tracking requests as human or automated with the same
classifier the live /t/ handlers use. Input: one JSON object per line,
  {"key": "...", "time": RFC3339, "delivered_at": RFC3339, "method": "GET|HEAD",
   "target": "pixel|click:N|honeypot", "ua": "...", "ip": "...", "headers": {...}}
where key groups one recipient's requests for one message (the input need
not be sorted). Output: one line per request, in input order,
  {"key": "...", "index": N, "verdict": "human|automated", "reason": "..."}
with index the request's 0-based position in the input (blank lines are
skipped and not counted).

If any line is invalid, every invalid line is reported on stderr as
FILE:LINE: problem, nothing is written to stdout and the exit status is 1:
results computed without some requests of a sequence could be wrong.

flags:
`

const trackingMaxLine = 1 << 20

// runTracking implements "sealgate tracking ..."; args are the words after
// "tracking". Exit status: 0 done, 1 bad input or I/O error, 2 usage.
func runTracking(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "classify" {
		fmt.Fprint(stderr, trackingUsage)
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			return 0
		}
		return 2
	}
	fs := flag.NewFlagSet("sealgate tracking classify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, trackingUsage); fs.PrintDefaults() }
	var o tracking.ClassifierOptions
	fs.StringVar(&o.AppleRangesFile, "apple-ranges", "", "Apple MPP ranges `FILE` (one CIDR a line, or Apple's egress CSV); default: built in")
	fs.StringVar(&o.ScannerDataFile, "scanner-data", "", "scanner fingerprint `FILE` (JSON), replacing the built-in data")
	fs.DurationVar(&o.ClickTooSoon, "click-too-soon", 10*time.Second, "a click this soon after delivery is automated")
	fs.DurationVar(&o.BurstWindow, "burst-window", 3*time.Second, "window for the all-links burst rule")
	fs.IntVar(&o.BurstMinLinks, "burst-min-links", 3, "distinct links inside the burst window that make a burst")
	fs.DurationVar(&o.GoogleProxyWindow, "google-proxy-window", 60*time.Second, "a first GoogleImageProxy fetch this soon after delivery is a prefetch")
	// Flags may come before or after the file name.
	var files []string
	rest := args[1:]
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(files) != 1 {
		fmt.Fprintln(stderr, "sealgate tracking classify: exactly one input FILE is needed")
		fs.Usage()
		return 2
	}
	cls, err := tracking.NewClassifier(o)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate tracking classify: %v\n", err)
		return 1
	}
	name := files[0]
	f, err := os.Open(name)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate tracking classify: %v\n", err)
		return 1
	}
	defer f.Close()
	items, problems, err := readTrackingRequests(f, name)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate tracking classify: %s: %v\n", name, err)
		return 1
	}
	if len(problems) > 0 {
		const show = 50
		for i, p := range problems {
			if i == show {
				fmt.Fprintf(stderr, "... and %d more invalid lines\n", len(problems)-show)
				break
			}
			fmt.Fprintln(stderr, p)
		}
		fmt.Fprintf(stderr, "sealgate tracking classify: %d invalid lines, nothing classified\n", len(problems))
		return 1
	}
	res := cls.ClassifyBatch(items)
	bw := bufio.NewWriter(stdout)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	for i, r := range res {
		out := struct {
			Key     string           `json:"key"`
			Index   int              `json:"index"`
			Verdict tracking.Verdict `json:"verdict"`
			Reason  string           `json:"reason"`
		}{items[i].Key, i, r.Verdict, r.Reason}
		if err := enc.Encode(out); err != nil {
			fmt.Fprintf(stderr, "sealgate tracking classify: %v\n", err)
			return 1
		}
	}
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "sealgate tracking classify: %v\n", err)
		return 1
	}
	return 0
}

// readTrackingRequests parses every line, collecting one problem per bad line
// (FILE:LINE: ...). Problems never quote the line: it may hold anything.
func readTrackingRequests(r io.Reader, name string) ([]tracking.KeyedRequest, []string, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var items []tracking.KeyedRequest
	var problems []string
	var line []byte
	tooLong := false
	for n := 1; ; n++ {
		line, tooLong = line[:0], false
		var err error
		for {
			var frag []byte
			frag, err = br.ReadSlice('\n')
			if len(line)+len(frag) > trackingMaxLine {
				tooLong = true
			} else {
				line = append(line, frag...)
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, err
		}
		t := bytes.TrimSpace(line)
		switch {
		case tooLong:
			problems = append(problems, fmt.Sprintf("%s:%d: line longer than %d bytes", name, n, trackingMaxLine))
		case len(t) == 0:
		default:
			kr, perr := tracking.ParseJSONRequest(t)
			if perr != nil {
				problems = append(problems, fmt.Sprintf("%s:%d: %v", name, n, perr))
			} else {
				items = append(items, kr)
			}
		}
		if errors.Is(err, io.EOF) {
			return items, problems, nil
		}
	}
}
