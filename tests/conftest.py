"""What every test file shares: the TPs of the course, discovered from its layout, and their notebooks;
and TP 0, the synthetic TP of the system tests (`synthetic_tp`), which is not one of them.

Each discovered TP gets a pytest marker of its name (`pytest -m tp10`); tests that run
over every TP are parametrised with `tp_params()`, which carries those markers.
"""

import contextlib
import importlib
import io
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from autograder import course, gradebook
from autograder.course import tp_module
from autograder.grading import db_url
from autograder.release import environment, given_of
from autograder.figures import is_figure
from autograder.submissions import fill, solutions

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
TPS = [tp for tp in course.assignments(REPO) if course.has_grader(tp)]
# this file's helpers, and each TP's own folder (its catalogue), importable from every folder of tests
sys.path[:0] = [str(TESTS), *(str(TESTS / tp) for tp in TPS if (TESTS / tp).is_dir())]


def pytest_configure(config):
    for tp in TPS:
        config.addinivalue_line("markers", f"{tp}: tests of {tp} (discovered in source/{tp})")


def pytest_collection_modifyitems(items):
    """What is in tests/<tp>/ is about that TP: it carries the TP's marker (`pytest -m tp10`)."""
    for item in items:
        folder = Path(str(item.fspath)).parent
        if folder.parent == TESTS and folder.name in TPS:
            item.add_marker(getattr(pytest.mark, folder.name))


def catalogue(tp: str):
    """`tests/<tp>/<tp>_catalogue.py`: the TP's wrong and correct student code (None if it has none yet)."""
    if not (TESTS / tp / f"{tp}_catalogue.py").exists():
        return None
    return importlib.import_module(f"{tp}_catalogue")


def tp_params(tps=None):
    """Every TP (or those given) as a parameter that carries the TP's marker."""
    return [pytest.param(tp, marks=getattr(pytest.mark, tp), id=tp) for tp in (tps or TPS)]


def source_path(tp: str) -> Path:
    return next((REPO / "source" / tp).glob("*.ipynb"))


def release_path(tp: str) -> Path:
    return REPO / "release" / tp / source_path(tp).name


def assignment(tp: str):
    return importlib.import_module(tp_module(tp, "checks")).ASSIGNMENT


def solution_sources(tp: str) -> dict[str, str]:
    return solutions(nbformat.read(source_path(tp), as_version=4))


def notebook_preamble(tp: str) -> str:
    """The notebook's `imports` cell and the cells of code it gives (`autograder/<tp>/given.py`):
    what the solution cells expect to find defined."""
    nb = nbformat.read(source_path(tp), as_version=4)
    module = given_of(tp)
    given = set(vars(module)) if module else set()
    return "\n".join(c.source for c in nb.cells
                     if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") in {"imports"} | given)


def student_namespace(tp: str, *sources: str) -> dict:
    """A notebook-like namespace: the reference solution cells, then each source executed over it."""
    namespace = {"__name__": "__main__"}
    exec(notebook_preamble(tp), namespace)
    cells = solution_sources(tp)
    for name in assignment(tp).exercises:
        exec(cells[name], namespace)
    for source in sources:
        exec(source, namespace)
    return namespace


def training_verdict(tp: str, answers: dict[str, str]):
    """The training's verdict, for the release notebook filled with the reference but `answers`, run in this
    process up to its training cell (checks, figures and the self-check left out), as the grader reads it."""
    nb = fill(nbformat.read(release_path(tp), as_version=4), {**solution_sources(tp), **answers})
    namespace = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in nb.cells:
            nbgrader = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or nbgrader.get("grade") or nbgrader.get("grade_id") == "outils" \
                    or is_figure(cell):
                continue
            try:
                exec(cell.source, namespace)  # noqa: S102 - the course's notebook
            except Exception:  # noqa: BLE001 - a training that stops leaves no variables: graded so
                break
            if nbgrader.get("grade_id") == "training":
                break
    return assignment(tp).check("training", namespace)


def cell_scores(course_dir: Path, assignment_name: str) -> dict[str, dict[str, float]]:
    """Per student, the score of each autograded (code) cell, from the course's gradebook."""
    return gradebook.cell_scores(db_url(course_dir), assignment_name)


def points_of_test_cells(tp: str) -> dict[str, float]:
    """Points of each automatically graded cell, read from the source notebook."""
    nb = nbformat.read(source_path(tp), as_version=4)
    return {c.metadata.nbgrader.grade_id: c.metadata.nbgrader.points for c in nb.cells
            if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")}


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """TP 0 built and released once, in a course root of its own (importable only while `synthetic` is used)."""
    import synthetic_tp
    return synthetic_tp.build(tmp_path_factory.mktemp("synthetic-tp"))


@pytest.fixture(scope="module")
def synthetic(synthetic_root):
    """TP 0, importable (`autograder.tp00`) by this process, its grading workers and the processes it runs,
    for the tests of one module."""
    with synthetic_root.importable() as tp:
        yield tp


@pytest.fixture(scope="session")
def kit(tmp_path_factory):
    """The student kit (`autograder.student_kit`): the checks of every TP, no reference."""
    from autograder import student_kit
    return student_kit.build(tmp_path_factory.mktemp("kit") / "autograder-checks")


@pytest.fixture()
def student_env(kit, tmp_path, monkeypatch):
    """Kernels and nbgrader started from here import `autograder` from the student kit only."""
    monkeypatch.setenv("PYTHONPATH", str(kit))
    return tmp_path


@pytest.fixture()
def without_grader(tmp_path, monkeypatch):
    """A kernel in which `import autograder` fails, as on a student's machine."""
    blocker = tmp_path / "blocker" / "autograder"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('the grader is not for students')\n")
    monkeypatch.setenv("PYTHONPATH", str(blocker.parent))
    return tmp_path


def run_notebook(nb, cwd, allow_errors=False):
    """`nb` executed in place by a python3 kernel working in `cwd` (stopping at an error unless allowed)."""
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=allow_errors,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def validate(*paths):
    """What `nbgrader validate` prints for these notebooks (validated in this order, from the first one's folder)."""
    done = subprocess.run([sys.executable, "-m", "nbgrader", "validate", *map(str, paths)], capture_output=True,
                          text=True, env=environment(), cwd=paths[0].parent)
    return done.stdout + done.stderr


BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def run_browser(arguments: list[str], profile: Path) -> subprocess.CompletedProcess:
    """Headless Chromium (`make test` installs it) with its profile under `profile`."""
    browser = next((shutil.which(b) for b in BROWSERS if shutil.which(b)), None)
    if browser is None:
        pytest.fail(f"no Chromium found (looked for {', '.join(BROWSERS)}): install it (apt-get install chromium) "
                    "to render the feedback pages and reports")
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile / 'chromium-profile'}", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done
