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

Before any copy is touched, the workers start a kernel each and check that it imports what
the hidden checks need (`preflight.kernel_problem`): a grader that cannot run them refuses
instead of giving everyone 0.

SIGINT or SIGTERM to the parent alone (a service manager, `kill PID`) or Ctrl-C to the
terminal's process group stop everything within seconds: the parent terminates the
workers (their sandboxed zygotes and kernels die with them), and a copy they had not
finished is left as if this run had never started it, so the next run grades it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import active_children, get_context
from pathlib import Path
from typing import Callable

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from autograder import bubblewrap, kernelspecs, preflight, warm
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
    autograde_seconds: float = 0.0  # nbgrader's Autograde: the notebook run, judged, recorded
    feedback_seconds: float = 0.0   # the feedback page


@dataclass
class ClassRun:
    assignment: str
    graded: list[Outcome] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    ready_seconds: float = 0.0  # until every worker was ready to grade (processes, zygotes, kernel check)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.graded if not o.success]


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM while grading, raised once workers and kernels are gone: the copies of this run
    graded before the stop (`finished`), and those left ungraded for the next run (`interrupted`)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.finished: list[str] = []
        self.interrupted: list[str] = []


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


def prepare_gradebook(course: Path, assignment: str, students: list[str]) -> set[str]:
    """Creates the gradebook, checks the assignment is there, adds missing students: all writes in one process.

    Returns the students whose submission is already in the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(db_url(course)) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            raise SystemExit(f"assignment '{assignment}' is not in {course / 'gradebook.db'}: "
                             f"run `nbgrader generate_assignment {assignment}` first") from None
        for student in students:
            try:
                gb.find_student(student)
            except MissingEntry:
                gb.add_student(student)
        return {submission.student_id for submission in found.submissions}


def forget_unfinished(course: Path, assignment: str, todo: dict[str, Path], graded_before: set[str]) -> list[str]:
    """After a stop, once the workers are gone: the copies of `todo` whose grading did not finish (no
    fingerprint yet). One new to the gradebook is taken out of it, with what nbgrader wrote of it; one
    graded before keeps its grades. The next run grades them all."""
    from nbgrader.api import Gradebook, MissingEntry

    unfinished = sorted(s for s, folder in todo.items() if not up_to_date(course, assignment, s, folder))
    with Gradebook(db_url(course)) as gb:
        for student in unfinished:
            if student not in graded_before:
                with contextlib.suppress(MissingEntry):
                    gb.remove_submission(assignment, student)
                for folder in ("autograded", "feedback"):
                    shutil.rmtree(course / folder / student / assignment, ignore_errors=True)
                    with contextlib.suppress(OSError):  # the student's folder, when nothing else is in it
                        (course / folder / student).rmdir()
    return unfinished


# ------------------------------------------------------------------ workers

_API = None
_COURSE = Path()


def _init_worker(course: str, slots, unsafe: bool, scratch: str, recompute_figures: bool = False) -> None:
    """Runs once in each worker process: single-threaded maths, warm sandboxed kernels, the course's config."""
    global _API, _COURSE
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent stops us
    tempfile.tempdir = scratch  # zygote, kernel folders: the parent removes them, even after a stop
    _COURSE = Path(course)
    with slots.get_lock():  # each worker's kernels run as their own uid: limits are not shared
        os.environ[bubblewrap.SLOT_VARIABLE] = str(slots.value)
        slots.value += 1
    os.environ.update(bubblewrap.SINGLE_THREAD)
    os.chdir(course)
    warm.Zygote.current(sandboxed=not unsafe, wait=False)  # its imports run while this process does its own
    from nbgrader.apps.api import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config = load_config(Path(course))
    config.CourseDirectory.db_url = db_url(Path(course))
    config.Execute.kernel_name = PROVISIONER_NAME  # the warm kernel spec
    config.AsyncKernelManager.client_class = "autograder.warm.ReadyClient"  # 0.2 s less per kernel start
    config.Execute.shutdown_kernel = "immediate"  # a used kernel is killed: its zygote clears its sandbox anyway
    if unsafe:
        config.SandboxProvisioner.unsafe = True
    config.Autograde.pre_convert_hook = None  # the parent had the kernels checked (`_kernel_problem`)
    config.ResilientExecute.figures_from_submission = not recompute_figures  # see autograder.figures
    _API = NbGraderAPI(CourseDirectory(config=config), config=config)


def _kernel_problem() -> str | None:
    """In a worker, before grading: does a kernel start and import what the hidden checks need? (It warms the zygote.)"""
    return preflight.kernel_problem(PROVISIONER_NAME, _API.config)


def _grade_one(assignment: str, student: str, files_fingerprint: str) -> Outcome:
    start = time.perf_counter()
    try:
        result = _API.autograde(assignment, student, force=True, create=False)
    except Exception as error:  # noqa: BLE001 - a submission never stops the class
        return Outcome(student, False, time.perf_counter() - start, error=f"{type(error).__name__}: {error}")
    outcome = Outcome(student, bool(result["success"]), 0.0, error=result.get("error") or "")
    outcome.autograde_seconds = time.perf_counter() - start
    if outcome.success:
        feedback = _API.generate_feedback(assignment, student, force=True)
        outcome.feedback_seconds = time.perf_counter() - start - outcome.autograde_seconds
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


@contextlib.contextmanager
def _stop_on_signals():
    """While grading, SIGINT and SIGTERM raise `Stopped` in the parent (once: a second one waits for the stop)."""
    def stop(signum, frame):
        for name in (signal.SIGINT, signal.SIGTERM):
            signal.signal(name, signal.SIG_IGN)
        raise Stopped(signum)

    previous = {name: signal.signal(name, stop) for name in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for name, handler in previous.items():
            signal.signal(name, handler)


def _stop_workers(processes: list, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; a worker's sandboxes die with it (bwrap --die-with-parent)."""
    for process in processes:
        process.terminate()
    deadline = time.monotonic() + grace
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.kill()
            process.join()


def _check_kernels(pool: ProcessPoolExecutor, jobs: int) -> None:
    """One check per worker, all at once: each starts its zygote, as the first copy would have."""
    checks = [pool.submit(_kernel_problem) for _ in range(jobs)]
    import nbgrader.api  # noqa: F401 - what prepare_gradebook needs, loaded while the workers start
    try:
        problems = {f.result() for f in checks} - {None}
    except Exception as error:  # noqa: BLE001 - a worker that cannot start
        problems = {f"un processus de correction n'a pas démarré ({type(error).__name__}: {error})."}
    if problems:
        raise SystemExit(f"refus de corriger : {min(problems)}\nAucune copie n'a été notée.")


def grade(course: Path, assignment: str, *, jobs: int | None = None, students: list[str] | None = None,
          force: bool = False, progress: bool = True, unsafe: bool = False, recompute_figures: bool = False,
          while_last_copies: Callable[[], object] | None = None) -> ClassRun:
    """Grades the submissions of `assignment` that are new or changed (all with `force`).

    Figure cells as released keep the outputs of the copy as handed in (`autograder.figures`), unless
    `recompute_figures`. `while_last_copies` is called once a worker has nothing left to start: work
    for after grading (imports, say) that a core would otherwise wait to begin.

    Student code runs in sandboxed kernels; where no sandbox can start, or a kernel cannot run the
    hidden checks, this refuses (`SystemExit`) before any copy is touched (no sandbox: unless `unsafe`).
    SIGINT or SIGTERM raise `Stopped` once the workers are gone and the unfinished copies forgotten.
    """
    from tqdm import tqdm

    course = course.resolve()
    found = submissions(course, assignment)
    if students:
        unknown = sorted(set(students) - set(found))
        if unknown:
            raise SystemExit(f"no submission of {assignment} for: {', '.join(unknown)}")
        found = {s: found[s] for s in students}
    run, start = ClassRun(assignment), time.perf_counter()
    todo = {s: p for s, p in found.items() if force or not up_to_date(course, assignment, s, p)}
    run.skipped = sorted(set(found) - set(todo))
    if not todo:
        return run
    kernelspecs.install_kernelspecs()
    # bubblewrap itself; what kernels import in it, the workers' kernel check says (`_check_kernels`)
    reason = None if unsafe else preflight.unavailable_reason(probe="")
    if reason:
        raise SystemExit(f"refus de corriger sans bac à sable : {reason}.\nPour y remédier : {preflight.how_to_fix(reason)}.")
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(todo)))
    context = get_context("spawn")
    before = set(active_children())
    graded_before = None  # set once the gradebook is ready: until then no copy is touched
    # short: kernels' unix sockets are made in it (`bubblewrap.short_temp_root`)
    with _stop_on_signals(), tempfile.TemporaryDirectory(prefix="autograder-", dir=bubblewrap.short_temp_root(),
                                                         ignore_cleanup_errors=True) as scratch, \
            ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker,
                                initargs=(str(course), context.Value("i", 0), unsafe, scratch,
                                          recompute_figures)) as pool:
        bar = None
        try:
            _check_kernels(pool, jobs)
            run.ready_seconds = time.perf_counter() - start
            graded_before = prepare_gradebook(course, assignment, sorted(found))
            bar = tqdm(total=len(todo), unit="copie", desc=f"{assignment} ({jobs} processus)", disable=not progress)
            # fingerprints are taken before grading: a copy handed in again meanwhile is graded next time
            futures = {pool.submit(_grade_one, assignment, s, fingerprint(p)): s for s, p in todo.items()}
            for future in as_completed(futures):
                run.graded.append(_result(future, futures[future]))
                bar.set_postfix(échecs=len(run.failed))
                bar.update()
                if while_last_copies is not None and len(run.graded) == max(1, len(todo) - jobs + 1):
                    while_last_copies()
        except Stopped as stop:
            pool.shutdown(wait=False, cancel_futures=True)
            _stop_workers([p for p in active_children() if p not in before])
            if graded_before is not None:
                stop.interrupted = forget_unfinished(course, assignment, todo, graded_before)
                stop.finished = sorted(set(todo) - set(stop.interrupted))
            raise
        finally:
            if bar is not None:
                bar.close()
    run.graded.sort(key=lambda o: o.student)
    run.seconds = time.perf_counter() - start
    return run
