"""A whole assignment on a real hub, through nbgrader's server APIs and the formgrader service.

The instructor releases TP 9 through the exchange; each student's server fetches it, the
student fills it (one right, one with the sample class's mistakes of "bastien"), validates
and submits; the instructor collects, grades with `autograder grade` in a terminal of the
formgrader service, releases feedback; the students fetch it. Grades are those of the
same answers in `make demo`.
"""

from __future__ import annotations

import re

import pytest

from autograder import student_kit
from hubclient import ASSIGNMENT, EXPECTED, assignment_status

pytestmark = pytest.mark.slow

def test_the_students_environment_holds_the_checks_and_no_solution(hub):
    site = next(hub.student_env.glob("lib/python3*/site-packages"))
    assert (site / "autograder" / ASSIGNMENT / "checks.py").exists()
    assert student_kit.leaks(hub.student_env) == []


def test_students_see_the_released_assignment_as_submitted(term, users, hub):
    for name in hub.students:
        assert assignment_status(users[name], hub.course)[ASSIGNMENT]["status"] == "submitted"


def test_validate_passes_the_right_copy_and_names_the_mistakes(term):
    right, mistakes = term["handed_in"]["right"]["validation"], term["handed_in"]["mistakes"]["validation"]
    assert right["success"] and "failed" not in right["value"], right
    assert mistakes["success"] and mistakes["value"].get("failed"), mistakes
    failed = " ".join(str(cell) for cell in mistakes["value"]["failed"])
    assert "loss" in failed and "backward_step" in failed, failed
    # the students' self-check: the grader's own French diagnosis, from the student kit
    assert "moyenne au lieu de somme" in failed and "`dl_w` est transposé" in failed, failed


def test_autograder_grade_ran_in_the_formgrader_terminal(term):
    assert "[exit 0]" in term["grading"], term["grading"]
    assert "2/2" in term["grading"], term["grading"]


def test_grades_are_those_of_the_answers(term):
    scores = {label: term["submissions"][name]["score"] for label, name in term["names"].items()}
    assert scores == EXPECTED, term["submissions"]
    assert all(s["autograded"] for s in term["submissions"].values())


def test_students_fetched_their_feedback(term):
    assert term["feedback_released"]["success"], term["feedback_released"]
    for label, page in term["feedback"].items():
        # the French page: automatic points, the written answers still waiting for an instructor
        assert re.search(rf"Note provisoire : <strong>{EXPECTED[label]} / 16</strong>", page), page[:2000]
        assert "en attente de correction" in page
        assert "from autograder.tp" not in page  # hidden tests stay hidden in the feedback
