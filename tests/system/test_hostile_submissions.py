"""A class with hostile submissions next to honest ones, graded by plain `nbgrader autograde` and by `autograder grade`.

Every kernel runs in the sandbox: the attacks in `hostile_corpus` fail, the honest
grades are those of an ordinary class, the gradebook stays intact, nothing secret
reaches an output or a feedback page, and everyone is graded.
"""

import hashlib
import os
import secrets
import socket
import sqlite3
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder import bubblewrap, cli
from autograder.demo import hand_in, nbgrader
from autograder.bubblewrap import SANDBOX_UID_BASE
from conftest import cell_scores
from hostile_corpus import EXPECTED, class_answers
from synthetic_tp import TP

pytestmark = pytest.mark.slow  # machinery, on the synthetic TP 0 (tests/synthetic_tp)

ENV_SECRET = "jeton-secret-de-l-instructeur"
SECRETS = ("from autograder.tp00.checks import grade",  # hidden tests (source/ only)
           "Reference solution of TP 0",                # autograder/tp00/reference.py
           "Checks of TP 0",                            # autograder/tp00/checks.py
           "probe.run(",                                # the planted hidden checks
           ENV_SECRET)


class Listener:
    """A TCP service on 127.0.0.1 that records whoever connects."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.connections = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                connection, address = self.server.accept()
            except OSError:
                return
            self.connections.append(address)
            connection.close()

    def close(self):
        self.server.close()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module", params=["nbgrader autograde", "autograder grade"])
def hostile_class(request, synthetic, tmp_path_factory):
    course = synthetic.released_course(tmp_path_factory.mktemp("hostile") / "course")
    listener, token = Listener(), secrets.token_hex(6)
    hand_in(course, TP, class_answers(str(course), str(synthetic.root), listener.port, token))
    protected = {p: _digest(p) for p in [course / "nbgrader_config.py", *(course / "source").rglob("*.ipynb"),
                                         *(course / "submitted").rglob("*.ipynb"), *synthetic.package.glob("*.py")]}
    os.environ["AUTOGRADER_TEST_SECRET"] = ENV_SECRET
    try:
        if request.param == "nbgrader autograde":
            assert nbgrader(course, "autograde", TP, "--Execute.timeout=60") == 0
            assert nbgrader(course, "generate_feedback", TP) == 0
        else:
            assert cli.main(["grade", TP, "--jobs", "2", "--course", str(course)]) == 0
    finally:
        del os.environ["AUTOGRADER_TEST_SECRET"]
        listener.close()
    return course, protected, listener, token, synthetic.root


def test_everyone_is_graded_and_honest_grades_are_unchanged(hostile_class):
    course, *_ = hostile_class
    assert cell_scores(course, TP) == EXPECTED


def test_the_gradebook_and_the_course_files_are_intact(hostile_class):
    course, protected, _, token, grader = hostile_class
    with sqlite3.connect(course / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert {p: _digest(p) for p in protected} == protected
    written = [p for p in (course / f"pwned-{token}.txt", grader / f"pwned-{token}.txt",
                           Path(f"/tmp/pwned-{token}.txt"), Path(f"/root/pwned-{token}.txt"),
                           Path(f"/work/pwned-{token}.txt")) if p.exists()]
    assert not written
    assert not list((course / "autograded" / "vandal").rglob(f"pwned-{token}.txt"))  # its private copy is dropped


def test_no_connection_reaches_a_local_service(hostile_class):
    _, _, listener, *_ = hostile_class
    assert listener.connections == []


def _outputs(nb) -> str:
    """Everything the cells of `nb` output, as text."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts += [output.get("text", ""), output.get("ename", ""), output.get("evalue", ""),
                      *output.get("traceback", []), *(str(v) for v in output.get("data", {}).values())]
    return "\n".join(parts)


def test_nothing_secret_reaches_outputs_or_feedback(hostile_class):
    course, _, _, token, _ = hostile_class
    for student in EXPECTED:
        autograded = nbformat.read(next((course / "autograded" / student / TP).glob("*.ipynb")), as_version=4)
        feedback = next((course / "feedback" / student / TP).glob("*.html")).read_text()
        texts = {"outputs": _outputs(autograded), "feedback": feedback}
        for where, text in texts.items():
            leaked = [s for s in (*SECRETS, f"canari-de-alice-{token}") if s in text and student != "alice"]
            assert not leaked, f"{student} {where}: {leaked}"
            assert "BEGIN HIDDEN TESTS" not in feedback


def test_the_attacks_were_really_attempted(hostile_class):
    """The corpus is not vacuous: each attack ran, and the sandbox refused it."""
    course, _, _, token, _ = hostile_class

    def printed(student):
        nb = nbformat.read(next((course / "autograded" / student / TP).glob("*.ipynb")), as_version=4)
        return _outputs(nb)
    spy = printed("spy")
    assert "refusé" in spy and "tp00/reference.py FileNotFoundError" in spy.replace("refusé ", "")
    assert str(sorted(bubblewrap.KERNEL_MODULES)) in spy  # all the kernel can see of the package
    written = {line.split()[1] for line in printed("vandal").splitlines() if line.startswith("écrit ")}
    assert written == {f"/tmp/pwned-{token}.txt", f"pwned-{token}.txt"}  # its private /tmp and its own folder
    assert printed("network").count("refusé") == 3
    hog = printed("hog")
    assert "MemoryError" in hog and "fork refusé après" in hog
    assert "SortieTropLongue" in printed("flood")


def _sandboxed_processes() -> list[str]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            uid = int(next(line for line in status.read_text().splitlines() if line.startswith("Uid:")).split()[1])
        except (OSError, StopIteration):
            continue
        if SANDBOX_UID_BASE <= uid < SANDBOX_UID_BASE + 64:
            found.append(status.parent.name)
    return found


def test_no_sandboxed_process_outlives_grading(hostile_class):
    deadline = time.monotonic() + 10  # killed processes take a moment to be reaped
    while _sandboxed_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _sandboxed_processes()
