# sealgate — see README.md. `make run` and `make test` are the two commands.
GO      ?= go
BIN     := bin/sealgate
VERSION := $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
PKGS    := ./...

.PHONY: all build run test test-short vet fmt fuzz bench bench-relay clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/sealgate

## run: build and start the gateway on embedded defaults (loopback only).
run: build
	./$(BIN) serve

## test: the whole suite, as CI runs it (gofmt, vet, race detector, real peers).
test: vet
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## test-short: quick unit tests only (skips the slow integration tests).
test-short:
	$(GO) test -short -count=1 $(PKGS)

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

## fuzz: run every fuzz target for FUZZTIME each (default 30s).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## bench: Go micro-benchmarks.
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## bench-relay: end-to-end throughput against Postfix, see bench/relay.sh.
bench-relay: build
	bench/relay.sh

clean:
	rm -rf bin
