# killgate — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
CONFIG ?= docs/killgate.example.yaml
# Tests share one MariaDB server: run packages one at a time.
TESTFLAGS ?= -race -count=1 -p 1 -timeout 15m

.PHONY: help build run test unit vet fmt tidy deps bench fuzz fuzz-corpus crash soak reliability clean scale-test console-deps console-test console-screenshots console-check

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-20s %s\n", $$1, $$2}'

build: ## build bin/killgate and bin/killgatectl
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/killgate ./cmd/killgate
	@if [ -d cmd/killgatectl ]; then $(GO) build -ldflags '$(LDFLAGS)' -o bin/killgatectl ./cmd/killgatectl; fi

run: build ## serve on 127.0.0.1:8080 with the example config (local MariaDB, SQLite store); prints the console address
	@addr=$$(sed -nE 's/^listen:[[:space:]]*"?([^"[:space:]]+)"?.*/\1/p' $(CONFIG) | head -1); \
	echo; echo "  killgate console: http://$${addr:-127.0.0.1:8080}/console/"; \
	if grep -q AKIDkillgateDEMO $(CONFIG); then echo "  sign in with the demo key: AKIDkillgateDEMO / killgate-demo-secret-key"; fi; echo
	bin/killgate -config $(CONFIG) -log-format console

# The nested Huawei SDK module (gateway/huaweisdk) runs with -mod=readonly: its go.mod/go.sum are
# complete and never rewritten by a test run, so go resolves no version; it only downloads exactly
# the go.sum-pinned modules missing from the cache (once). `make tidy` keeps both modules in step.
test: vet deps console-check ## everything: unit + integration tests against the MariaDB on 127.0.0.1:3306, console browser tests when Chromium is present (CI=true: a missing MariaDB, Redis or Chromium fails, not skips)
	$(GO) test $(TESTFLAGS) ./...
	cd gateway/huaweisdk && $(GO) test -mod=readonly $(TESTFLAGS) ./...
	@$(MAKE) -s console-check

# The console's browser tests (docs/console.md) need Debian's Chromium, node >= 20 and
# playwright-core (make console-deps). Without them they are skipped, loudly; under CI=true
# a missing piece fails.
E2E := gateway/console/e2e
CHROMIUM ?= /usr/bin/chromium
console-check:
	@if [ -x "$${KILLGATE_CHROMIUM:-$(CHROMIUM)}" ] && command -v node >/dev/null 2>&1 && [ -d $(E2E)/node_modules/playwright-core ]; then \
	  echo "console: browser tests enabled (Chromium, node and playwright-core found)"; \
	else \
	  echo; echo "######################################################################"; \
	  echo "## SKIPPING the console browser tests: Chromium ($${KILLGATE_CHROMIUM:-$(CHROMIUM)}), node or"; \
	  echo "## $(E2E)/node_modules/playwright-core is missing."; \
	  echo "## Install: apt-get install -y chromium && make console-deps  (or run .ci/run)"; \
	  echo "######################################################################"; echo; \
	  if [ -n "$$CI" ]; then echo "CI is set: the console browser tests must run"; exit 1; fi; \
	fi

console-deps: ## install the console browser tests' npm packages (playwright-core only; it never downloads a browser)
	cd $(E2E) && npm ci --no-audit --no-fund

console-test: ## the console's tests: handler, docs examples, JS units, and every page in headless Chromium against real MariaDB sessions
	$(GO) test -race -count=1 -run 'TestConsole|TestHandler|TestBundleSize' -v ./gateway/console/ ./gateway/ 2>&1 | grep -vE '^\[mysql\]'

console-screenshots: ## regenerate docs/console/*.png, the screenshots in docs/console.md, from the browser tests
	rm -f docs/console/*.png
	KILLGATE_CONSOLE_SHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -run 'TestConsoleBrowser' ./gateway/
	@ls docs/console/*.png

scale-test: ## three replicas on a shared MySQL store + Redis: prints takeover time and fleet rate-limit figures (docs/scale-out.md)
	set -o pipefail; $(GO) test -race -count=1 -run 'TestReplicas' -v ./cmd/killgate/ 2>&1 | grep -E 'replicas_test.go:|^(=== RUN|--- |PASS|FAIL|ok)'

unit: ## pure-logic tests only (no database)
	$(GO) test -race -count=1 -short ./...

vet: ## go vet + gofmt check
	$(GO) vet ./...
	cd gateway/huaweisdk && $(GO) vet -mod=readonly ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

fmt: ## gofmt -w
	gofmt -w $$(git ls-files '*.go')

tidy: ## go mod tidy (both modules)
	$(GO) mod tidy
	cd gateway/huaweisdk && $(GO) mod tidy

deps: ## the dependency direction holds: only gateway (and cmd) import gin; gateway imports neither killtask nor database/sql; killtask imports no API package; actions reaches the store only through the engine; tc3 is std-only; killgatectl links no server
	@for p in ./killtask ./actions ./ratelimit; do \
	  if $(GO) list -deps $$p | grep -q '^github.com/gin-gonic/gin$$'; then echo "$$p must not import gin"; exit 1; fi; done
	@if $(GO) list -deps ./killtask | grep -qE '^killgate/(actions|gateway|ratelimit|tc3)$$'; then echo "killtask must not import API packages"; exit 1; fi
	@out=$$($(GO) list -f '{{join .Imports "\n"}}' ./actions ./killtask | grep -E '^(net/http|killgate/(gateway|ratelimit|tc3))$$'); \
	  if [ -n "$$out" ]; then echo "actions and killtask import no HTTP and no door package, not: $$out"; exit 1; fi
	@if $(GO) doc ./killtask Engine.Store >/dev/null 2>&1; then echo "killtask.Engine must not hand out its Store"; exit 1; fi
	@out=$$(grep -nE 'killtask\.(Store|OpenStore)\b|\.Store\(\)' $$($(GO) list -f '{{range .GoFiles}}{{$$.Dir}}/{{.}} {{end}}' ./actions) | grep -vE '^[^:]+:[0-9]+:[[:space:]]*//'); \
	  if [ -n "$$out" ]; then echo "actions reaches the store only through the engine, not: $$out"; exit 1; fi
	@if $(GO) list -deps ./killtask | grep -qE '^killgate/(actions|gateway|ratelimit)$$'; then echo "killtask must not import API packages"; exit 1; fi
	@# gateway reaches the engine and the store only through actions: it imports neither killtask nor
	@# database/sql, and no package it links but actions imports killtask. (Its full -deps list holds both
	@# all the same, through actions, and database/sql also through prometheus' collectors.)
	@out=$$($(GO) list -f '{{join .Imports "\n"}}' ./gateway | grep -xE 'killgate/killtask|database/sql'); \
	  if [ -n "$$out" ]; then echo "gateway must not import $$out"; exit 1; fi
	@out=$$($(GO) list -deps -f '{{$$p := .ImportPath}}{{range .Imports}}{{if eq . "killgate/killtask"}}{{$$p}}{{"\n"}}{{end}}{{end}}' ./gateway | grep -vx 'killgate/actions'); \
	  if [ -n "$$out" ]; then echo "gateway reaches killtask other than through actions, via: $$out"; exit 1; fi
	@out=$$($(GO) list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' ./tc3 | grep -vx 'killgate/tc3'); \
	  if [ -n "$$out" ]; then echo "tc3 must import only the standard library, not: $$out"; exit 1; fi
	@out=$$($(GO) list -deps ./cmd/killgatectl | grep -E 'gin-gonic|modernc\.org|sqlite|redis|prometheus|^killgate/gateway'); \
	  if [ -n "$$out" ]; then echo "killgatectl must not link the server: $$out"; exit 1; fi

bench: build ## regenerate docs/benchmarks.md (~12 min, bounded; starts and stops what it needs; pt-kill side by side when installed; BENCH_QUICK=1: ~3 min)
	$(GO) build -o bin/kgbench ./cmd/kgbench
	BENCH_QUICK=$(BENCH_QUICK) bin/kgbench -killgate bin/killgate -out docs/benchmarks.md

FUZZTIME ?= 20s
# package:target for every native fuzz target (docs/reliability.md).
FUZZ_TARGETS := ./actions:FuzzDecodeActions ./gateway:FuzzUnflatten ./tc3:FuzzParseTC3Authorization \
	./tc3:FuzzVerifyV1Params ./gateway:FuzzHuaweiAuthorization ./gateway:FuzzTencentPipeline \
	./gateway:FuzzHuaweiDoor ./killtask:FuzzSQLTemplate ./cmd/killgate:FuzzParseConfig
FUZZ_OUT ?= bin/fuzz

fuzz: ## run every fuzz target for FUZZTIME (default 20s each); table in bin/fuzz/summary.md
	@mkdir -p $(FUZZ_OUT); fail=0; \
	printf '| Target | Package | Time | Execs | New interesting | Corpus | Crashes |\n|---|---|---|---|---|---|---|\n' > $(FUZZ_OUT)/summary.md; \
	for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; echo "== $$name ($$pkg, $(FUZZTIME))"; \
	  if $(GO) test -short -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg > $(FUZZ_OUT)/$$name.log 2>&1; then crash=0; else crash=1; fail=1; tail -40 $(FUZZ_OUT)/$$name.log; fi; \
	  last=$$(grep -E 'execs: [0-9]+' $(FUZZ_OUT)/$$name.log | tail -1); \
	  execs=$$(echo "$$last" | sed -nE 's/.*execs: ([0-9]+).*/\1/p'); newi=$$(echo "$$last" | sed -nE 's/.*new interesting: ([0-9]+) \(total: ([0-9]+)\).*/\1/p'); \
	  total=$$(echo "$$last" | sed -nE 's/.*\(total: ([0-9]+)\).*/\1/p'); \
	  printf '| %s | %s | %s | %s | %s | %s | %s |\n' $$name $$pkg $(FUZZTIME) "$$execs" "$$newi" "$$total" $$crash >> $(FUZZ_OUT)/summary.md; \
	done; cat $(FUZZ_OUT)/summary.md; exit $$fail

fuzz-corpus: ## copy up to 20 inputs per target from the fuzz cache into testdata/fuzz (checked-in seed corpora; run after make fuzz)
	@cache=$$($(GO) env GOCACHE)/fuzz/killgate; for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; name=$${t##*:}; \
	  src=$$cache/$${pkg#./}/$$name; dst=$$pkg/testdata/fuzz/$$name; [ -d $$src ] || continue; mkdir -p $$dst; \
	  ls -S $$src | head -20 | while read f; do cp $$src/$$f $$dst/; done; echo "$$dst: $$(ls $$dst | wc -l) inputs"; done

CRASH_ROUNDS ?= 50
crash: ## CRASH_ROUNDS (default 50) SIGKILL/restart rounds of the real binary under load; prints the figure
	set -o pipefail; CRASH_ROUNDS=$(CRASH_ROUNDS) $(GO) test -race -count=1 -run '^TestCrashRecovery$$' -v -timeout 30m ./cmd/killgate/ 2>&1 | grep -E 'figure:|^(--- |FAIL|ok)|_test.go:'

SOAK_TIME ?= 3m
soak: build ## SOAK_TIME (default 3m) of mixed load on loopback with victims killed continuously; prints the soak table
	$(GO) build -o bin/kgsoak ./cmd/kgsoak
	bin/kgsoak -killgate bin/killgate -time $(SOAK_TIME) -out bin/soak.md

RELIABILITY_TESTS := TestBadInput|TestPipelineErrors|TestSlowClients|TestAuthorizationScopes|TestSignatureTampering|TestLimiterKeysBounded|TestInjectionShapedFilters|TestTargetDatabaseFaults|TestStoreFaults|TestCrashRecovery|TestShutdownDrains|TestNoSecretLeaks
reliability: ## the reliability and security tests (short crash loop), with their figure: lines (docs/reliability.md)
	set -o pipefail; $(GO) test -race -count=1 -p 1 -run '^($(RELIABILITY_TESTS))$$' -v ./gateway/ ./cmd/killgate/ 2>&1 | grep -E 'figure:|^(--- FAIL|FAIL|ok)'

clean: ## remove build output
	rm -rf bin
