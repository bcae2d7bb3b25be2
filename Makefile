# loginguard: `make test` runs every check; `make demo` runs the login-storm simulation.
# Each binding adds its own targets in mk/<name>.mk and appends them to TEST_TARGETS.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
export CARGO_TERM_COLOR ?= never
export CARGO_INCREMENTAL ?= 0
# The redis store's tests start their own redis-server: missing, they fail
# (rather than skip) under make.
export LG_REQUIRE_REDIS ?= 1

TEST_TARGETS := check-binaries test-rust

-include mk/*.mk

.PHONY: help test demo demo-redis lint test-rust bench check-binaries tools-redis

help:
	@echo "make demo   build and run the login-storm simulation"
	@echo "make test   every test: Rust, C, Python, Node, drift checks, lints"
	@echo "make demo-redis  two processes as two hosts sharing counters in Redis"
	@echo "make bench  the Rust criterion benchmarks (peers beside loginguard)"
	@echo "make bench-instructions  instructions per call under callgrind (Rust API and C ABI)"

test: $(TEST_TARGETS)
	@echo "make test: all passed"

# A committed native module would shadow the one built from the tree: fail on any.
check-binaries:
	@tracked=$$(git ls-files -- '*.so' '*.so.*' '*.node' '*.a' '*.dylib' '*.pyd' '*.dll'); \
	if [ -n "$$tracked" ]; then echo "built binaries are tracked by git (remove them):"; echo "$$tracked"; exit 1; fi; \
	echo "no built binary is tracked"

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

# Debian's redis-server and redis-cli, only when missing (the tests start
# their own servers on free loopback ports; the packaged service is not used).
tools-redis:
	@if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then \
	  echo "installing: redis-server"; \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server; fi

test-rust: lint tools-redis
	cargo test --locked -p loginguard -p loginguard-cli
	cargo test --locked -p loginguard-benches --bench login
	# The instruction bench needs valgrind's runner (make bench-instructions): compiled only.
	cargo test --locked -p loginguard-benches --bench instructions --no-run

demo:
	cargo build --locked --release -q -p loginguard-cli
	target/release/loginguard simulate
	@echo
	@echo "---- the shared store: several processes, one set of counters ----"
	demo/shared-store.sh

# Two processes as two hosts sharing counters through a redis-server of its own.
demo-redis: tools-redis
	cargo build --locked --release -q -p loginguard-cli
	demo/redis-hosts.sh

bench:
	cargo bench --locked -p loginguard-benches
