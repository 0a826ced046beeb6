"""The TP 9 notebook runs top to bottom in a real kernel and the network learns."""

import json
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from autograder.release import environment
from autograder.submissions import fill, solutions
from conftest import RELEASE_NB, SOURCE_NB

pytestmark = [pytest.mark.tp09, pytest.mark.slow]

REPORT = 'import json\nprint(json.dumps({"train": trainAccuracy, "test": testAccuracy}))'


def run(nb, cwd):
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def errors(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def test_source_notebook_runs_and_reaches_97_percent(tmp_path):
    nb = nbformat.read(SOURCE_NB, as_version=4)
    nb.cells.append(new_code_cell(REPORT))
    run(nb, tmp_path)
    assert not errors(nb)
    accuracy = json.loads(nb.cells[-1].outputs[0].text)
    assert accuracy["test"] >= 0.97 and 0 <= accuracy["train"] <= 1
    grades = [(c.metadata.nbgrader.points, c.outputs[-1]) for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert all(float(out.data["text/plain"]) == points for points, out in grades)


@pytest.fixture()
def without_grader(tmp_path, monkeypatch):
    """A kernel in which `import autograder` fails, as on a student's machine."""
    blocker = tmp_path / "blocker" / "autograder"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('the grader is not for students')\n")
    monkeypatch.setenv("PYTHONPATH", str(blocker.parent))
    return tmp_path


def test_completed_release_runs_without_the_grader_package(without_grader):
    release = nbformat.read(RELEASE_NB, as_version=4)
    nb = fill(release, solutions(nbformat.read(SOURCE_NB, as_version=4)))
    nb.cells.append(new_code_cell("try:\n    import autograder\nexcept ImportError:\n    print('absent')"))
    nb.cells.append(new_code_cell(REPORT))
    run(nb, without_grader)
    assert not errors(nb)
    assert nb.cells[-2].outputs[0].text.strip() == "absent"
    assert json.loads(nb.cells[-1].outputs[0].text)["test"] >= 0.97


def validate(path):
    done = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], capture_output=True, text=True,
                          env=environment(), cwd=path.parent)
    return done.stdout + done.stderr


def test_validate_passes_a_completed_notebook_and_flags_an_untouched_one(without_grader):
    release = nbformat.read(RELEASE_NB, as_version=4)
    done, untouched = without_grader / "done.ipynb", without_grader / "untouched.ipynb"
    nbformat.write(fill(release, solutions(nbformat.read(SOURCE_NB, as_version=4))), done)
    nbformat.write(release, untouched)
    assert "Success! Your notebook passes all the tests." in validate(done)
    report = validate(untouched)
    assert "VALIDATION FAILED" in report and "NotImplementedError" in report


def test_validate_flags_a_wrong_function(without_grader):
    release = nbformat.read(RELEASE_NB, as_version=4)
    answers = {**solutions(nbformat.read(SOURCE_NB, as_version=4)), "dloss": "def dloss(v, t):\n    return v - t"}
    path = without_grader / "wrong.ipynb"
    nbformat.write(fill(release, answers), path)
    report = validate(path)
    assert "VALIDATION FAILED" in report and "dloss : vérification ratée" in report
