# killgate — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CONFIG ?= docs/killgate.example.yaml
# Tests share one MariaDB server: run packages one at a time.
TESTFLAGS ?= -race -count=1 -p 1 -timeout 15m

.PHONY: help build run test unit vet fmt tidy deps bench fuzz clean scale-test

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## build bin/killgate and bin/killgatectl
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/killgate ./cmd/killgate
	@if [ -d cmd/killgatectl ]; then $(GO) build -ldflags '$(LDFLAGS)' -o bin/killgatectl ./cmd/killgatectl; fi

run: build ## serve on 127.0.0.1:8080 with the example config (local MariaDB, SQLite store)
	bin/killgate -config $(CONFIG) -log-format console

test: vet deps ## everything: unit + integration tests against the MariaDB on 127.0.0.1:3306
	$(GO) test $(TESTFLAGS) ./...
	cd gateway/huaweisdk && GOFLAGS=-mod=mod $(GO) test $(TESTFLAGS) ./...

scale-test: ## three replicas on a shared MySQL store + Redis: prints takeover time and fleet rate-limit figures (docs/scale-out.md)
	set -o pipefail; $(GO) test -race -count=1 -run 'TestReplicas' -v ./cmd/killgate/ 2>&1 | grep -E 'replicas_test.go:|^(=== RUN|--- |PASS|FAIL|ok)'

unit: ## pure-logic tests only (no database)
	$(GO) test -race -count=1 -short ./...

vet: ## go vet + gofmt check
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

fmt: ## gofmt -w
	gofmt -w $$(git ls-files '*.go')

tidy: ## go mod tidy
	$(GO) mod tidy

deps: ## the dependency direction holds: only gateway (and cmd) import gin; killtask imports no API package
	@for p in ./killtask ./actions ./ratelimit; do \
	  if $(GO) list -deps $$p | grep -q '^github.com/gin-gonic/gin$$'; then echo "$$p must not import gin"; exit 1; fi; done
	@if $(GO) list -deps ./killtask | grep -qE '^killgate/(actions|gateway|ratelimit)$$'; then echo "killtask must not import API packages"; exit 1; fi

bench: build ## regenerate docs/benchmarks.md (~8 min, bounded; starts and stops what it needs; BENCH_QUICK=1: ~2 min)
	$(GO) build -o bin/kgbench ./cmd/kgbench
	BENCH_QUICK=$(BENCH_QUICK) bin/kgbench -killgate bin/killgate -out docs/benchmarks.md

fuzz: ## run every fuzz target for FUZZTIME (default 20s each)
	@if [ -x scripts/fuzz.sh ]; then scripts/fuzz.sh; else echo "no fuzz script yet"; fi

clean: ## remove build output
	rm -rf bin
