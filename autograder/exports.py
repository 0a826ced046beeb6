"""Grade exports: nbgrader's `grades.csv`, CSVs that Moodle's grade import reads, and the course's grade sheet.

Moodle (Administration du carnet de notes → Importer → Fichier CSV) needs one column
that identifies the user and one column per grade item; at import, map
« identifiant » to the Moodle user field that holds the nbgrader student id
(username, or ID number), and each score column to its Moodle grade item.
Scores use a dot as decimal separator; the files are UTF-8 with a comma separator.
An empty score means "no submission": Moodle leaves that grade as it is.
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook
from nbgrader.plugins import CsvExportPlugin

from autograder import gradebook


def export_nbgrader_csv(db_url: str, path: Path) -> Path:
    """nbgrader's own CSV export (one row per student and assignment)."""
    with Gradebook(db_url) as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return path


def _column(assignment: str, points: float) -> str:
    return f"{assignment} (/{points:g})"


def _score(score: float | None) -> str:
    return "" if score is None else f"{score:g}"


def _identity(student: gradebook.Student) -> dict[str, str]:
    """The columns that let Moodle match a row to a user."""
    return {"identifiant": student.id, "adresse de courriel": student.email,
            "prénom": student.first_name, "nom": student.last_name}


def _write(rows: list[dict[str, str]], header: list[str], path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def moodle_rows(db_url: str, assignment: str) -> list[dict[str, str]]:
    """One row per student of the gradebook: identity and the assignment's total (empty: no submission)."""
    column = _column(assignment, gradebook.assignment_maxima(db_url)[assignment])
    scores = gradebook.submission_scores(db_url, assignment)
    return [{**_identity(s), column: _score(scores.get(s.id))} for s in gradebook.students(db_url)]


def export_moodle_csv(db_url: str, assignment: str, path: Path) -> Path:
    rows = moodle_rows(db_url, assignment)
    return _write(rows, list(rows[0]) if rows else ["identifiant", assignment], path)


def course_rows(db_url: str) -> list[dict[str, str]]:
    """The course's grade sheet: per student, one column per assignment of the gradebook and the total.

    A missing submission is an empty cell; the total (`gradebook.CourseSheet`) counts it
    as 0 in every assignment at least one student handed in, and leaves out assignments
    nobody handed in yet (so a TP released but not collected lowers nobody's total).
    """
    sheet = gradebook.course_sheet(db_url)
    total = f"total (/{sheet.total_max:g})"
    return [{"identifiant": s.id, "prénom": s.first_name, "nom": s.last_name,
             **{_column(a, m): _score(sheet.scores[s.id][a]) for a, m in sheet.maxima.items()},
             total: f"{sheet.total(s.id):g}"}
            for s in gradebook.students(db_url)]


def export_course_csv(db_url: str, path: Path) -> Path:
    """`notes-cours.csv`: `course_rows`, one row per student (see there for the rule of the total)."""
    rows = course_rows(db_url)
    return _write(rows, list(rows[0]) if rows else ["identifiant", "prénom", "nom"], path)


def course_moodle_rows(db_url: str) -> list[dict[str, str]]:
    """Per student, Moodle's identification columns and one column per assignment (empty: no submission).

    No total column: Moodle computes its course total itself and refuses to import into it.
    """
    sheet = gradebook.course_sheet(db_url)
    return [{**_identity(s), **{_column(a, m): _score(sheet.scores[s.id][a]) for a, m in sheet.maxima.items()}}
            for s in gradebook.students(db_url)]


def export_course_moodle_csv(db_url: str, path: Path) -> Path:
    """`moodle-cours.csv`: every assignment's grade item in one import."""
    rows = course_moodle_rows(db_url)
    return _write(rows, list(rows[0]) if rows else list(_identity(gradebook.Student(""))), path)
