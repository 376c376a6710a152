# mcp-gateway: build, run, test, bench.
SHELL := /bin/bash

# Swift lives in /opt/swift on our machines; use it when `swift` is not already on PATH.
ifeq ($(shell command -v swift 2>/dev/null),)
export PATH := /opt/swift/usr/bin:$(PATH)
endif

.PHONY: deps venv build build-debug run test e2e unit bench plots clean fuzz

deps:
	scripts/deps.sh

venv:
	scripts/venv.sh

build:
	swift build -c release

build-debug:
	swift build

run: deps build
	exec .build/release/mcp-gateway serve

# Unit tests + the end-to-end suite against a private PostgreSQL and Redis (see scripts/test.sh).
test:
	scripts/test.sh

# Only the swift unit tests.
unit: deps
	swift build --build-tests
	swift test --skip-build

# Only the end-to-end suite, on the binary already built (PYTEST_ARGS="-k keepalive -x").
e2e:
	scripts/test.sh --no-build -- $(PYTEST_ARGS)

# The libFuzzer targets (fuzz/): build, then run each for FUZZ_SECONDS (default 60).
FUZZ_SECONDS ?= 60
fuzz:
	fuzz/build.sh
	fuzz/run.sh $(FUZZ_SECONDS)

bench: deps build
	@set -e; for f in bench/*.sh; do \
	  [ -e "$$f" ] || continue; \
	  [ "$$f" = bench/lib.sh ] && continue; \
	  [ "$$f" = bench/charts.sh ] && continue; \
	  echo "== $$f"; bash "$$f"; \
	done

# The charts of docs/performance.md: the benchmarks behind them (a few minutes), then bench/plot.py
# writes docs/img/*.png; the data stays in bench/results/ (RESULTS_DIR). See bench/charts.sh.
plots: deps venv build
	bench/charts.sh

clean:
	rm -rf .build .build-fuzz

# A local cluster: PostgreSQL + Redis, $(REPLICAS) gateway replicas (default 3), nginx in front, in .cluster/
# (scripts/cluster.sh; its environment lands in .cluster/cluster.env).
.PHONY: cluster-up cluster-down cluster-status
cluster-up:
	scripts/cluster.sh up

cluster-down:
	scripts/cluster.sh down

cluster-status:
	scripts/cluster.sh status
