package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sealgate/sealgate/crypto/keystore"
)

// defaultKeysDir is the key store of `sealgate serve` on embedded defaults
// (data_dir ./sealgate-data).
const defaultKeysDir = "sealgate-data/keys"

const keysUsage = `usage:
  sealgate keys import [--dir DIR] [--domain DOMAIN] FILE...
        store recipient certificates (PEM/DER) or OpenPGP public keys (armored/binary);
        with --domain, as domain-wide keys used for every recipient of DOMAIN without a key
  sealgate keys list [--dir DIR]
        show every key: ID, type, address or @domain, expiry, usable or why not
  sealgate keys remove [--dir DIR] ID...
        delete keys by ID (full, or a unique prefix of at least 8 hex digits)
`

// runKeys implements `sealgate keys`. Exit status: 0 done, 1 failed (or,
// for list, a key file could not be loaded), 2 usage.
func runKeys(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	sub, rest := args[0], args[1:]
	fs := flag.NewFlagSet("keys "+sub, flag.ContinueOnError)
	dir := fs.String("dir", "", "key store directory (default: keys.dir of --config, else "+defaultKeysDir+")")
	cfgPath := fs.String("config", "", "configuration file whose keys.dir to use")
	var domain *string
	switch sub {
	case "import":
		domain = fs.String("domain", "", "store as domain-wide keys for this domain")
	case "list", "remove":
	case "help", "--help", "-h":
		fmt.Fprint(stdout, keysUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "sealgate keys: unknown subcommand %q\n%s", sub, keysUsage)
		return 2
	}
	pos, code, ok := parseInterspersed(fs, rest, stderr)
	if !ok {
		return code
	}
	if *dir == "" {
		cfg, err := loadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		*dir = cfg.KeysDir()
	}
	store, err := keystore.Open(*dir, keystore.SystemClock{})
	if err != nil {
		fmt.Fprintln(stderr, "sealgate keys:", err)
		return 1
	}
	switch sub {
	case "import":
		return keysImport(store, pos, *domain, stdout, stderr)
	case "list":
		if len(pos) != 0 {
			fmt.Fprint(stderr, keysUsage)
			return 2
		}
		return keysList(store, stdout, stderr)
	default:
		return keysRemove(store, pos, stdout, stderr)
	}
}

// parseInterspersed lets flags follow positional arguments
// (`keys import a.pem --dir d`); everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string, stderr io.Writer) ([]string, int, bool) {
	var pos []string
	for {
		if code, ok := parseFlags(fs, args, stderr); !ok {
			return nil, code, false
		}
		n := len(args) - fs.NArg()
		if n > 0 && args[n-1] == "--" {
			return append(pos, fs.Args()...), 0, true
		}
		if fs.NArg() == 0 {
			return pos, 0, true
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func keysImport(store *keystore.Store, files []string, domain string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	status := 0
	for _, f := range files {
		entries, err := store.ImportFile(f, keystore.ImportOptions{Domain: domain})
		if err != nil {
			fmt.Fprintf(stderr, "sealgate keys import: %s: %v\n", f, err)
			status = 1
			continue
		}
		for _, e := range entries {
			fmt.Fprintf(stdout, "imported %s %s for %s: %s\n", e.Type, e.ID, target(e), state(e))
		}
	}
	return status
}

func keysList(store *keystore.Store, stdout, stderr io.Writer) int {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTYPE\tFOR\tEXPIRES\tSTATUS")
	for _, e := range store.List() {
		exp := "never"
		if !e.NotAfter.IsZero() {
			exp = e.NotAfter.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.ID, e.Type, target(e), exp, state(e))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, "sealgate keys list:", err)
		return 1
	}
	status := 0
	for _, p := range store.Problems() {
		fmt.Fprintf(stderr, "sealgate keys list: not loaded: %v\n", p)
		status = 1
	}
	return status
}

func keysRemove(store *keystore.Store, ids []string, stdout, stderr io.Writer) int {
	if len(ids) == 0 {
		fmt.Fprint(stderr, keysUsage)
		return 2
	}
	status := 0
	for _, id := range ids {
		e, err := store.Remove(id)
		if err != nil {
			fmt.Fprintf(stderr, "sealgate keys remove: %s: %v\n", id, err)
			status = 1
			continue
		}
		fmt.Fprintf(stdout, "removed %s %s for %s\n", e.Type, e.ID, target(e))
	}
	return status
}

func target(e keystore.Entry) string {
	if e.Domain != "" {
		return "@" + e.Domain
	}
	return strings.Join(e.Addresses, ",")
}

func state(e keystore.Entry) string {
	if e.Usable {
		return "usable"
	}
	return "not usable: " + e.Reason
}
