# Two commands on a fresh machine: `make demo` and `make test`. Both create .venv/ if needed.
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv sandbox-tools browser classroom-tools classroom release student-kit demo test test-stability test-classroom image-tools images test-images hub lab benchmark benchmark-class benchmark-scale benchmark-capacity benchmark-storm clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	$(MAKE) --no-print-directory sandbox-tools
	$(VENV)/bin/autograder install-kernels
	touch $(STAMP)

## bubblewrap, which sandboxes student kernels, and runc, the OCI runtime in which the tests run the
## grader under the cluster's seccomp profile (Debian packages; installed here when we are root).
sandbox-tools:
	@command -v bwrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else echo "bubblewrap is missing: sudo apt-get install bubblewrap (grading refuses to run without it)" >&2; exit 1; fi; }
	@command -v runc >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null; \
	  else echo "runc is missing: sudo apt-get install runc (tests/system/test_seccomp_profile.py needs it as root)" >&2; fi; }

## Chromium, in which the tests read the students' feedback pages and the classroom (Debian package;
## installed here when we are root).
browser:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || command -v google-chrome >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium is missing: sudo apt-get install chromium (the tests render pages in it)" >&2; exit 1; fi; }

## What the JupyterHub classroom needs beyond the course: the hub, Chromium for the browser test.
CLASSROOM_STAMP := $(VENV)/.classroom-installed
classroom-tools: $(CLASSROOM_STAMP)

$(CLASSROOM_STAMP): $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,classroom]'
	$(MAKE) --no-print-directory browser
	touch $(CLASSROOM_STAMP)

## Environments, accounts, course and exchange of the one-machine classroom (root; idempotent).
classroom: classroom-tools
	$(PY) deploy/classroom.py install

## JupyterHub on http://127.0.0.1:8000 for a demo; prints the logins (root).
hub: classroom
	$(PY) deploy/classroom.py serve

## The classroom end to end on a real hub, and in Chromium (root; CI runs it after `make test`).
test-classroom: classroom
	$(PY) -m pytest -q -p no:cacheprovider --override-ini addopts= tests/classroom

## podman, buildah and mmdebstrap, which build and run the cluster's images here (Debian packages;
## installed when we are root).
image-tools:
	@command -v podman >/dev/null && command -v mmdebstrap >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman buildah mmdebstrap >/dev/null; \
	  else echo "podman and mmdebstrap are missing: sudo apt-get install podman buildah mmdebstrap" >&2; exit 1; fi; }

## The cluster's student and grader images (deploy/kubernetes/images/), built with podman on a local
## Debian bookworm base; prints their sizes (root; docs/cluster.md, "The images, built and run here").
images: image-tools
	deploy/kubernetes/images/build

## The two images run as the cluster runs them: the grader grades a sample class under the shipped
## seccomp profile, the student image serves a TP (root; after `make images`).
test-images: venv image-tools
	$(PY) -m pytest -q -p no:cacheprovider --override-ini addopts= tests/images

## Regenerate the solution cells of source/ from the reference modules, then release/.
release: venv
	$(PY) -m autograder.release

## The checks of every TP without the reference solutions, for students' self-checks (pip-installable).
student-kit: venv
	$(PY) -m autograder.student_kit build/student-kit

## The instructor's job on the bundled sample class: release, autograde, feedback, export.
demo: release
	$(PY) -m autograder.demo

## The whole test suite (CI runs this).
test: venv browser
	$(PY) -m pytest -q

## One copy, one grade: every catalogue entry graded under 1,000 draws gets one score (`make test`: 16).
STABILITY_SEEDS ?= 1000
test-stability: venv
	STABILITY_SEEDS=$(STABILITY_SEEDS) $(PY) -m pytest -q -p no:cacheprovider tests/contract/test_stability.py

## JupyterLab on the course, with the nbgrader extensions (Formgrader, Assignments, Validate).
lab: venv
	$(VENV)/bin/jupyter lab --notebook-dir=.

## Notebook speed of every TP, alone and beside a busy process (writes benchmarks/results/).
benchmark: venv
	$(PY) benchmarks/notebook_speed.py

## Class grading: sequential nbgrader against autograder grade (medians of 3 runs).
benchmark-class: venv
	$(PY) benchmarks/class_grading.py --class typical --repeat 3 --jobs 2

## Class grading at 24, 96 and 240 copies, --jobs 1 and 2 (~20 min).
benchmark-scale: venv
	$(PY) benchmarks/class_scale.py

## Capacity figures: a student kernel's memory through TP 9, grading time per submission (~10 min).
benchmark-capacity: venv
	$(PY) benchmarks/capacity.py

## A lab session's start on the classroom: 60 students log in, start servers and Run All at once (root).
STORM_STUDENTS ?= 60
benchmark-storm: classroom
	$(PY) benchmarks/storm.py --students $(STORM_STUDENTS)

clean:
	rm -rf $(VENV) demo-course build *.egg-info
