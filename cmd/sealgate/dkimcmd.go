package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/sealgate/sealgate/crypto/dkim"
)

func runDKIM(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "keygen" {
		fmt.Fprintln(stderr, "usage: sealgate dkim keygen --domain D --selector S [--algorithm rsa|ed25519] [--out FILE]")
		return 2
	}
	fs := flag.NewFlagSet("dkim keygen", flag.ContinueOnError)
	domain := fs.String("domain", "", "signing domain (d=)")
	selector := fs.String("selector", "", "selector (s=)")
	alg := fs.String("algorithm", "rsa", "rsa (2048 bits) or ed25519")
	out := fs.String("out", "", "key file to write (default DOMAIN.SELECTOR.key)")
	if code, ok := parseFlags(fs, args[1:], stderr); !ok {
		return code
	}
	if *domain == "" || *selector == "" {
		fmt.Fprintln(stderr, "sealgate dkim keygen: --domain and --selector are required")
		return 2
	}
	path := *out
	if path == "" {
		path = *domain + "." + *selector + ".key"
	}
	key, err := dkim.GenerateKey(dkim.Algorithm(*alg))
	if err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 2
	}
	if err := dkim.WriteKeyFile(path, key); err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}
	line, err := dkim.ZoneLine(*domain, *selector, key)
	if err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote %s; publish this DNS record, then add the key under dkim.keys:\n", path)
	fmt.Fprintln(stdout, line)
	return 0
}
