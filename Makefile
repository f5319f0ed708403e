# telemed — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
HOST ?= 127.0.0.1
PORT ?= 8000
NAME ?=
# Links in e-mails, calendar feeds and signed PDFs are built from TELEMED_BASE_URL; unless it is
# given, it follows the address `make run` serves on, so `make run PORT=8123` mails working links.
TELEMED_BASE_URL ?= http://$(HOST):$(PORT)
CHROMIUM := /usr/bin/chromium

.PHONY: run test check fix install install-test messages migrate demo bench chromium clean help audit nginx scale-test

help:
	@echo "make run    - set up everything and start telemed with demo data"
	@echo "make test   - install what the tests need and run the whole suite"
	@echo "make check  - lint, formatting, migrations and the rule modules' types (seconds; CI runs it first)"
	@echo "make fix    - apply what make check's lint and formatter can repair by themselves"
	@echo "make bench NAME=<name> - run bench/<name>.py"
	@echo "make audit  - check the pinned dependencies for known vulnerabilities"
	@echo "make scale-test - the production topology on this machine (nginx, 2 web, 2 workers, 2 dispatchers, S3)"

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml $(STAMP)
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(STAMP)
install-test: $(TEST_STAMP)

# Translations are compiled from the committed .po files (gettext's msgfmt).
messages: $(STAMP)
	cd telemed && ../$(PY) ../manage.py compilemessages --verbosity 0

migrate: $(STAMP) messages
	mkdir -p var
	$(PY) manage.py migrate --no-input --verbosity 0

demo: migrate
	$(PY) manage.py load_demo

run: demo
	@echo ""
	@echo "  telemed: http://$(HOST):$(PORT)/"
	@echo "  Demo logins, password demo-telemed-2026:"
	@echo "    patients   paziente@demo.telemed.test, paziente2@demo.telemed.test"
	@echo "    doctors    medico@demo.telemed.test, medico2@demo.telemed.test (TOTP secret ORSWYZLNMVSC2ZDFNVXS25DPORYC2MRW)"
	@echo "    secretary  segreteria@demo.telemed.test"
	@echo "    structure  struttura@demo.telemed.test"
	@echo "    staff      staff@demo.telemed.test (back office at /admin/, same TOTP secret)"
	@echo ""
	TELEMED_BASE_URL='$(TELEMED_BASE_URL)' $(PY) manage.py serve --host $(HOST) --port $(PORT)

# Browser tests drive Debian's Chromium; the signature tests check PDFs with poppler's pdfsig.
chromium:
	@{ test -x $(CHROMIUM) && test -x /usr/bin/pdfsig; } || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium poppler-utils fonts-dejavu-core >/dev/null; }

test: $(TEST_STAMP) messages chromium
	mkdir -p var
	$(PY) -m pytest -n $${TEST_WORKERS:-auto} --dist loadgroup $(PYTEST_ARGS)

# What keeps the house tidy, in seconds: lint and formatting (ruff, configured in pyproject.toml),
# migrations that match the models, the types of the rule modules (mypy, [tool.mypy]) and, where
# the shared tools sit beside the clone (as in CI), the layer order of DESIGN.md.
PY_SOURCES := telemed bench tests conftest.py manage.py
LAYERS := ../shared/tools/check_layers.py

check: $(TEST_STAMP)
	mkdir -p var
	$(PY) -m ruff check $(PY_SOURCES)
	$(PY) -m ruff format --check $(PY_SOURCES)
	$(PY) manage.py makemigrations --check --dry-run --verbosity 0
	$(PY) -m mypy
	@if [ -f $(LAYERS) ]; then $(PYTHON) $(LAYERS) .; fi

fix: $(TEST_STAMP)
	$(PY) -m ruff check --fix $(PY_SOURCES)
	$(PY) -m ruff format $(PY_SOURCES)

# Known vulnerabilities of the pinned dependencies (PyPI's data); accepted ones in .ci/pip-audit-ignore.txt.
audit: $(TEST_STAMP)
	bash .ci/pip-audit $(PY)

# The production topology on this machine (bench/scaleout.py): nginx from Debian in front of two web
# processes, two task workers, two reminder dispatchers, PostgreSQL, Redis and an S3-protocol server.
SCALE_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/telemed_bench_scaleout
SCALE_REDIS_URL ?= redis://127.0.0.1:6379/7
nginx:
	@test -x /usr/sbin/nginx || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq nginx-light >/dev/null; }

scale-test: $(TEST_STAMP) messages nginx
	mkdir -p var
	DATABASE_URL='$(SCALE_DATABASE_URL)' REDIS_URL='$(SCALE_REDIS_URL)' $(PY) bench/scaleout.py

bench: $(TEST_STAMP) messages
	@test -n "$(NAME)" || { echo "usage: make bench NAME=<name>"; exit 2; }
	$(PY) bench/$(NAME).py

clean:
	rm -rf var/test-* .pytest_cache
