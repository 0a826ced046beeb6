"""Stopping `autograder grade` with SIGTERM or SIGINT sent to its parent process alone, as a service
manager or `kill PID` does: everything it started stops within seconds, the gradebook holds only
copies graded in full, and the next run grades the rest, with the scores of an uninterrupted run.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.demo import hand_in
from autograder.grading import FINGERPRINT, db_url
from autograder.release import environment
from conftest import cell_scores
from synthetic_tp import TP, training_taking
from synthetic_tp.students import EXPECTED, STUDENTS

pytestmark = pytest.mark.slow  # machinery, on the synthetic TP 0 (tests/synthetic_tp)

# A copy whose training takes `TRAINING_SECONDS`, first in the class so that a worker starts with it: it is
# being graded when the first other copy is done, which is when the tests stop grading.
SLOW = "aaron"
TRAINING_SECONDS = 10
CLASS = {SLOW: {"training": training_taking(TRAINING_SECONDS)}, **STUDENTS}


@pytest.fixture()
def scratch():
    """The run's TMPDIR, where its zygotes and kernels work: short, as kernels' unix socket paths must be."""
    folder = Path(tempfile.mkdtemp(prefix="arret-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def course(synthetic, tmp_path):
    course = synthetic.released_course(tmp_path / "course")
    hand_in(course, TP, CLASS)
    return course


def expected_scores(synthetic) -> dict[str, dict[str, float]]:
    """What an uninterrupted run gives the class: the sample class's `EXPECTED`, the slow copy full marks."""
    points = synthetic.points()
    return {student: dict.fromkeys(points, 0) if answers is None else {**points, **EXPECTED.get(student, {})}
            for student, answers in CLASS.items()}


def descendants(session: int, scratch: Path) -> dict[int, str]:
    """Processes of the run: its session (workers, resource tracker, bwrap, zygotes), and whatever works in
    its temporary folder (forked kernels start sessions of their own, in the zygote's copy of the folder)."""
    found = {}
    for folder in Path("/proc").glob("[0-9]*"):
        try:
            stat = (folder / "stat").read_text()
            command = (folder / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(folder / "cwd")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if int(stat[stat.rindex(")") + 2:].split()[3]) == session or str(scratch) in command + " " + cwd:
            found[int(folder.name)] = f"{cwd} $ {command}"
    return found


def graded(course: Path) -> list[str]:
    return sorted(p.parent.parent.name for p in course.glob(f"autograded/*/{TP}/{FINGERPRINT}"))


def stop_while_grading(course: Path, scratch: Path, signum: int) -> tuple[subprocess.CompletedProcess, dict]:
    """Starts `autograder grade`, sends `signum` to its parent once a copy is graded and a kernel runs, waits for it."""
    command = [sys.executable, "-m", "autograder.cli", "grade", TP, "--jobs", "2", "--course", str(course)]
    parent = subprocess.Popen(command, env={**environment(), "TMPDIR": str(scratch)}, start_new_session=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while not (graded(course) and any(cmd.startswith(f"{scratch}/") and "/work $" in cmd
                                          for cmd in descendants(parent.pid, scratch).values())):
            assert parent.poll() is None and time.monotonic() < deadline, parent.communicate()
            time.sleep(0.2)
        running = descendants(parent.pid, scratch)
        assert sum("autograder.zygote" in cmd for cmd in running.values()) >= 3  # two zygotes, a kernel at least
        assert SLOW not in graded(course)  # its training is still running: grading is stopped in the middle of it
        os.kill(parent.pid, signum)
        out, err = parent.communicate(timeout=30)  # within seconds
    finally:
        if parent.poll() is None:
            os.killpg(parent.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10  # a killed sandbox takes a moment to be reaped
    while descendants(parent.pid, scratch) and time.monotonic() < deadline:
        time.sleep(0.2)
    return subprocess.CompletedProcess(command, parent.returncode, out, err), descendants(parent.pid, scratch)


def assert_only_whole_copies_in_the_gradebook(course: Path) -> list[str]:
    with Gradebook(db_url(course)) as gb:
        submissions = {s.student_id: s for s in gb.find_assignment(TP).submissions}
        for student, submission in submissions.items():
            scores = [g.auto_score for nb in submission.notebooks for g in nb.grades if g.cell.cell_type == "code"]
            assert None not in scores, student
    assert sorted(submissions) == graded(course)
    assert 0 < len(submissions) < len(CLASS) and SLOW not in submissions  # stopped while grading
    return sorted(submissions)


def test_sigterm_to_the_parent_stops_everything_and_the_next_run_grades_the_rest(synthetic, course, scratch):
    stopped, left = stop_while_grading(course, scratch, signal.SIGTERM)
    assert stopped.returncode == 128 + signal.SIGTERM
    assert "correction arrêtée (SIGTERM)" in stopped.stderr and "reprend" in stopped.stderr
    assert not left, left
    assert not list(scratch.iterdir())  # no zygote folder, no copy of a submission left behind
    first = assert_only_whole_copies_in_the_gradebook(course)
    resumed = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", TP, "--jobs", "2",
                              "--course", str(course)], env=environment(), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(CLASS) - len(first)} copie(s) notée(s), {len(first)} inchangée(s)" in resumed.stdout
    assert cell_scores(course, TP) == expected_scores(synthetic)


def test_sigint_to_the_parent_alone_stops_everything_as_well(course, scratch):
    stopped, left = stop_while_grading(course, scratch, signal.SIGINT)
    assert stopped.returncode == 128 + signal.SIGINT and "correction arrêtée (SIGINT)" in stopped.stderr
    assert not left, left
    assert_only_whole_copies_in_the_gradebook(course)


WRITE_GRADES_THEN_DIE = """
import os, signal, sys
import nbformat
from nbgrader.preprocessors import SaveAutoGrades
from autograder.nbgrader_ext import SaveAutoGradesAtOnce

class DiesAfterSomeCells(SaveAutoGradesAtOnce if sys.argv[1] == "at-once" else SaveAutoGrades):
    written = 0

    def _add_score(self, cell, resources):
        super()._add_score(cell, resources)
        self.written += 1
        if self.written == int(sys.argv[5]):
            os.kill(os.getpid(), signal.SIGKILL)

notebook = nbformat.read(sys.argv[2], as_version=4)
resources = {"nbgrader": {"notebook": sys.argv[3], "assignment": sys.argv[6], "student": "regraded",
                          "db_url": sys.argv[4]}}
DiesAfterSomeCells().preprocess(notebook, resources)
"""


@pytest.fixture()
def graded_before(synthetic, tmp_path) -> tuple[Path, Path]:
    """A course whose gradebook holds an earlier run's grades of the released notebook: 0 in every cell."""
    course = synthetic.released_course(tmp_path / "course")
    notebook = next((course / "release" / TP).glob("*.ipynb"))
    with Gradebook(db_url(course)) as gb:
        gb.add_student("regraded")
        earlier = gb.add_submission(TP, "regraded")
        for grade in (g for n in earlier.notebooks for g in n.grades):
            grade.auto_score = 0.0  # the earlier run's grades: the untouched release scores 0
        gb.db.commit()
    return course, notebook


def write_grades(course: Path, notebook: Path, saver: str,
                 die_after: int) -> tuple[subprocess.CompletedProcess, list[str], int]:
    """Grades the released notebook again with `saver`, killed after `die_after` cells' grades (0: never);
    its exit status, the code cells with a new grade (full points, no outputs), and all the code cells."""
    process = subprocess.run([sys.executable, "-c", WRITE_GRADES_THEN_DIE, saver, str(notebook), notebook.stem,
                              db_url(course), str(die_after), TP], env=environment(), capture_output=True, text=True)
    with Gradebook(db_url(course)) as gb:
        submission = gb.find_submission(TP, "regraded")
        code = [g for n in submission.notebooks for g in n.grades if g.cell.cell_type == "code"]
        return process, [g.name for g in code if g.auto_score != 0.0], len(code)


@pytest.mark.parametrize("saver", ["at-once", "nbgrader's"])
def test_a_copy_killed_while_its_grades_are_written_keeps_all_its_earlier_grades(graded_before, saver):
    """A regraded copy whose worker dies between two of its cells' grades: the course's saver leaves the
    earlier grades whole; nbgrader's own, which commits each cell, would leave some new ones (if it
    no longer did, the course's saver could go)."""
    process, new, _ = write_grades(*graded_before, saver, die_after=3)
    assert process.returncode == -signal.SIGKILL, process.stderr
    assert len(new) == (0 if saver == "at-once" else 3), new  # nbgrader's saver: the three cells before the kill


def test_a_copy_whose_grades_are_all_written_has_them_all_in_the_gradebook(graded_before):
    """The one transaction of the course's saver is committed: every cell's new grade is there."""
    process, new, cells = write_grades(*graded_before, "at-once", die_after=0)
    assert process.returncode == 0, process.stderr
    assert len(new) == cells > 3, new
