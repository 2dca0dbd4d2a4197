# Baton's entry points. `make test` and `make demo` install the system packages they need
# first (with apt-get when run as root, else they print the command to run and stop).

SWIFT ?= swift
# Debian packages the build and the tests need (the HTTP tests run a TLS server in python3 with
# certificates made by the openssl command; the audit tests tamper with rows using sqlite3; the
# Prometheus gate tests run a real prometheus).
SYSTEM_PACKAGES := pkg-config git curl libgit2-dev libcurl4-openssl-dev libsqlite3-dev python3 python3-kubernetes openssl sqlite3 prometheus openssh-client

.PHONY: all build test demo demo-stop bench deps clean clean-demo

all: build

deps:
	@command -v dpkg-query >/dev/null || { echo "make: dpkg-query not found; install by hand: $(SYSTEM_PACKAGES)"; exit 1; }
	@missing=""; \
	for p in $(SYSTEM_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make: installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  else \
	    echo "make: missing system packages:$$missing"; \
	    echo "make: run: sudo apt-get update && sudo apt-get install -y$$missing"; \
	    exit 1; \
	  fi; \
	fi
	@command -v kubectl >/dev/null || { echo "make: kubectl is required (the KubeSim conformance tests run it); install it and run make again"; exit 1; }

build: deps
	$(SWIFT) build

test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build --experimental-maximum-parallelization-width 24

# The main job end to end on local simulated clusters (scripts/demo.sh); leaves everything
# running in ./demo until `make demo-stop`.
demo: build
	BATON_BIN=$$($(SWIFT) build --show-bin-path) scripts/demo.sh

# Signals the demo's processes, then waits (up to 10 s) until every one is gone before saying so.
demo-stop:
	@if [ ! -f demo/pids ]; then echo "make: no demo is running"; exit 0; fi; \
	pids=$$(cat demo/pids); kill $$pids 2>/dev/null || true; \
	for i in $$(seq 1 100); do \
	  alive=""; for p in $$pids; do [ -d /proc/$$p ] && ! grep -q '^State:.*Z' /proc/$$p/status 2>/dev/null && alive="$$alive $$p"; done; \
	  [ -z "$$alive" ] && break; sleep 0.1; \
	done; \
	if [ -n "$$alive" ]; then echo "make: still running after 10 s:$$alive (kill -9 them)"; exit 1; fi; \
	rm -f demo/pids; echo "make: stopped the demo's clusters, Prometheus, git daemon and baton run"

clean-demo: demo-stop
	rm -rf demo

# Benchmarks print figures against a peer measured in the same run; tests assert behaviour.
bench: deps
	@command -v wrk >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get install -y -qq wrk >/dev/null; } || { echo "make: bench needs wrk: sudo apt-get install -y wrk"; exit 1; }
	$(SWIFT) build -c release --product baton
	$(SWIFT) build -c release --product baton-bench
	$$($(SWIFT) build -c release --show-bin-path)/baton-bench

clean:
	rm -rf .build
