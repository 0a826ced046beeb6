# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv/ if needed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv sandbox-tools release demo test lab benchmark benchmark-class clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(MAKE) --no-print-directory sandbox-tools
	$(VENV)/bin/autograder install-kernels
	touch $(STAMP)

## bubblewrap, which sandboxes student kernels (Debian package; installed here when we are root).
sandbox-tools:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "bubblewrap is missing: sudo apt-get install bubblewrap (grading refuses to run without it)" >&2; exit 1; fi; }

## Regenerate the solution cells of source/ from the reference modules, then release/.
release: venv
	$(PY) -m autograder.release

## The instructor's job on the bundled sample class: release, autograde, feedback, export.
demo: release
	$(PY) -m autograder.demo

## The whole test suite (CI runs this).
test: venv
	$(PY) -m pytest -q

## JupyterLab on the course, with the nbgrader extensions (Formgrader, Assignments, Validate).
lab: venv
	$(VENV)/bin/jupyter lab --notebook-dir=.

## Notebook speed, alone and beside a busy process (writes benchmarks/results/).
benchmark: venv
	$(PY) benchmarks/notebook_speed.py

## Class grading: sequential nbgrader against autograder grade (medians of 3 runs).
benchmark-class: venv
	$(PY) benchmarks/class_grading.py --class typical --repeat 3 --jobs 2

clean:
	rm -rf $(VENV) demo-course build *.egg-info
