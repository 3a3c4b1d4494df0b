# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TORCH_PIN := torch==2.13.0

.PHONY: demo test lint typecheck pytest clean bench chromium

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24.1"
	# the CPU wheel first, so that no other requirement pulls a CUDA build
	$(PY) -m pip install --quiet $(TORCH_PIN)
	$(PY) -m pip install --quiet --group dev -e ".[all]"
	touch $(STAMP)

# The end-to-end demonstration (README "Command line"); outputs and report in runs/demo.
demo: $(STAMP)
	$(VENV)/bin/unbinned demo --out runs/demo

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(VENV)/bin/lint-imports

typecheck: $(STAMP)
	$(VENV)/bin/mypy

pytest: $(STAMP) chromium
	$(PY) -m pytest

# Headless Chromium for the report's browser test: Debian's package, installed only when
# /usr/bin/chromium is missing (as root, or with password-less sudo); without it the
# browser test skips with the reason.
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ]; then \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
	  || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
	  || echo "warning: could not install chromium; the browser test will be skipped"; \
	elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then \
	  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
	  || echo "warning: could not install chromium; the browser test will be skipped"; \
	else echo "warning: /usr/bin/chromium missing and not root; the browser test will be skipped"; fi

bench: $(STAMP)
	for f in benchmarks/*.py; do $(PY) $$f; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
