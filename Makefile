# `make demo` and `make test` are the contract: both set up .venv from scratch if needed.
PYTHON ?= python3
VENV   ?= .venv
# The CPU wheel of PyTorch these machines ship; elsewhere: make demo TORCH=torch (or a CUDA build), with DEV_CONSTRAINTS=
# where the constraints below hold a dependency of that build (sympy, networkx …) to an older version than it needs.
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# pip itself, and the versions each environment installs against (constraints/*.txt, the ones the suite last passed on):
# `make setup DEV_CONSTRAINTS=` in a fresh .venv resolves pyproject.toml's ranges anew (LS_CONSTRAINTS=, LOCUST_CONSTRAINTS=
# for the other two), and `make freeze`, once `make test` passes there, writes what the three environments hold back.
PIP                ?= pip==26.3
DEV_CONSTRAINTS    ?= constraints/dev.txt
LS_CONSTRAINTS     ?= constraints/label-studio.txt
LOCUST_CONSTRAINTS ?= constraints/locust.txt
constrained = $(if $(1),-c $(1))

# Label Studio, the annotation tool `skugraph label push/pull` talk to, in its own virtual environment (its Django
# and pins stay out of ours); the tests start a server from it, `make label-studio` one for you.
LS_VENV      ?= .venv-labelstudio
LABEL_STUDIO ?= label-studio==1.23.2
LS_STAMP     := $(LS_VENV)/.installed

# Locust, the load generator `skugraph bench serve` runs, in its own virtual environment (its gevent and Flask pins
# stay out of ours).
LOCUST_VENV  ?= .venv-locust
LOCUST       ?= locust==2.47.0
LOCUST_STAMP := $(LOCUST_VENV)/.installed

.PHONY: setup browser demo docs test test-fast sample clean label-studio-venv label-studio locust-venv freeze

$(STAMP): pyproject.toml Makefile $(DEV_CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(PIP)"
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet $(call constrained,$(DEV_CONSTRAINTS)) -e ".[dev,bench,kg,scale]"
	touch $(STAMP)

setup: $(STAMP)

$(LS_STAMP): Makefile $(LS_CONSTRAINTS)
	test -x $(LS_VENV)/bin/python || $(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/python -m pip install --quiet "$(PIP)"
	$(LS_VENV)/bin/python -m pip install --quiet $(call constrained,$(LS_CONSTRAINTS)) "$(LABEL_STUDIO)"
	touch $(LS_STAMP)

label-studio-venv: $(LS_STAMP)

$(LOCUST_STAMP): Makefile $(LOCUST_CONSTRAINTS)
	test -x $(LOCUST_VENV)/bin/python || $(PYTHON) -m venv $(LOCUST_VENV)
	$(LOCUST_VENV)/bin/python -m pip install --quiet "$(PIP)"
	$(LOCUST_VENV)/bin/python -m pip install --quiet $(call constrained,$(LOCUST_CONSTRAINTS)) "$(LOCUST)"
	touch $(LOCUST_STAMP)

locust-venv: $(LOCUST_STAMP)

# What the three environments hold, written over constraints/ (each file's # header kept; PyTorch left to TORCH, and
# Label Studio and Locust to LABEL_STUDIO and LOCUST)
freeze:
	{ grep '^#' constraints/dev.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch=='; } > constraints/dev.txt.new
	{ grep '^#' constraints/label-studio.txt; $(LS_VENV)/bin/python -m pip freeze | grep -vi '^label-studio=='; } > constraints/label-studio.txt.new
	{ grep '^#' constraints/locust.txt; $(LOCUST_VENV)/bin/python -m pip freeze | grep -vi '^locust=='; } > constraints/locust.txt.new
	for f in dev label-studio locust; do mv constraints/$$f.txt.new constraints/$$f.txt; done

# A Label Studio server at http://localhost:8080, its SQLite database and files in .skugraph/label-studio:
# sign up in the browser, then take the API key from Account & Settings. Local addresses allowed: `skugraph label serve`
# on this machine is its ML backend (Label Studio refuses 127.0.0.1 backends and webhooks by default).
label-studio: $(LS_STAMP)
	LATEST_VERSION_CHECK=false ML_BLOCK_LOCAL_IP=false SSRF_PROTECTION_ENABLED=false \
	  $(LS_VENV)/bin/label-studio start --no-browser --data-dir .skugraph/label-studio --port 8080

demo: setup
	$(BIN)/skugraph demo

# Headless Chromium (Debian's) for the web UI tests, and a CJK font for their screenshots.
browser:
	@command -v chromium >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-wqy-zenhei >/dev/null; }

# The documentation site (mkdocs.yml, docs/) into site/; --strict turns every warning (a broken link) into an error.
docs: setup
	$(BIN)/mkdocs build --strict

# Everything: the whole suite (slow tests included: training, Ray, the browser, Label Studio, the wheel) and the docs site.
test: setup label-studio-venv locust-venv browser docs
	$(BIN)/python -m pytest -q

# The inner loop: every test but those marked slow.
test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

sample: setup
	$(BIN)/python -m skugraph.sample.generate

clean:
	rm -rf .skugraph .pytest_cache build dist site src/*.egg-info
