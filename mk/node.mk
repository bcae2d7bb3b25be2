# The Node binding (bindings-node/, npm package `loginguard`): npm ci from the committed
# lockfile, napi build --platform, drift check of the generated index.js / index.d.ts,
# node --test (binding, conformance, Express over HTTP), tsc on the TypeScript example.
# The redis tests (__test__/redis*.test.mjs) start their own redis-server: tools-redis
# installs it when missing, and LG_REQUIRE_REDIS=1 (exported by the Makefile) fails them without it.

NODE_DIR := bindings-node
NODE_OUT := $(CURDIR)/build/node
NODE_LOCKED ?= --locked
NODE_STAMP := $(NODE_DIR)/node_modules/.npm-ci-stamp
NAPI_BUILD := npx --no-install napi build --platform --release --no-const-enum

TEST_TARGETS += test-node

.PHONY: test-node build-node bindings-node-regenerate bench-node bench-node-redis

# npm ci only when the lockfile changed since the last install.
$(NODE_STAMP): $(NODE_DIR)/package-lock.json $(NODE_DIR)/package.json
	cd $(NODE_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Builds into build/node, fails when the generated loader or types differ from the
# committed ones, then puts the addon beside them.
build-node: $(NODE_STAMP)
	rm -rf $(NODE_OUT)
	cd $(NODE_DIR) && $(NAPI_BUILD) -o $(NODE_OUT) -- $(NODE_LOCKED)
	@for f in index.js index.d.ts; do \
	  diff -u $(NODE_DIR)/$$f $(NODE_OUT)/$$f || { echo "$(NODE_DIR)/$$f differs from napi build's output: run make bindings-node-regenerate"; exit 1; }; \
	done; echo "$(NODE_DIR)/index.js and index.d.ts match napi build's output"
	cp $(NODE_OUT)/loginguard.*.node $(NODE_DIR)/

# Regenerates the committed index.js / index.d.ts after a change to bindings-node/src.
bindings-node-regenerate: $(NODE_STAMP)
	cd $(NODE_DIR) && $(NAPI_BUILD) -- $(NODE_LOCKED)

test-node: build-node tools-redis
	cargo clippy $(NODE_LOCKED) -p loginguard-node --no-deps --all-targets -- -D warnings
	cargo fmt -p loginguard-node --check
	cd $(NODE_DIR) && node --test --test-reporter=spec __test__/
	cd $(NODE_DIR) && npx --no-install tsc -p tsconfig.json
	@echo "test-node: passed"

bench-node: build-node
	cd $(NODE_DIR) && node --expose-gc bench/bench.mjs

# AsyncGuard on the redis store beside rate-limiter-flexible's RateLimiterRedis (ioredis),
# on one local redis-server that the bench starts (not part of make test).
bench-node-redis: build-node tools-redis
	cd $(NODE_DIR) && node bench/bench-redis.mjs
