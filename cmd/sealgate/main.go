// Command sealgate is the secure outbound SMTP gateway: one binary for the
// daemon (`serve`) and its tools.
package main

import (
	"fmt"
	"io"
	"os"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `sealgate: secure outbound SMTP gateway

Usage:
  sealgate serve [--config FILE]           run the gateway (embedded defaults without --config)
  sealgate scan [--config FILE] [--explain] FILE.eml...
                                           scan messages for PHI, one JSON line each
  sealgate explain --from ADDR --to ADDR [--to ADDR...] [--config FILE] FILE.eml
                                           per-recipient protection decision, with reasons (dry run)
  sealgate config check FILE               validate a configuration file
  sealgate dkim keygen --domain D --selector S [--algorithm rsa|ed25519] [--out FILE]
                                           make a DKIM key and print its DNS record
  sealgate queue list|show|hold|release|retry|delete [ID] [--config FILE]
                                           inspect and manage the queue
  sealgate keys import|list|remove ...     recipient S/MIME certificates and OpenPGP keys
  sealgate tracking classify FILE.jsonl    classify logged tracking requests
  sealgate webhooks list|replay ...        webhook outbox
  sealgate passwd                          print a bcrypt hash for smtp.users (password on stdin)
  sealgate version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	rest := args[1:]
	switch args[0] {
	case "serve":
		return runServe(rest, stdout, stderr)
	case "scan":
		return runScan(rest, stdout, stderr)
	case "explain":
		return runExplain(rest, stdout, stderr)
	case "config":
		return runConfig(rest, stdout, stderr)
	case "dkim":
		return runDKIM(rest, stdout, stderr)
	case "queue":
		return runQueue(rest, stdout, stderr)
	case "keys":
		return runKeys(rest, stdout, stderr)
	case "tracking":
		return runTracking(rest, stdout, stderr)
	case "webhooks":
		return runWebhooks(rest, stdout, stderr)
	case "passwd":
		return runPasswd(stdin, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintln(stdout, "sealgate", version)
		return 0
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "sealgate: unknown command %q\n\n%s", args[0], usage)
	return 2
}
