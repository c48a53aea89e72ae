# botadmin — the two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-from-lock
PROD_STAMP := $(VENV)/.installed-from-prod-lock
export PYTHONUNBUFFERED = 1

.PHONY: run test lint format messages setup venv venv-prod clean lock help

# Two locks, both from pyproject.toml (`make lock`): requirements.lock with the dev extra
# (the tests and tools) for developers and CI, requirements-prod.lock with botadmin's
# runtime dependencies only, at the same versions, for production hosts.
venv: $(STAMP)
venv-prod: $(PROD_STAMP)

# pyproject.toml's requires-python: 3.11 only.
IS_PYTHON_311 := import sys; sys.exit(sys.version_info[:2] != (3, 11))

# The virtualenv is reinstalled only when its lock file changes, or the other one was
# installed last. One that cannot run pip (left half-made when ensurepip was missing) or
# runs another Python is made again, by $(PYTHON), which must be 3.11.
$(STAMP): requirements.lock
	@$(MAKE_VENV_WITH_PIP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(PROD_STAMP) && touch $(STAMP)

# Then removes what the lock does not name: the tests' and tools' packages of a .venv that
# `make venv` made (pip install removes nothing). The services do not import them.
$(PROD_STAMP): requirements-prod.lock
	@$(MAKE_VENV_WITH_PIP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-prod.lock
	@unlocked=$$($(BIN)/python devtools/unlocked_packages.py requirements-prod.lock) && \
	if [ -n "$$unlocked" ]; then \
		echo "Removing what requirements-prod.lock does not pin: $$unlocked"; \
		$(BIN)/python -m pip uninstall --quiet --yes --disable-pip-version-check $$unlocked; \
	fi
	@rm -f $(STAMP) && touch $(PROD_STAMP)

define MAKE_VENV_WITH_PIP
	if ! $(BIN)/python -m pip --version >/dev/null 2>&1 || \
	    ! $(BIN)/python -c "$(IS_PYTHON_311)" 2>/dev/null; then \
		if ! $(PYTHON) -c "$(IS_PYTHON_311)" 2>/dev/null; then \
			echo "botadmin needs Python 3.11; $(PYTHON) is $$($(PYTHON) --version 2>/dev/null || echo missing)." >&2; \
			echo "Install Python 3.11 and run: make PYTHON=python3.11 (Debian and Ubuntu: apt install python3.11 python3.11-venv)." >&2; \
			exit 1; \
		fi; \
		rm -rf $(VENV); \
		if ! { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip --version >/dev/null 2>&1; }; then \
			rm -rf $(VENV); \
			echo "$(PYTHON) -m venv made no virtualenv with pip (ensurepip is missing)." >&2; \
			echo "Debian and Ubuntu: apt install python3-venv (or python3.11-venv), then run make again." >&2; \
			exit 1; \
		fi; \
	fi
endef

# What setup and run create under var/ (the SQLite database, the broker's messages, the
# media, the secret key) is not for other users of the machine: umask 027, as the
# systemd units' UMask= (`manage.py check` warns about a world-readable one, botadmin.W006).
PRIVATE := umask 027;

# collectstatic (2-3 s, 20 s on a loaded machine) runs only when a file it collects, the
# lock, the settings or .env changed since it wrote its manifest: devtools/collect_static.py
# decides, finding the manifest where the settings put it (BOTADMIN_VAR_DIR from the
# environment or .env), which make cannot (it does not read .env).
setup: venv
	$(PRIVATE) $(BIN)/python -m devtools.collect_static
	$(PRIVATE) $(BIN)/python manage.py migrate --noinput
	$(PRIVATE) $(BIN)/python manage.py createcachetable
	$(PRIVATE) BOTADMIN_ALLOW_PRIVATE_URLS=1 $(BIN)/python manage.py setup_demo

# Web (gunicorn), the Celery worker, forwarder, fetcher, scheduler and beat, and the startup banner, in one
# foreground command. Ctrl-C stops them all, and make says nothing of an error (the
# launcher ends well after it); if one dies, all stop, say so, and make fails. A launcher
# killed alone (SIGKILL) takes them with it on Linux: no process is left holding the ports.
# PORT and BOTADMIN_PUBLIC_URL come from the command line, the environment or .env, as
# every setting does (devtools/make_run.py).
HONCHO ?= $(BIN)/honcho
run: setup
	$(PRIVATE) exec $(BIN)/python -m devtools.make_run $(HONCHO)

# In parallel (pytest-xdist): one process per core, each with its own test database,
# var/ folder and Redis key prefix (CONTRIBUTING.md, "Parallel tests").
# `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= auto
test: venv
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The zh_Hans catalogues after a change to UI texts (needs GNU gettext): new texts are added
# where they belong, untranslated; translate them, then run it again to compile.
messages: venv
	$(BIN)/python manage.py makemessages -l zh_Hans --verbosity 0
	touch locale/zh_Hans/LC_MESSAGES/django.po */locale/zh_Hans/LC_MESSAGES/django.po
	$(BIN)/python manage.py compilemessages -l zh_Hans --ignore=.venv --ignore=var --verbosity 0

# The two locks after a change to pyproject.toml's dependencies, with the commands in their
# headers: the runtime one constrained by the dev one, so a package pinned in both has one
# version. LOCK_ARGS (--upgrade-package NAME) moves pins in the dev lock, and so in both.
# pip-tools is no dependency of botadmin: it gets a virtualenv of its own.
PIP_TOOLS := var/pip-tools
PIP_TOOLS_VERSION := 7.7.0
lock:
	@test -x $(PIP_TOOLS)/bin/pip-compile || { $(PYTHON) -m venv $(PIP_TOOLS) && \
		$(PIP_TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check pip-tools==$(PIP_TOOLS_VERSION); }
	$(PIP_TOOLS)/bin/pip-compile --extra=dev --no-emit-find-links --no-emit-index-url --output-file=requirements.lock --strip-extras $(LOCK_ARGS) pyproject.toml
	$(PIP_TOOLS)/bin/pip-compile --constraint=requirements.lock --no-emit-find-links --no-emit-index-url --output-file=requirements-prod.lock --strip-extras pyproject.toml

clean:
	rm -rf $(VENV) $(PIP_TOOLS) var/static var/broker var/metrics

# One line per target (README.md, "The two commands", says more).
help:
	@echo "make run      set up, then run web, worker, forwarder, fetcher, scheduler, beat, AI bot gateway and demo agent in the foreground"
	@echo "              (PORT=8000 DEMO_AGENT_PORT=7600 HOST=127.0.0.1; Ctrl-C stops them all)"
	@echo "make test     the test suite, one process per core (PYTEST_WORKERS=0: one; PYTEST_ARGS=...)"
	@echo "make lint     ruff check and ruff format --check"
	@echo "make format   ruff format, then ruff check --fix"
	@echo "make messages the zh_Hans catalogues: collect new UI texts, compile (needs GNU gettext)"
	@echo "make setup    migrate, cache table, static files (when changed), the demo's admin and bot; starts nothing"
	@echo "make venv     .venv from requirements.lock (again only when the lock changes); plain make does this"
	@echo "make venv-prod  .venv from requirements-prod.lock, without the tests and tools (production hosts)"
	@echo "make lock     requirements.lock and requirements-prod.lock from pyproject.toml (LOCK_ARGS=\"--upgrade-package NAME\")"
	@echo "make clean    remove .venv, var/pip-tools, var/static, var/broker, var/metrics (keeps the database)"
	@echo "make help     this list"
