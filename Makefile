# `make demo` and `make test` are the contract: both set up .venv from scratch if needed.
PYTHON ?= python3
VENV   ?= .venv
# The CPU wheel of PyTorch these machines ship; elsewhere: make demo TORCH=torch (or a CUDA build).
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browser demo docs test test-fast sample clean

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[dev,bench,kg,scale]"
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/skugraph demo

# Headless Chromium (Debian's) for the web UI tests, and a CJK font for their screenshots.
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }

# The documentation site (mkdocs.yml, docs/) into site/; --strict turns every warning (a broken link) into an error.
docs: setup
	$(BIN)/mkdocs build --strict

# Everything: the whole suite (slow tests included: training, Ray, the browser, the wheel) and the docs site.
test: setup browser docs
	$(BIN)/python -m pytest -q

# The inner loop: every test but those marked slow.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

sample: setup
	$(BIN)/python -m skugraph.sample.generate

clean:
	rm -rf .skugraph .pytest_cache build dist site src/*.egg-info
