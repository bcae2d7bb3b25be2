# The Python binding (pyo3 + maturin, abi3 wheel) and its Django integration:
# a venv in .venv/ with the pinned dev tools, the wheel built and installed into it,
# then ruff, mypy.stubtest on the hand-written stub, mypy, and pytest with warnings as errors.

PY_DIR := bindings-python
PY_VENV := .venv
PY := $(PY_VENV)/bin/python
PY_STAMP := $(PY_VENV)/.loginguard-requirements-dev.stamp
PY_WHEELS := target/python-wheels

TEST_TARGETS += test-python

.PHONY: test-python wheel-python lint-python bench-python

$(PY):
	python3 -m venv $(PY_VENV)

# Reinstalls the pinned tools only when requirements-dev.txt changed.
$(PY_STAMP): $(PY_DIR)/requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r $(PY_DIR)/requirements-dev.txt
	touch $@

wheel-python: $(PY_STAMP)
	rm -rf $(PY_WHEELS)
	$(PY_VENV)/bin/maturin build --release --quiet --manifest-path $(PY_DIR)/Cargo.toml --out $(PY_WHEELS)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --force-reinstall $(PY_WHEELS)/loginguard-*.whl

lint-python: $(PY_STAMP)
	cd $(PY_DIR) && ../$(PY_VENV)/bin/ruff check . && ../$(PY_VENV)/bin/ruff format --check .

test-python: lint-python wheel-python
	cd $(PY_DIR) && ../$(PY) -m mypy.stubtest loginguard._native
	cd $(PY_DIR)/python && ../../$(PY) -m mypy --ignore-missing-imports -p loginguard
	cd $(PY_DIR) && ../$(PY) -m pytest -W error -q

bench-python: wheel-python
	$(PY) $(PY_DIR)/bench/bench.py
