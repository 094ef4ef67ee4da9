#!/usr/bin/env bash
# End-to-end relay throughput: 2,000 messages of 5 KiB over 20 sessions, Postfix's
# smtp-source as the client and smtp-sink as the MX, through sealgate (DKIM on) and
# through a plain Postfix relay, measured in the same run. Needs root (Postfix) and
# the Debian postfix package. Prints msgs/s for both and their ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -run '^$' -bench '^BenchmarkRelayVsPostfix$' -benchtime 1x -timeout 20m -v ./cmd/sealgate
