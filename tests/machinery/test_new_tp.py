"""A TP added by writing only its own files: a tiny synthetic TP in a temporary course is released,
graded (sandboxed, by `autograder grade`) and reported, with nothing of the shared code touched."""

import csv
import os
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from autograder import gradebook
from autograder.demo import hand_in
from autograder.scaffold import meta
from autograder.grading import db_url
from autograder.release import environment
from conftest import REPO

pytestmark = pytest.mark.slow

REFERENCE = '''
import math

import torch


def scaled(x: torch.Tensor) -> torch.Tensor:
    r"""$\\pi x$."""
    return math.pi * x


def total(x: torch.Tensor) -> dict[str, torch.Tensor]:
    r"""La somme et le maximum de $\\pi x$."""
    y = scaled(x)
    return {"somme": y.sum(), "max": y.max()}
'''

CHECKS = '''
import math

import torch

from autograder.assignment import Assignment
from autograder.specs import Case, FunctionSpec, Mistake
from autograder.tp99 import reference


def cases(g):
    return [Case(label="float64", inputs={"x": torch.randn(5, generator=g, dtype=torch.float64)})]


SCALED = FunctionSpec(name="scaled", points=1, arguments=("x",), outputs=("y",), cases=cases,
                      oracle=lambda a: (math.pi * a["x"],))
TOTAL = FunctionSpec(name="total", points=2, arguments=("x",), outputs=("t",), cases=cases,
                     oracle=lambda a: ({"somme": math.pi * a["x"].sum(), "max": math.pi * a["x"].max()},),
                     mistakes=(Mistake(output='t["max"]', message="le minimum n'est pas le maximum.",
                                       predict=lambda a, e: math.pi * a["x"].min()),))
ASSIGNMENT = Assignment(reference=reference, specs=[SCALED, TOTAL])
grade = ASSIGNMENT.grade
'''


def hidden(name):
    return f'### BEGIN HIDDEN TESTS\nfrom autograder.tp99.checks import grade\ngrade("{name}", globals())\n' \
           '### END HIDDEN TESTS'


def notebook():
    cells = [new_markdown_cell("# TP 99 : un TP synthétique"),
             new_code_cell("import math\nimport torch", metadata=meta("imports")),
             new_code_cell("", metadata=meta("outils")),  # written by make release
             new_code_cell("def scaled(x):\n    pass", metadata=meta("scaled", solution=True)),
             new_code_cell(hidden("scaled"), metadata=meta("test_scaled", grade=True, points=1)),
             new_code_cell("def total(x):\n    pass", metadata=meta("total", solution=True)),
             new_code_cell(hidden("total"), metadata=meta("test_total", grade=True, points=2))]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    return nb


def run(args, course):
    env = {**environment(), "PYTHONPATH": str(course)}
    done = subprocess.run([sys.executable, *args], cwd=course, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_new_tp_needs_only_its_own_files(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "tp99").mkdir(parents=True)
    nbformat.write(notebook(), course / "source" / "tp99" / "tp99.ipynb")
    shutil.copy(REPO / "source" / "outils.py", course / "source")
    shutil.copy(REPO / "nbgrader_config.py", course)
    package = course / "autograder" / "tp99"  # the course's own TP, beside the installed package
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "reference.py").write_text(textwrap.dedent(REFERENCE).lstrip())
    (package / "checks.py").write_text(textwrap.dedent(CHECKS).lstrip())

    run(["-m", "autograder.release", "tp99"], course)
    source = nbformat.read(course / "source" / "tp99" / "tp99.ipynb", as_version=4)
    assert "### BEGIN SOLUTION" in source.cells[3].source and "def verifier" in source.cells[2].source and '"tp99"' in source.cells[2].source
    assert "autograder.tp" not in (course / "release" / "tp99" / "tp99.ipynb").read_text()

    run(["-m", "nbgrader", "generate_assignment", "tp99", "--force", "--log-level=ERROR"], course)
    wrong = "def total(x):\n    y = scaled(x)\n    return {'somme': y.sum(), 'max': y.min()}"
    hand_in(course, "tp99", {"juste": {}, "faux": {"total": wrong}, "vide": None})
    os.environ.pop("NBGRADER_EXECUTION", None)
    out = run(["-m", "autograder.cli", "grade", "tp99", "--jobs", "2"], course)
    assert "3 copie(s) notée(s)" in out

    scores = gradebook.cell_scores(db_url(course), "tp99")
    assert scores == {"juste": {"test_scaled": 1, "test_total": 2}, "faux": {"test_scaled": 1, "test_total": 1},
                      "vide": {"test_scaled": 0, "test_total": 0}}
    feedback = next((course / "feedback" / "faux" / "tp99").glob("*.html")).read_text()
    assert "le minimum n" in feedback
    report = (course / "rapport-tp99.html").read_text(encoding="utf-8")
    assert "total" in report and "le minimum n" in report
    with open(course / "notes-cours.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert any(column.startswith("tp99") for column in rows[0])
