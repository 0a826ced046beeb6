"""A whole assignment on a real hub, through nbgrader's server APIs and the formgrader service.

The instructor releases TP 9 through the exchange; each student's server fetches it, the
student fills it (one right, one with the sample class's mistakes of "bastien"), validates
and submits; the instructor collects, grades with `autograder grade` in a terminal of the
formgrader service, releases feedback; the students fetch it. Grades are those of the
same answers in `make demo`.
"""

from __future__ import annotations

import re
import runpy

import nbformat
import pytest

from autograder.submissions import fill, solutions
from hubclient import ASSIGNMENT, REPO

pytestmark = pytest.mark.slow

MISTAKES = runpy.run_path(str(REPO / "samples" / ASSIGNMENT / "students.py"))["STUDENTS"]["bastien"]
EXPECTED = {"right": 16, "mistakes": 11}  # automatic points, as `make demo` gives alice and bastien
SOURCE = next((REPO / "source" / ASSIGNMENT).glob("*.ipynb"))
NOTEBOOK = SOURCE.name


def formgrader_api(room) -> str:
    return f"{room.url}/services/{room.course}/formgrader/api"


def assignment_status(student, course: str) -> dict:
    listing = student.call("GET", f"{student.server}/assignments", params={"course_id": course}).json()
    assert listing["success"], listing
    return {a["assignment_id"]: a for a in listing["value"] if a["course_id"] == course}


def work(student, course: str, answers: dict[str, str]) -> dict:
    """Fetch, fill the solution cells, validate, submit: what the student does in JupyterLab."""
    student.start_server()
    data = {"course_id": course, "assignment_id": ASSIGNMENT}
    if assignment_status(student, course)[ASSIGNMENT]["status"] == "released":
        student.call("POST", f"{student.server}/assignments/fetch", data=data)
    path = f"{course}/{ASSIGNMENT}/{NOTEBOOK}"
    fetched = nbformat.from_dict(student.call("GET", f"{student.server}/api/contents/{path}").json()["content"])
    filled = fill(fetched, {**solutions(nbformat.read(SOURCE, as_version=4)), **answers})
    student.call("PUT", f"{student.server}/api/contents/{path}",
                 json={"type": "notebook", "format": "json", "content": filled})
    validation = student.call("POST", f"{student.server}/assignments/validate", data={"path": path}).json()
    submitted = student.call("POST", f"{student.server}/assignments/submit", data=data).json()
    return {"validation": validation, "submitted": submitted}


@pytest.fixture(scope="module")
def term(hub, users, released):
    """The assignment from release to feedback; what each step answered."""
    room = hub
    instructor = users[room.instructors[0]]
    right, mistakes = (users[name] for name in room.students)
    handed_in = {"right": work(right, room.course, {}), "mistakes": work(mistakes, room.course, MISTAKES)}

    api = formgrader_api(room)
    assert instructor.call("POST", f"{api}/assignment/{ASSIGNMENT}/collect").json()["success"]
    service = f"{room.url}/services/{room.course}"
    grading = instructor.run(service, f"cd {room.course_root} && autograder grade {ASSIGNMENT} --jobs 2",
                             timeout=900)
    released = instructor.call("POST", f"{api}/assignment/{ASSIGNMENT}/release_feedback").json()
    submissions = {s["student"]: s for s in instructor.call("GET", f"{api}/submissions/{ASSIGNMENT}").json()}
    assert "[exit 0]" in grading and released["success"], f"grading:\n{grading}\nrelease_feedback: {released}"
    feedback = {}
    for label, student in (("right", right), ("mistakes", mistakes)):
        data = {"course_id": room.course, "assignment_id": ASSIGNMENT}
        student.call("POST", f"{student.server}/assignments/fetch_feedback", data=data)
        feedback[label] = feedback_page(student, room.course)
    return {"handed_in": handed_in, "grading": grading, "released": released, "submissions": submissions,
            "feedback": feedback, "names": {"right": right.name, "mistakes": mistakes.name}}


def feedback_page(student, course: str) -> str:
    folder = f"{course}/{ASSIGNMENT}/feedback"
    (stamp,) = student.call("GET", f"{student.server}/api/contents/{folder}").json()["content"]
    page = f"{stamp['path']}/{NOTEBOOK.replace('.ipynb', '.html')}"
    return student.call("GET", f"{student.server}/api/contents/{page}").json()["content"]


def test_students_see_the_released_assignment_as_submitted(term, users, hub):
    for name in hub.students:
        assert assignment_status(users[name], hub.course)[ASSIGNMENT]["status"] == "submitted"


def test_validate_passes_the_right_copy_and_names_the_mistakes(term):
    right, mistakes = term["handed_in"]["right"]["validation"], term["handed_in"]["mistakes"]["validation"]
    assert right["success"] and "failed" not in right["value"], right
    assert mistakes["success"] and mistakes["value"].get("failed"), mistakes
    failed = " ".join(str(cell) for cell in mistakes["value"]["failed"])
    assert "loss" in failed and "backward_step" in failed, failed


def test_autograder_grade_ran_in_the_formgrader_terminal(term):
    assert "[exit 0]" in term["grading"], term["grading"]
    assert "2/2" in term["grading"], term["grading"]


def test_grades_are_those_of_the_answers(term):
    scores = {label: term["submissions"][name]["score"] for label, name in term["names"].items()}
    assert scores == EXPECTED, term["submissions"]
    assert all(s["autograded"] for s in term["submissions"].values())


def test_students_fetched_their_feedback(term):
    assert term["released"]["success"], term["released"]
    for label, page in term["feedback"].items():
        assert re.search(rf"Score:\s*{EXPECTED[label]}(\.0)?\s*/", page), page[:2000]
        assert "from autograder" not in page  # hidden tests stay hidden in the feedback
