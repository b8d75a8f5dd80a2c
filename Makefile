# waengine: make run | make test | make install | make lint | make bench | make doctor
# Everything Python runs from a virtual environment (.venv): Debian's own python3 refuses
# `pip install` outside one (PEP 668). System packages come from apt, with sudo unless root.
SYSTEM_PYTHON ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
PORT ?= 8080
# `make test PYTEST_ARGS='tests/unit -x'` runs a part of the suite.
PYTEST_ARGS ?= tests
export PIP_DISABLE_PIP_VERSION_CHECK = 1
# apt-get as root, else through sudo; a user without sudo is told what to ask root for.
APT = apt() { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; \
	  elif command -v sudo >/dev/null; then SUDO=sudo; \
	  else echo "make: need root or sudo to run: apt-get install $$*" >&2; exit 1; fi; \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$$@" >/dev/null; \
	}

.PHONY: install run sandbox test test-random test-unit lint bench doctor clean distclean test-fresh \
	test-fresh-nodesource image image-walkthrough compose-walkthrough \
	compose-cluster-walkthrough bench-scale

# Each command and the Debian package that brings it. Only packages whose command is missing are
# asked for: a Node.js from elsewhere (NodeSource bundles npm) conflicts with Debian's npm.
SYSTEM_COMMANDS := chromium:chromium chromedriver:chromium-driver redis-server:redis-server node:nodejs npm:npm
# java runs the Selenium Grid jar (tests/integration/test_grid.py); default-jre-headless is the
# Debian release's own JRE (17 on Debian 12, 21 on Debian 13).
# A command given as a path pattern is looked for there only: Debian keeps PostgreSQL's server
# binaries off PATH (tests/pg.py starts a server of its own with them).
TEST_COMMANDS := nginx:nginx rabbitmq-server:rabbitmq-server nats-server:nats-server \
	/usr/lib/postgresql/*/bin/pg_ctl:postgresql java:default-jre-headless
# wrk loads the cached reads (bench/scale.py, bench/cached_reads.py): benchmarks only.
BENCH_COMMANDS := wrk:wrk
MISSING = missing() { for pair in "$$@"; do cmd=$${pair%%:*}; \
	  case $$cmd in \
	  */*) ls $$cmd >/dev/null 2>&1 || printf '%s ' "$${pair\#*:}";; \
	  *) command -v $$cmd >/dev/null || [ -x /usr/sbin/$$cmd ] || printf '%s ' "$${pair\#*:}";; \
	  esac; done; }

.make/system:
	@mkdir -p .make
	@$(APT); $(MISSING); pkgs=$$(missing $(SYSTEM_COMMANDS)); \
	if [ -n "$$pkgs" ]; then echo "installing $$pkgs(apt)"; apt $$pkgs; fi
	@touch $@

.make/system-test: .make/system
	@$(APT); $(MISSING); pkgs=$$(missing $(TEST_COMMANDS)); \
	if [ -n "$$pkgs" ]; then echo "installing $$pkgs(apt)"; apt $$pkgs; fi
	@touch $@

.make/system-bench: .make/system
	@$(APT); $(MISSING); pkgs=$$(missing $(BENCH_COMMANDS)); \
	if [ -n "$$pkgs" ]; then echo "installing $$pkgs(apt)"; apt $$pkgs; fi
	@touch $@

$(PYTHON):
	@$(APT); if ! $(SYSTEM_PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then \
	  echo "installing python3-venv (apt)"; apt python3-venv; \
	fi
	$(SYSTEM_PYTHON) -m venv $(VENV)

.make/python: setup.cfg pyproject.toml | $(PYTHON)
	@mkdir -p .make
	$(PYTHON) -m pip install -q --upgrade pip
	$(PYTHON) -m pip install -q -e '.[test]'
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json | .make/system
	npm ci --no-audit --no-fund --loglevel=error

# What the gateway runs on; `make install` adds what the suite needs too (nginx, Java for the
# Grid jar), so no test is skipped for a missing tool.
RUNTIME := .make/system .make/python node_modules/.package-lock.json
install: $(RUNTIME) .make/system-test

run: $(RUNTIME)
	$(VENV)/bin/gunicorn -c gunicorn.conf.py wsgi:app

sandbox: $(RUNTIME)
	$(PYTHON) -m waengine sandbox --port 8090

doctor: $(RUNTIME)
	$(PYTHON) -m waengine doctor

test: install
	$(PYTHON) -m pytest -q -p no:cacheprovider --durations=15 $(PYTEST_ARGS)

# The same suite with modules, and the tests in each module, shuffled (pytest-random-order): no
# test may depend on another having run first. `make test-random SEED=n` replays an order.
test-random: install
	@seed=$${SEED:-$$(od -An -N2 -tu2 /dev/urandom | tr -d ' ')}; \
	echo "test order: make test-random SEED=$$seed"; \
	$(PYTHON) -m pytest -q -p no:cacheprovider --random-order-bucket=module \
	  --random-order-seed=$$seed $(PYTEST_ARGS)

test-unit: .make/python
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/unit

lint: .make/python
	$(PYTHON) -m ruff check waengine tests bench

bench: install .make/system-bench
	$(PYTHON) bench/run.py

# Not part of `make test`: a clean Debian 12 root (debootstrap), `make test` inside it as a
# normal user with Chromium's sandbox on (docs/deployment.md). Needs root; takes a while.
test-fresh:
	scripts/test-fresh.sh

# The same with a Node.js from outside apt already on the machine, as NodeSource installs it
# (node and its bundled npm in /usr/local, copied from this host): apt must not be asked for npm.
test-fresh-nodesource:
	FRESH_NODE=host scripts/test-fresh.sh

# The container image (Dockerfile), built with podman on a base imported from that root.
image:
	scripts/build-image.sh

# The README's sandbox walk-through against those images (gateway, nginx, sandbox containers).
image-walkthrough:
	scripts/image-walkthrough.sh

# compose.yaml under podman-compose (from PyPI, into .venv), with the sandbox added
# (deploy/compose.sandbox.yaml): the README's walk-through through nginx. Needs `make image`.
compose-walkthrough: .make/python
	$(PYTHON) -m pip install -q podman-compose
	scripts/compose-walkthrough.sh

# deploy/compose.cluster.yaml (three nodes, PostgreSQL, moto's S3, nginx, the sandbox) under
# podman-compose: a session linked, its node killed, the session CONNECTED on another node
# without a scan (docs/cluster.md). Needs `make image`.
compose-cluster-walkthrough: .make/python
	$(PYTHON) -m pip install -q podman-compose
	scripts/compose-cluster-walkthrough.sh

# Never ./data: it holds the WhatsApp logins (browser profiles) and the event outbox.
clean:
	rm -rf .make $(VENV) node_modules .pytest_cache .ruff_cache build *.egg-info

distclean: clean
	@if [ "$(FORCE)" != 1 ]; then \
	  printf 'delete ./data (every WhatsApp login and queued event)? type yes: '; \
	  read answer </dev/tty 2>/dev/null || answer=; \
	  [ "$$answer" = yes ] || { echo "kept ./data (FORCE=1 deletes it without asking)"; exit 1; }; \
	fi
	rm -rf data

# N sessions next to bare Chromium, same run, on the light and on the field-weight page; then
# what each page weight costs a bare Chromium (bench/scale.py, bench/page_weight.py,
# docs/performance.md)
bench-scale: install .make/system-bench
	$(PYTHON) bench/scale.py $(or $(N),10) --page-weight light
	$(PYTHON) bench/scale.py $(or $(N),10) --page-weight field
	$(PYTHON) bench/page_weight.py
