"""Grade exports: nbgrader's `grades.csv` and a CSV that Moodle's grade import reads.

Moodle (Administration du carnet de notes → Importer → Fichier CSV) needs one column
that identifies the user and one column per grade item; at import, map
« identifiant » to the Moodle user field that holds the nbgrader student id
(username, or ID number), and the score column to the Moodle grade item.
Scores use a dot as decimal separator; the file is UTF-8 with a comma separator.
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.plugins import CsvExportPlugin


def export_nbgrader_csv(db_url: str, path: Path) -> Path:
    """nbgrader's own CSV export (one row per student and assignment)."""
    with Gradebook(db_url) as gb:
        CsvExportPlugin(to=str(path)).export(gb)
    return path


def moodle_rows(db_url: str, assignment: str) -> list[dict[str, str]]:
    rows = []
    with Gradebook(db_url) as gb:
        max_score = gb.find_assignment(assignment).max_score
        column = f"{assignment} (/{max_score:g})"
        for student in sorted(gb.students, key=lambda s: s.id):
            try:
                score = f"{gb.find_submission(assignment, student.id).score:g}"
            except MissingEntry:
                score = ""  # no submission: left empty, Moodle keeps the grade as it is
            rows.append({"identifiant": student.id, "adresse de courriel": student.email or "",
                         "prénom": student.first_name or "", "nom": student.last_name or "", column: score})
    return rows


def export_moodle_csv(db_url: str, assignment: str, path: Path) -> Path:
    rows = moodle_rows(db_url, assignment)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["identifiant", assignment])
        writer.writeheader()
        writer.writerows(rows)
    return path
