"""Setups in which grading used to give every student 0, with plain `nbgrader autograde` exiting 0.

* A course directory that holds its own copy of the package (`autograder/`), graded with the
  environment of another checkout: the grader imports the course's copy, the kernel found none.
  Now the kernel gets the grader's own modules wherever they come from: both commands grade it.
* A kernel that cannot import what the hidden checks need (here: a course copy whose probe
  imports, dynamically, a module the sandbox does not give kernels), or a kernel spec whose interpreter is
  gone (a checkout that reached the environment through a symlink, then deleted): before any
  copy is touched, grading refuses with the cause and the fix, and records no grade.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder import bubblewrap
from autograder.demo import REPO, forget_grading, hand_in
from autograder.grading import db_url
from autograder.provisioner import PROVISIONER_NAME
from autograder.release import environment
from conftest import cell_scores
from synthetic_tp import TP

pytestmark = pytest.mark.slow  # machinery, on the synthetic TP 0 (tests/synthetic_tp)


def handed_in(course: Path) -> Path:
    """`course`, where TP 0 is generated, with the reference handed in."""
    hand_in(course, TP, {"ref": {}})
    return course


def course_with_its_own_package(synthetic, root: Path, probe_imports: str = "") -> Path:
    """A course holding a copy of the repository's package with TP 0 in it, its probe importing `probe_imports` first,
    dynamically (`__import__`: autograder/package.py, which gives a kernel what the probe's import statements name,
    misses it)."""
    course = synthetic.released_course(root / "course")
    shutil.copytree(REPO / "autograder", course / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(synthetic.package, course / "autograder" / TP, ignore=shutil.ignore_patterns("__pycache__"))
    if probe_imports:
        probe = course / "autograder" / "probe.py"
        probe.write_text(probe.read_text().replace("\nimport ", f"\n__import__({probe_imports!r})\nimport ", 1))
    return handed_in(course)


def plain_nbgrader(course: Path, env=None) -> subprocess.CompletedProcess:
    """`python -m nbgrader autograde tp00` from the course root, as an instructor runs it."""
    return subprocess.run([sys.executable, "-m", "nbgrader", "autograde", TP], cwd=course,
                          env=env or environment(), capture_output=True, text=True)


def autograder_grade(course: Path, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder.cli", "grade", TP, "--force", "--jobs", "1"],
                          cwd=course, env=env or environment(), capture_output=True, text=True)


def assert_refused_without_a_grade(course: Path, done: subprocess.CompletedProcess, *causes: str) -> None:
    assert done.returncode != 0
    for text in ("refus de corriger", *causes, "Pour y remédier", "Aucune copie n'a été notée"):
        assert text in done.stderr, done.stderr
    with Gradebook(db_url(course)) as gb:
        assert not gb.find_assignment(TP).submissions
    assert not list(course.glob(f"autograded/*/{TP}/*.ipynb"))


def test_a_course_holding_its_own_copy_of_the_package_is_graded_by_both_commands(synthetic, tmp_path):
    course = course_with_its_own_package(synthetic, tmp_path)
    imported = subprocess.run([sys.executable, "-c", "import autograder; print(autograder.__file__)"], cwd=course,
                              env=environment(), capture_output=True, text=True).stdout
    assert Path(imported.strip()).parent == course / "autograder"  # the grader runs the course's copy
    done = plain_nbgrader(course)
    assert done.returncode == 0, done.stderr
    assert sum(cell_scores(course, TP)["ref"].values()) == synthetic.full_marks(), done.stderr
    forget_grading(course)
    done = autograder_grade(course)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(cell_scores(course, TP)["ref"].values()) == synthetic.full_marks()


def test_a_kernel_that_cannot_import_the_probe_stops_both_commands_before_any_grade(synthetic, tmp_path):
    course = course_with_its_own_package(synthetic, tmp_path, probe_imports="autograder.course")
    missing = "No module named 'autograder.course'"
    assert_refused_without_a_grade(course, plain_nbgrader(course), "autograder-sandbox", missing, "KERNEL_MODULES")
    assert_refused_without_a_grade(course, autograder_grade(course), "autograder-warm", missing, "KERNEL_MODULES")


def test_kernel_specs_written_through_a_symlinked_environment_name_its_real_path(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / ".venv").symlink_to(Path(sys.prefix).resolve())
    code = f"from autograder.kernelspecs import install_kernelspecs; install_kernelspecs(prefix={str(tmp_path / 'env')!r})"
    subprocess.run([str(checkout / ".venv" / "bin" / "python"), "-c", code], check=True, env=environment())
    shutil.rmtree(checkout)  # the checkout is deleted: the kernels it installed must still start
    for name in (PROVISIONER_NAME, "autograder-warm"):
        spec = json.loads((tmp_path / "env" / "share" / "jupyter" / "kernels" / name / "kernel.json").read_text())
        assert Path(spec["argv"][0]) == Path(sys.prefix).resolve() / "bin" / "python"
        assert os.access(spec["argv"][0], os.X_OK)


def test_a_kernel_spec_whose_interpreter_is_gone_stops_plain_nbgrader_before_any_grade(synthetic, tmp_path):
    course = handed_in(synthetic.released_course(tmp_path / "course"))
    # what `make` in a checkout reaching the environment through a symlink wrote, before that checkout was deleted
    gone = tmp_path / "deleted-checkout" / ".venv" / "bin" / "python"
    jupyter = tmp_path / "jupyter"
    for name in (PROVISIONER_NAME, "autograder-warm"):
        spec = json.loads((Path(sys.prefix) / "share" / "jupyter" / "kernels" / name / "kernel.json").read_text())
        (jupyter / "kernels" / name).mkdir(parents=True)
        spec["argv"][0] = str(gone)
        (jupyter / "kernels" / name / "kernel.json").write_text(json.dumps(spec))
    env = {**environment(), "JUPYTER_PATH": str(jupyter)}
    assert_refused_without_a_grade(course, plain_nbgrader(course, env), str(gone), "n'existe plus", "install-kernels",
                                   str(jupyter / "kernels" / PROVISIONER_NAME))
    # `autograder grade` forks its kernels from its own interpreter, whatever the spec names: it grades
    done = autograder_grade(course, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(cell_scores(course, TP)["ref"].values()) == synthetic.full_marks()


def test_a_long_tmpdir_and_a_python_called_by_a_relative_path_do_not_stop_either_command(synthetic, tmp_path):
    """An instructor's shell: a TMPDIR so deep that kernels' socket paths would pass the 107 bytes of a unix
    socket (the sockets go under /tmp instead), and `../…/.venv/bin/python`, a path through folders the
    sandbox does not have (the environment's own path is run instead)."""
    course = handed_in(synthetic.released_course(tmp_path / "course"))
    deep = tmp_path / "dossier-temporaire-au-chemin-long"
    deep.mkdir()
    assert len(str(deep)) + bubblewrap.SOCKET_PATH_BELOW_TEMP > bubblewrap.SOCKET_PATH_MAX
    python = os.path.relpath(sys.executable, course)
    for command in (["nbgrader", "autograde", TP], ["autograder.cli", "grade", TP, "--jobs", "1"]):
        done = subprocess.run([python, "-m", *command], cwd=course, env={**environment(), "TMPDIR": str(deep)},
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr
        assert sum(cell_scores(course, TP)["ref"].values()) == synthetic.full_marks(), done.stdout + done.stderr
        forget_grading(course)
