# The shared store across languages: Python, Node, C and the Rust CLI processes record
# failures in turn on one memory-mapped table (tests-shared/), each a separately compiled
# copy of the core. Needs the Python wheel (mk/python.mk), the Node addon (mk/node.mk),
# the C library (mk/c.mk) and the CLI.

SHARED_OUT := build/shared

TEST_TARGETS += test-shared

.PHONY: test-shared cli-release

cli-release:
	cargo build --locked --release -q -p loginguard-cli

test-shared: wheel-python build-node lib-c cli-release
	$(PY_VENV)/bin/ruff check --config $(PY_DIR)/pyproject.toml tests-shared
	$(PY_VENV)/bin/ruff format --check --config $(PY_DIR)/pyproject.toml tests-shared
	mkdir -p $(SHARED_OUT)
	gcc $(C_CFLAGS) tests-shared/lg_op.c -o $(SHARED_OUT)/lg_op -L$(C_LIBDIR) -lloginguard \
	  '-Wl,-rpath,$$ORIGIN/../c/lib'
	LG_C_OP=$(abspath $(SHARED_OUT)/lg_op) $(PY) -m pytest -c /dev/null -W error -q \
	  -p no:cacheprovider -p no:django tests-shared
	@echo "test-shared: passed"
