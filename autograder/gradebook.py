"""The one reader of nbgrader's gradebook for the instructor's outputs (demo, exports, reports).

Everything here opens the gradebook, copies what it needs into plain Python values
and closes it, so callers never hold SQLAlchemy objects (whose attributes expire
once the session is gone).

Cells come in two kinds, as in the course's notebooks: "auto" are the code grade
cells (the hidden tests, scored by the autograder), "manual" the markdown grade
cells and task cells (written answers, scored by hand in Formgrader); "all" is both.
Cells are listed in the order nbgrader recorded them, i.e. the notebook's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from nbgrader.api import Gradebook

Kind = Literal["auto", "manual", "all"]


@dataclass(frozen=True)
class Student:
    id: str
    first_name: str = ""
    last_name: str = ""
    email: str = ""


def _wanted(cell_type: str, kind: Kind) -> bool:
    return kind == "all" or (cell_type == "code") == (kind == "auto")


def _max_scores(gb: Gradebook, assignment: str, kind: Kind) -> dict[str, float]:
    return {cell.name: cell.max_score
            for nb in gb.find_assignment(assignment).notebooks
            for cell in [*nb.grade_cells, *nb.task_cells] if _wanted(cell.cell_type, kind)}


def max_scores(db_url: str, assignment: str, kind: Kind = "auto") -> dict[str, float]:
    """{cell name: its points}, in notebook order."""
    with Gradebook(db_url) as gb:
        return _max_scores(gb, assignment, kind)


def cell_scores(db_url: str, assignment: str, kind: Kind = "auto") -> dict[str, dict[str, float]]:
    """{student: {cell name: score}} for every submission of the assignment, cells in notebook order.

    A manual cell not graded yet scores 0, as in nbgrader's own totals.
    """
    with Gradebook(db_url) as gb:
        order = list(_max_scores(gb, assignment, kind))
        table = {}
        for submission in gb.find_assignment(assignment).submissions:
            grades = {g.name: g.score for nb in submission.notebooks for g in nb.grades}
            table[submission.student_id] = {name: grades[name] for name in order if name in grades}
    return dict(sorted(table.items()))


def awaiting_manual_grade(db_url: str, assignment: str) -> set[str]:
    """The students whose submission still has a cell to grade by hand in Formgrader."""
    with Gradebook(db_url) as gb:
        return {submission.student_id for submission in gb.find_assignment(assignment).submissions
                if any(g.needs_manual_grade for nb in submission.notebooks for g in nb.grades)}


def submission_scores(db_url: str, assignment: str) -> dict[str, float]:
    """{student: total score of their submission} (automatic and manual points)."""
    with Gradebook(db_url) as gb:
        return dict(sorted((s.student_id, s.score) for s in gb.find_assignment(assignment).submissions))


def assignment_maxima(db_url: str) -> dict[str, float]:
    """{assignment: its points}, for every assignment of the gradebook, in nbgrader's order (due date, name)."""
    with Gradebook(db_url) as gb:
        return {a.name: a.max_score for a in gb.assignments}


def students(db_url: str) -> list[Student]:
    """Every student of the gradebook, sorted by id; missing names and e-mails are empty strings."""
    with Gradebook(db_url) as gb:
        return sorted((Student(s.id, s.first_name or "", s.last_name or "", s.email or "") for s in gb.students),
                      key=lambda s: s.id)


def totals(db_url: str) -> dict[str, dict[str, float | None]]:
    """{student: {assignment: score, or None when they handed nothing in}} for every student and assignment."""
    scores = {name: submission_scores(db_url, name) for name in assignment_maxima(db_url)}
    return {s.id: {name: by_student.get(s.id) for name, by_student in scores.items()} for s in students(db_url)}


@dataclass(frozen=True)
class CourseSheet:
    """The course's grades, one row per student and one column per assignment, with the rule for the total.

    The total adds the assignments that count: those at least one student handed in
    (a TP released but not yet collected would otherwise lower everyone's total). In
    an assignment that counts, a missing submission counts 0 in the total.
    """

    maxima: dict[str, float]
    scores: dict[str, dict[str, float | None]]

    @property
    def counted(self) -> list[str]:
        return [a for a in self.maxima if any(row[a] is not None for row in self.scores.values())]

    @property
    def total_max(self) -> float:
        return sum(self.maxima[a] for a in self.counted)

    def total(self, student: str) -> float:
        return sum(self.scores[student][a] or 0.0 for a in self.counted)


def course_sheet(db_url: str) -> CourseSheet:
    return CourseSheet(assignment_maxima(db_url), totals(db_url))
