# frontier: two commands for users (`make demo`, `make test`); the rest for developers.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
ROOT ?= frontier_runs

# Python 3.10 is required (TFX 1.16 does not support 3.11). Find it on the PATH,
# then under pyenv, which installs it without necessarily activating it.
PYTHON310 := $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

.PHONY: setup demo test browser lint bench lock clean

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml setup.py
	@if [ -z "$(PYTHON310)" ]; then \
		echo "error: Python 3.10 was not found (tried python3.10 on PATH and pyenv versions 3.10*)."; \
		echo "       TFX 1.16 needs Python 3.10: install it (e.g. 'pyenv install 3.10.13') and re-run make."; \
		exit 1; fi
	@test -x $(PY) || { echo "creating $(VENV) with $(PYTHON310)"; $(PYTHON310) -m venv $(VENV); }
	$(PY) -m pip install -q --disable-pip-version-check "pip==23.3.2" "setuptools==69.5.1" "wheel==0.43.0"
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.lock
	$(PY) -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/frontier run demo --root $(ROOT)

test: $(STAMP) browser
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

# The browser test (tests/pipelines/test_browser.py) opens the run page in Debian's
# headless Chromium through its matching chromedriver: a driver that Selenium would
# download could not match the distribution's browser, and CI has no network for it.
# apt-get needs root: CI runs as root; elsewhere sudo is tried. If neither works, the
# test skips (and fails under CI=true) with a message that points here.
CHROMIUM := /usr/bin/chromium
CHROMEDRIVER := /usr/bin/chromedriver
APT := env DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Use-Pty=0

browser:
	@if [ ! -x $(CHROMIUM) ] || [ ! -x $(CHROMEDRIVER) ]; then \
		echo "$(CHROMIUM) or $(CHROMEDRIVER) is missing: installing Debian's chromium and chromium-driver with apt-get"; \
		if [ "$$(id -u)" = 0 ]; then as_root=; \
		elif command -v sudo >/dev/null 2>&1; then as_root="sudo"; \
		else echo "warning: not root and no sudo: install chromium and chromium-driver yourself; the browser test skips without them"; exit 0; fi; \
		if ! apt-cache show chromium-driver >/dev/null 2>&1; then $$as_root apt-get update -q; fi; \
		$$as_root $(APT) install --no-install-recommends chromium chromium-driver \
		|| { $$as_root apt-get update -q && $$as_root $(APT) install --no-install-recommends chromium chromium-driver; } \
		|| echo "warning: apt-get could not install chromium and chromium-driver; the browser test skips without them"; \
	fi

lint: $(STAMP)
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(PY) benchmarks/pipeline_overhead.py

# Re-resolve the pins from requirements.in into a scratch venv (needs the registry).
lock:
	rm -rf /tmp/frontier-lock && $(PYTHON310) -m venv /tmp/frontier-lock
	/tmp/frontier-lock/bin/pip install -q -r requirements.in
	{ echo "# Full pinned environment, resolved from requirements.in on Python 3.10.13 (linux x86_64)."; \
	  echo "# Regenerate with: make lock"; /tmp/frontier-lock/bin/pip freeze; } > requirements.lock

clean:
	rm -rf $(VENV) build *.egg-info $(ROOT)
