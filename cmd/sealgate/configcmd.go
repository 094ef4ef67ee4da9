package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sealgate/sealgate/config"
	"github.com/sealgate/sealgate/smtpd"
)

func runConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: sealgate config check FILE")
		return 2
	}
	cfg, err := config.Load(args[1])
	if err != nil {
		var ce *config.Error
		if errors.As(err, &ce) {
			fmt.Fprintln(stderr, ce.Error())
			fmt.Fprintf(stderr, "%d problem(s) in %s\n", len(ce.Problems), args[1])
		} else {
			fmt.Fprintln(stderr, "sealgate:", err)
		}
		return 1
	}
	// Files named by the config must be readable too: a config that passes
	// check and then fails to start would be a broken promise.
	if problems := checkFiles(cfg); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		return 1
	}
	fmt.Fprintf(stdout, "%s: ok\n", args[1])
	return 0
}

func runPasswd(stdin io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}
	pass := strings.TrimRight(line, "\r\n")
	if len(pass) < 8 {
		fmt.Fprintln(stderr, "sealgate: give a password of at least 8 characters on standard input")
		return 1
	}
	h, err := smtpd.HashPassword(pass)
	if err != nil {
		fmt.Fprintln(stderr, "sealgate:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

// parseFlags parses a FlagSet and turns -h and errors into exit codes.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (int, bool) {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0, false
		}
		return 2, false
	}
	return 0, true
}
