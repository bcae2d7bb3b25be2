# The Python binding (pyo3 + maturin, abi3 wheel) and its Django integration:
# a venv in .venv/ with the pinned dev tools, the wheel built and installed into it,
# then ruff, mypy.stubtest on the hand-written stub, mypy, and pytest with warnings as errors.

PY_DIR := bindings-python
PY_VENV := .venv
PY := $(PY_VENV)/bin/python
PY_STAMP := $(PY_VENV)/.loginguard-requirements-dev.stamp
PY_WHEELS := target/python-wheels
MATURIN := $(PY_VENV)/bin/maturin build --release --quiet --manifest-path $(PY_DIR)/Cargo.toml --out $(PY_WHEELS)
# A second venv that runs the binding tests (no Django) on the CPython 3.9 floor's wheel.
PY39_VENV := target/python-venv-abi3-py39
PY39_TESTS := tests/test_guard.py tests/test_conformance.py tests/test_shared_store.py tests/test_readme.py tests/test_pickle.py \
  tests/test_redis.py tests/test_redis_server.py

TEST_TARGETS += test-python

.PHONY: test-python test-python-abi3-py39 wheel-python lint-python bench-python bench-python-redis \
  bench-python-callgrind

$(PY):
	python3 -m venv $(PY_VENV)

# Reinstalls the pinned tools only when requirements-dev.txt changed.
$(PY_STAMP): $(PY_DIR)/requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(PY_DIR)/requirements-dev.txt
	touch $@

# Two abi3 wheels of the same code: cp39-abi3 (CPython 3.9) and cp310-abi3 (3.10+, where pyo3
# uses vectorcall); pip installs the newest one the interpreter takes.
wheel-python: $(PY_STAMP)
	rm -rf $(PY_WHEELS)
	$(MATURIN)
	$(MATURIN) --features extension-module,abi3-py310
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall \
	  --no-index --find-links $(PY_WHEELS) loginguard

lint-python: $(PY_STAMP)
	cd $(PY_DIR) && ../$(PY_VENV)/bin/ruff check . && ../$(PY_VENV)/bin/ruff format --check .

# The redis-store tests start their own redis-server (LG_REQUIRE_REDIS=1: missing, they fail).
test-python: lint-python wheel-python tools-redis test-python-abi3-py39
	cd $(PY_DIR) && ../$(PY) -m mypy.stubtest loginguard._native
	cd $(PY_DIR)/python && ../../$(PY) -m mypy --ignore-missing-imports -p loginguard
	cd $(PY_DIR) && ../$(PY) -m pytest -W error -q

test-python-abi3-py39: wheel-python tools-redis
	test -x $(PY39_VENV)/bin/python || python3 -m venv $(PY39_VENV)
	$(PY39_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -c $(PY_DIR)/requirements-dev.txt pytest prometheus-client
	$(PY39_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --no-deps \
	  --force-reinstall $(PY_WHEELS)/loginguard-*-cp39-abi3-*.whl
	cd $(PY_DIR) && ../$(PY39_VENV)/bin/python -m pytest -c /dev/null -W error -q -p no:cacheprovider \
	  $(PY39_TESTS)

bench-python: wheel-python
	$(PY) $(PY_DIR)/bench/bench.py

# Instructions per call of begin / check / record_failure / record_success under callgrind
# (valgrind): noise-free figures for before/after a change to the binding. Not part of `make test`.
bench-python-callgrind: wheel-python
	$(PY) $(PY_DIR)/bench/callgrind.py

# loginguard and django-axes (cache handler on django-redis) against one local redis-server.
bench-python-redis: wheel-python tools-redis
	$(PY) $(PY_DIR)/bench/bench_redis.py
