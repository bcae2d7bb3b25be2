# The C ABI: libloginguard.{so,a}, include/loginguard.h (cbindgen, drift-checked),
# C tests under valgrind, the example through pkg-config, the C bench and fuzzing.

C_LOCKED ?= --locked
CBINDGEN_VERSION := 0.29.4
CARGO_FUZZ_VERSION := 0.13.2
C_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
C_OUT := build/c
C_LIBDIR := $(C_OUT)/lib
C_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O2 -pthread -Iinclude
C_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
C_VALGRIND := valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite,indirect --quiet
C_TESTS := conformance bad_input api threads
CBINDGEN := tools/bin/cbindgen --quiet --config ffi-c/cbindgen.toml --crate loginguard-ffi
PREFIX ?= /usr/local
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := policy c_api store_header

TEST_TARGETS += test-c check-fuzz

.PHONY: check-fuzz test-c test-c-redis lib-c header-c check-header-c tools-c install install-c example-c bench-c fuzz fuzz-build

# gcc, g++, pkg-config and valgrind from Debian, only when one is missing.
tools-c:
	@missing=""; for t in gcc g++ pkg-config valgrind; do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc g++ pkg-config valgrind; fi
	@if [ "$$(tools/bin/cbindgen --version 2>/dev/null)" != "cbindgen $(CBINDGEN_VERSION)" ]; then \
	  cargo install cbindgen --version $(CBINDGEN_VERSION) --locked --root tools/; fi

lib-c:
	cargo build $(C_LOCKED) --release -p loginguard-ffi
	mkdir -p $(C_LIBDIR)
	cp target/release/libloginguard_ffi.so $(C_LIBDIR)/libloginguard.so.$(C_VERSION)
	ln -sf libloginguard.so.$(C_VERSION) $(C_LIBDIR)/libloginguard.so.0
	ln -sf libloginguard.so.0 $(C_LIBDIR)/libloginguard.so
	cp target/release/libloginguard_ffi.a $(C_LIBDIR)/libloginguard.a

# Regenerates the committed header after a change to ffi-c/src.
header-c: tools-c
	$(CBINDGEN) --output include/loginguard.h ffi-c

check-header-c: tools-c
	@tmp=$$(mktemp); trap 'rm -f $$tmp' EXIT; \
	$(CBINDGEN) --output $$tmp ffi-c; \
	diff -u include/loginguard.h $$tmp || { echo "include/loginguard.h differs from cbindgen's output: run make header-c"; exit 1; }; \
	echo "include/loginguard.h matches cbindgen $(CBINDGEN_VERSION)"

test-c: lib-c check-header-c tools-redis
	cargo test $(C_LOCKED) -p loginguard-ffi
	mkdir -p $(C_OUT)/tests
	gcc -std=c11 -pedantic -Wall -Wextra -Werror -fsyntax-only -x c include/loginguard.h
	g++ -std=c++17 -pedantic -Wall -Wextra -Werror -Iinclude tests-c/header.cpp -o $(C_OUT)/tests/header-cpp -L$(C_LIBDIR) -lloginguard '-Wl,-rpath,$$ORIGIN/../lib'
	$(C_OUT)/tests/header-cpp
	for t in $(C_TESTS); do \
	  gcc $(C_CFLAGS) tests-c/$$t.c -o $(C_OUT)/tests/$$t-shared -L$(C_LIBDIR) -lloginguard '-Wl,-rpath,$$ORIGIN/../lib'; \
	  gcc $(C_CFLAGS) tests-c/$$t.c -o $(C_OUT)/tests/$$t-static $(C_LIBDIR)/libloginguard.a $(C_STATIC_LIBS); \
	done
	for t in $(C_TESTS); do $(C_OUT)/tests/$$t-shared conformance; done
	for t in $(C_TESTS); do for k in shared static; do \
	  echo "== $$t ($$k library, valgrind)"; \
	  $(C_VALGRIND) $(C_OUT)/tests/$$t-$$k conformance; \
	done; done
	$(MAKE) --no-print-directory test-c-redis
	$(MAKE) --no-print-directory example-c

# The redis store through the C ABI, against a redis-server of its own
# (tests-c/with-redis.sh: no persistence, stopped by pid); the test freezes
# it with SIGSTOP for a while.
test-c-redis: lib-c tools-redis
	mkdir -p $(C_OUT)/tests
	gcc $(C_CFLAGS) tests-c/redis.c -o $(C_OUT)/tests/redis-shared -L$(C_LIBDIR) -lloginguard '-Wl,-rpath,$$ORIGIN/../lib'
	tests-c/with-redis.sh $(C_OUT)/tests/redis-shared

install: install-c

install-c: lib-c
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 644 include/loginguard.h $(DESTDIR)$(PREFIX)/include/loginguard.h
	install -m 755 $(C_LIBDIR)/libloginguard.so.$(C_VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libloginguard.so.$(C_VERSION) $(DESTDIR)$(PREFIX)/lib/libloginguard.so.0
	ln -sf libloginguard.so.0 $(DESTDIR)$(PREFIX)/lib/libloginguard.so
	install -m 644 $(C_LIBDIR)/libloginguard.a $(DESTDIR)$(PREFIX)/lib/libloginguard.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(C_VERSION)|' loginguard.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/loginguard.pc

# The example, built the way a user builds it: installed library, pkg-config.
example-c: lib-c
	rm -rf $(C_OUT)/prefix
	$(MAKE) --no-print-directory install-c PREFIX=$(abspath $(C_OUT)/prefix)
	export PKG_CONFIG_PATH=$(abspath $(C_OUT)/prefix/lib/pkgconfig); \
	gcc -std=c11 -Wall -Wextra -Werror examples/c/login.c -o $(C_OUT)/login \
	  $$(pkg-config --cflags --libs loginguard) -Wl,-rpath,$$(pkg-config --variable=libdir loginguard); \
	gcc -std=c11 -Wall -Wextra -Werror -static-libgcc examples/c/login.c -o $(C_OUT)/login-static \
	  $$(pkg-config --cflags loginguard) $$(pkg-config --variable=libdir loginguard)/libloginguard.a \
	  $$(pkg-config --static --libs-only-l loginguard | sed 's/-lloginguard//')
	$(C_VALGRIND) $(C_OUT)/login
	$(C_OUT)/login-static > /dev/null

# The SPEC's workload through the C ABI from C and through the Rust API, alternated
# five times in one make run; the table gives the median of the five medians.
bench-c: lib-c
	mkdir -p $(C_OUT)
	gcc -std=c11 -Wall -Wextra -Werror -O2 -Iinclude ffi-c/benches/workload.c -o $(C_OUT)/bench-workload \
	  $(C_LIBDIR)/libloginguard.a $(C_STATIC_LIBS)
	cargo bench $(C_LOCKED) -q -p loginguard-ffi --bench rust_api --no-run
	rm -f $(C_OUT)/bench.txt
	for round in 1 2 3 4 5; do \
	  cargo bench $(C_LOCKED) -q -p loginguard-ffi --bench rust_api >> $(C_OUT)/bench.txt; \
	  $(C_OUT)/bench-workload >> $(C_OUT)/bench.txt; \
	done
	awk -f ffi-c/benches/table.awk $(C_OUT)/bench.txt

tools-fuzz:
	@if ! tools/bin/cargo-fuzz --version 2>/dev/null | grep -q ' $(CARGO_FUZZ_VERSION)$$'; then \
	  cargo install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root tools/; fi

# The fuzz targets still compile against today's API (nightly, no fuzzing run).
check-fuzz:
	cd fuzz && cargo +nightly check --locked --bins

fuzz-build: tools-fuzz
	cd fuzz && PATH=$(abspath tools/bin):$$PATH cargo +nightly fuzz build

# Each target for FUZZ_SECONDS; new inputs go to build/fuzz/, the seeds stay as committed.
fuzz: fuzz-build
	for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(abspath build/fuzz)/$$t; \
	  (cd fuzz && PATH=$(abspath tools/bin):$$PATH cargo +nightly fuzz run $$t \
	    $(abspath build/fuzz)/$$t corpus/$$t -- -max_total_time=$(FUZZ_SECONDS)); \
	done
