# Instruction counts under callgrind (gungraun): the figures to optimise,
# unmoved by the machine's noise. The runner must match the gungraun library
# pinned in benches/Cargo.toml; valgrind comes from Debian when missing.

GUNGRAUN_VERSION := 0.20.0

.PHONY: tools-bench bench-instructions

tools-bench:
	@if ! command -v valgrind >/dev/null; then \
	  echo "installing: valgrind"; \
	  sudo=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$sudo apt-get update -q && $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q valgrind; fi
	@if [ "$$(tools/bin/gungraun-runner --version 2>/dev/null)" != "gungraun-runner $(GUNGRAUN_VERSION)" ]; then \
	  cargo install gungraun-runner --version $(GUNGRAUN_VERSION) --locked --root tools/; fi

# Each benchmark makes 10,000 calls: divide its Instructions by 10,000.
bench-instructions: tools-bench
	GUNGRAUN_RUNNER=$(CURDIR)/tools/bin/gungraun-runner \
	  cargo bench --locked -p loginguard-benches --bench instructions
