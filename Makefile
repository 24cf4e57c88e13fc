# Set-up and the two everyday jobs. Only Python 3 (with venv) and pip are needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.gradfit-installed
OUT ?= report

.PHONY: setup report test bench-setup lint clean

setup: $(STAMP)

# torch is pinned here, not in pyproject.toml, so that pip takes the CPU build
# that matches this release; the package itself accepts any torch>=2.2.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/gradfit report --out $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench-setup: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'

# ruff is pinned so that a new release's rules cannot fail an unchanged tree.
lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff==0.17.6
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) $(OUT) build src/*.egg-info
