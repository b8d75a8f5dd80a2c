# waengine: make run | make test | make install | make lint | make bench
# Everything Python runs from a virtual environment: Debian's own python3 refuses
# `pip install` outside one (PEP 668).
SYSTEM_PYTHON ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PORT ?= 8080
export PIP_DISABLE_PIP_VERSION_CHECK = 1

.PHONY: install run sandbox test test-unit lint bench doctor clean

.make/system: 
	@mkdir -p .make
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null \
	    || ! command -v redis-server >/dev/null; then \
	  echo "installing chromium, chromium-driver and redis-server (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    chromium chromium-driver redis-server >/dev/null; \
	fi
	@touch $@

$(PYTHON):
	@if ! $(SYSTEM_PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
	  echo "installing python3-venv (apt)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq python3-venv >/dev/null; \
	fi
	$(SYSTEM_PYTHON) -m venv $(VENV)

.make/python: setup.cfg pyproject.toml | $(PYTHON)
	@mkdir -p .make
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test]'
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

install: .make/system .make/python node_modules/.package-lock.json

run: install
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

sandbox: install
	$(PYTHON) -m waengine sandbox --port 8090

doctor: install
	$(PYTHON) -m waengine doctor

test: install
	$(PYTHON) -m pytest -q -p no:cacheprovider tests

test-unit: .make/python
	$(PYTHON) -m pytest -q tests/unit

lint: .make/python
	$(PYTHON) -m ruff check waengine tests bench

bench: install
	$(PYTHON) bench/run.py

clean:
	rm -rf .make node_modules data .pytest_cache

bench-scale: install  # N sessions next to bare Chromium, same run (bench/scale.py, docs/performance.md)
	$(PYTHON) bench/scale.py $(or $(N),10)
