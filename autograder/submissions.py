"""Build student submissions from a release notebook: the sample class and the tests use it."""

from __future__ import annotations

import copy
from pathlib import Path

import nbformat

from autograder.release import BEGIN, END, grade_id


def solutions(source_nb) -> dict[str, str]:
    """Each solution cell of an nbgrader source notebook as a student would hand it in."""
    return {grade_id(cell): "\n".join(line for line in cell.source.split("\n")
                                      if BEGIN not in line and END not in line)
            for cell in source_nb.cells if cell.get("metadata", {}).get("nbgrader", {}).get("solution")}


def fill(release_nb, answers: dict[str, str]):
    """A copy of the release notebook whose cells named in `answers` hold the given sources."""
    nb = copy.deepcopy(release_nb)
    unknown = set(answers) - {grade_id(cell) for cell in nb.cells}
    if unknown:
        raise KeyError(f"no cell with grade_id {sorted(unknown)} in the release notebook")
    for cell in nb.cells:
        if grade_id(cell) in answers:
            cell.source = answers[grade_id(cell)]
    return nb


def write_submission(course: Path, assignment: str, student: str, notebooks: dict[str, object]) -> Path:
    """Writes `submitted/STUDENT/ASSIGNMENT/*.ipynb` as `nbgrader collect` would."""
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        nbformat.write(nb, folder / name)
    (folder / "timestamp.txt").write_text("2026-11-27 09:00:00.000000 UTC\n")
    return folder
