package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/policy/phi"
)

const scanUsage = `Usage: sealgate scan [--config FILE] [--explain] FILE.eml...

Scans each message for PHI and prints one JSON object per line:
  {"file": ..., "phi": true|false, "kinds": [...], "score": N, "findings": [{"kind", "where", "count"}]}
Matched values are never printed. --explain adds "evidence" with masked
examples (***-**-6789) for an operator's terminal; do not log it.
Exit status: 0 when every file was scanned, 1 when a file could not be
read, 2 for usage or configuration errors.
`

// scanLine is one output line.
type scanLine struct {
	File string `json:"file"`
	*phi.Result
}

type explainLine struct {
	File string `json:"file"`
	*phi.Explanation
}

func runScan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, scanUsage) }
	cfgPath := fs.String("config", "", "configuration file (its phi: section); default: built-in settings")
	explain := fs.Bool("explain", false, "add masked evidence for each finding")
	// Flags may come before or after the files.
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		files = append(files, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(files) == 0 {
		fmt.Fprint(stderr, "sealgate scan: no message files given\n\n"+scanUsage)
		return 2
	}
	opts := phi.Options{}
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "sealgate scan: %v\n", err)
			return 2
		}
		opts, err = cfg.PHI.Options(cfg.BaseDir)
		if err != nil {
			fmt.Fprintf(stderr, "sealgate scan: %s: %v\n", *cfgPath, err)
			return 2
		}
	}
	scanner, err := phi.New(opts)
	if err != nil {
		fmt.Fprintf(stderr, "sealgate scan: %v\n", err)
		return 2
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	status := 0
	for _, name := range files {
		if err := scanFile(scanner, name, *explain, enc); err != nil {
			fmt.Fprintf(stderr, "sealgate scan: %s: %v\n", name, err)
			status = 1
		}
	}
	return status
}

func scanFile(s *phi.Scanner, name string, explain bool, enc *json.Encoder) error {
	f, err := os.Open(name)
	if err != nil {
		return describeOpenError(err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return errors.New("is a directory, not a message file")
	}
	if explain {
		ex, err := s.ScanExplain(f)
		if err != nil {
			return fmt.Errorf("read failed: %w", err)
		}
		return enc.Encode(explainLine{File: name, Explanation: ex})
	}
	res, err := s.Scan(f)
	if err != nil {
		return fmt.Errorf("read failed: %w", err)
	}
	return enc.Encode(scanLine{File: name, Result: res})
}

func describeOpenError(err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("no such file")
	case errors.Is(err, os.ErrPermission):
		return errors.New("permission denied")
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return errors.New(strings.TrimSpace(pe.Err.Error()))
	}
	return err
}
