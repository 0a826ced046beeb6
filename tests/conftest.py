import math
import sys
from pathlib import Path

import nbformat
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SOURCE_NB = REPO / "source" / "tp09" / "tp09_mlp_sans_autograd.ipynb"
RELEASE_NB = REPO / "release" / "tp09" / "tp09_mlp_sans_autograd.ipynb"
sys.path.insert(0, str(Path(__file__).resolve().parent))


def student_namespace(*sources: str) -> dict:
    """A notebook-like namespace: the reference solution, then each source executed over it."""
    from autograder.tp09 import reference
    from autograder.tp09.checks import EXERCISES

    namespace = {"torch": torch, "math": math, "__name__": "__main__"}
    for name in EXERCISES:
        exec(solution_source(name), namespace)
    for source in sources:
        exec(source, namespace)
    assert all(namespace[name].__module__ != reference.__name__ for name in EXERCISES)
    return namespace


def cell_scores(course: Path, assignment: str = "tp09") -> dict[str, dict[str, float]]:
    """Per student, the score of each autograded (code) cell, from the course's gradebook."""
    from nbgrader.api import Gradebook

    from autograder.grading import db_url
    with Gradebook(db_url(course)) as gb:
        return {s.student_id: {g.name: g.score for nb in s.notebooks for g in nb.grades if g.cell_type == "code"}
                for s in gb.find_assignment(assignment).submissions}


def solution_source(name: str) -> str:
    from autograder.submissions import solutions
    return solutions(nbformat.read(SOURCE_NB, as_version=4))[name]


@pytest.fixture(scope="session")
def source_nb():
    return nbformat.read(SOURCE_NB, as_version=4)


@pytest.fixture(scope="session")
def release_nb():
    return nbformat.read(RELEASE_NB, as_version=4)
