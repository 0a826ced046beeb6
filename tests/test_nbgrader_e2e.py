"""A real nbgrader run on copies that misbehave: stderr, a dying kernel, an endless cell (TP 9 as the vehicle).

The reference and the untouched release are covered for every TP by test_contract.py."""

import csv

import nbformat
import pytest

from autograder.demo import hand_in, nbgrader, prepare_course
from conftest import cell_scores, source_path, test_cell_points

pytestmark = pytest.mark.slow

FULL = test_cell_points("tp09")

STUDENTS = {
    "mistakes": {
        "dsigma": "def dsigma(x):\n    return 1 - x ** 2",
        "backward_step": "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                         "    return xIn.T @ dl_s, dl_s.sum(0), dl_s @ w",
    },
    "noisy": {  # correct, but writes to stderr and warns: must not cost anything
        "sigma": "import sys, warnings\ndef sigma(x):\n    print('sigma appelée', file=sys.stderr)\n"
                 "    warnings.warn('un avertissement')\n    return torch.tanh(x)",
        "dloss": "import sys\nprint('dloss définie', file=sys.stderr)\ndef dloss(v, t):\n    return 2 * (v - t)",
    },
    "crash": {  # the kernel dies while backward_step's cell runs
        "backward_step": "import os\nos._exit(1)",
    },
    "forever": {  # the training never ends
        "training": "while True:\n    pass",
    },
}

EXPECTED = {
    "mistakes": {**FULL, "test_dsigma": 0, "test_backward_step": 2, "test_training": 0},
    "noisy": FULL,
    "crash": {**FULL, "test_backward_step": 0, "test_backward_pass": 0, "test_training": 0},
    "forever": {**FULL, "test_training": 0},
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    prepare_course(course, "tp09")
    assert nbgrader(course, "generate_assignment", "tp09", "--force") == 0
    hand_in(course, "tp09", STUDENTS)
    assert nbgrader(course, "autograde", "tp09", "--Execute.timeout=40") == 0
    assert nbgrader(course, "generate_feedback", "tp09") == 0
    assert nbgrader(course, "export", "--to", str(course / "grades.csv")) == 0
    return course


@pytest.mark.parametrize("student", EXPECTED)
def test_autograde_scores_every_cell_as_expected(course, student):
    assert cell_scores(course, "tp09")[student] == pytest.approx(EXPECTED[student]), student


def test_feedback_shows_french_verdicts_and_hides_the_hidden_tests(course):
    for student in STUDENTS:
        html = next((course / "feedback" / student / "tp09").glob("*.html")).read_text()
        assert "BEGIN HIDDEN TESTS" not in html and "autograder" not in html
        assert "### BEGIN SOLUTION" not in html
    mistakes = next((course / "feedback" / "mistakes" / "tp09").glob("*.html")).read_text()
    assert "dsigma reçoit l&#39;entrée s de tanh" in mistakes or "dsigma reçoit l'entrée s de tanh" in mistakes
    assert "gradient de w transposé" in mistakes


def test_export_holds_every_student_total(course):
    with open(course / "grades.csv", newline="") as f:
        rows = {row["student_id"]: row for row in csv.DictReader(f)}
    assert set(rows) == set(STUDENTS)
    for student, expected in EXPECTED.items():
        assert float(rows[student]["raw_score"]) == pytest.approx(sum(expected.values()))
    manual = sum(c.metadata.nbgrader.points for c in nbformat.read(source_path("tp09"), as_version=4).cells
                 if c.cell_type == "markdown" and c.metadata.get("nbgrader", {}).get("grade"))
    assert float(rows["noisy"]["max_score"]) == sum(FULL.values()) + manual  # and the points graded by hand
