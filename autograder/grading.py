"""`autograder grade`: nbgrader's Autograde (and feedback) on a whole class, in parallel worker processes.

Each worker process runs nbgrader's own Autograde converter (through `NbGraderAPI`),
with the course's `nbgrader_config.py`, for one submission at a time: the
preprocessors, timeouts and checks are exactly those of `nbgrader autograde`. What
differs is how kernels start — forked from a warm zygote (see `autograder.warm`) —
and that several submissions run at once.

SQLite takes one writer at a time: the parent creates the gradebook, the assignment
and every student row before the workers start, and workers open the gradebook with
a long busy timeout, so a worker that finds it locked waits instead of failing. A
submission is graded by exactly one worker, and nbgrader replaces its previous grades.
"""

from __future__ import annotations

import hashlib
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder import sandbox
from autograder.warm import PROVISIONER_NAME

FINGERPRINT = ".autograder-fingerprint"
DB_BUSY_TIMEOUT = 600  # seconds a worker waits for another one's write


@dataclass
class Outcome:
    """What grading one submission gave."""

    student: str
    success: bool
    seconds: float
    error: str = ""


@dataclass
class ClassRun:
    assignment: str
    graded: list[Outcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.graded if not o.success]


# ------------------------------------------------------------------ course


def load_config(course: Path) -> Config:
    """The course's nbgrader configuration, as `nbgrader` loads it from the course root."""
    config = Config()
    if (course / "nbgrader_config.py").exists():
        config.merge(PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config())
    config.CourseDirectory.root = str(course)
    return config


def db_url(course: Path, busy_timeout: float = DB_BUSY_TIMEOUT) -> str:
    return f"sqlite:///{course / 'gradebook.db'}?timeout={busy_timeout}"


def submissions(course: Path, assignment: str) -> dict[str, Path]:
    folder = course / "submitted"
    return {p.parent.name: p for p in sorted(folder.glob(f"*/{assignment}")) if p.is_dir()}


def fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def autograded_folder(course: Path, assignment: str, student: str) -> Path:
    return course / "autograded" / student / assignment


def up_to_date(course: Path, assignment: str, student: str, submitted: Path) -> bool:
    """Graded before from the same files, and its grades are in the gradebook."""
    mark = autograded_folder(course, assignment, student) / FINGERPRINT
    return mark.exists() and mark.read_text() == fingerprint(submitted)


def prepare_gradebook(course: Path, assignment: str, students: list[str]) -> None:
    """Creates the gradebook, checks the assignment is there, adds missing students: all writes in one process."""
    with Gradebook(db_url(course)) as gb:
        try:
            gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"assignment '{assignment}' is not in {course / 'gradebook.db'}: "
                             f"run `nbgrader generate_assignment {assignment}` first") from None
        for student in students:
            try:
                gb.find_student(student)
            except MissingEntry:
                gb.add_student(student)


# ------------------------------------------------------------------ workers

_API = None
_COURSE = Path()


def _init_worker(course: str, slots, unsafe: bool) -> None:
    """Runs once in each worker process: single-threaded maths, warm sandboxed kernels, the course's config."""
    global _API, _COURSE
    _COURSE = Path(course)
    with slots.get_lock():  # each worker's kernels run as their own uid: limits are not shared
        os.environ[sandbox.SLOT_VARIABLE] = str(slots.value)
        slots.value += 1
    os.environ.update(sandbox.SINGLE_THREAD)
    os.chdir(course)
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = load_config(Path(course))
    config.CourseDirectory.db_url = db_url(Path(course))
    config.Execute.kernel_name = PROVISIONER_NAME  # the warm kernel spec
    if unsafe:
        config.SandboxProvisioner.unsafe = True
    _API = NbGraderAPI(CourseDirectory(config=config), config=config)


def _grade_one(assignment: str, student: str, files_fingerprint: str) -> Outcome:
    start = time.perf_counter()
    try:
        result = _API.autograde(assignment, student, force=True, create=False)
    except Exception as error:  # noqa: BLE001 - a submission never stops the class
        return Outcome(student, False, time.perf_counter() - start, error=f"{type(error).__name__}: {error}")
    outcome = Outcome(student, bool(result["success"]), 0.0, error=result.get("error") or "")
    if outcome.success:
        feedback = _API.generate_feedback(assignment, student, force=True)
        if not feedback["success"]:
            outcome.error = "feedback: " + (feedback.get("error") or feedback.get("log") or "")
        (autograded_folder(_COURSE, assignment, student) / FINGERPRINT).write_text(files_fingerprint)
    outcome.seconds = time.perf_counter() - start
    return outcome


# ------------------------------------------------------------------ driver


def _result(future, student: str) -> Outcome:
    """A worker that died (killed, out of memory) is one failed submission, not a failed class."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001
        return Outcome(student, False, 0.0, error=f"worker lost: {type(error).__name__}: {error}")


def grade(course: Path, assignment: str, *, jobs: int | None = None, students: list[str] | None = None,
          force: bool = False, progress: bool = True, unsafe: bool = False) -> ClassRun:
    """Grades the submissions of `assignment` that are new or changed (all with `force`).

    Student code runs in sandboxed kernels; where no sandbox can start this refuses
    (`SystemExit`) unless `unsafe`.
    """
    from tqdm import tqdm

    course = course.resolve()
    found = submissions(course, assignment)
    if students:
        unknown = sorted(set(students) - set(found))
        if unknown:
            raise SystemExit(f"no submission of {assignment} for: {', '.join(unknown)}")
        found = {s: found[s] for s in students}
    run = ClassRun(assignment)
    todo = {s: p for s, p in found.items() if force or not up_to_date(course, assignment, s, p)}
    run.skipped = sorted(set(found) - set(todo))
    if not todo:
        return run
    sandbox.install_kernelspecs()
    if not unsafe and sandbox.unavailable_reason():
        raise SystemExit(f"refus de corriger sans bac à sable : {sandbox.unavailable_reason()}.\n"
                         f"Pour y remédier : {sandbox.HOW_TO_FIX}.")
    prepare_gradebook(course, assignment, sorted(found))
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    context = get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                             initargs=(str(course), context.Value("i", 0), unsafe)) as pool:
        # fingerprints are taken before grading: a copy handed in again meanwhile is graded next time
        futures = {pool.submit(_grade_one, assignment, s, fingerprint(p)): s for s, p in todo.items()}
        bar = tqdm(total=len(futures), unit="copie", desc=f"{assignment} ({jobs} processus)", disable=not progress)
        for future in as_completed(futures):
            run.graded.append(_result(future, futures[future]))
            bar.set_postfix(échecs=len(run.failed))
            bar.update()
        bar.close()
    run.graded.sort(key=lambda o: o.student)
    return run
