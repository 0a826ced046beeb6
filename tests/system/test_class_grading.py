"""`autograder grade`: same scores as nbgrader, in parallel, through bad submissions, with exports and report."""

import csv
import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import cli
from autograder.demo import hand_in
from autograder.release import environment
from autograder.grading import db_url
from autograder.verdict import inline_code
from autograder import gradebook as gb_reader
from synthetic_tp import TP
from synthetic_tp.students import CORRECT, WRONG

pytestmark = pytest.mark.slow  # machinery, on the synthetic TP 0 (tests/synthetic_tp)

# the first catalogued mistake of each function
CATALOGUE = {f"wrong{i:02d}": {name: source} for i, (name, source, _) in enumerate(WRONG)
             if i == min(j for j, w in enumerate(WRONG) if w[0] == name)}
ALTERNATIVES = {f"correct{i:02d}": {name: source} for i, (name, source) in enumerate(CORRECT)}
CLASS = {
    "ref": {},
    "untouched": None,
    **CATALOGUE,
    **ALTERNATIVES,
    "renamed": {"sigma": "def sigmoid_tanh(x):\n    return torch.tanh(x)"},
    "noisy": {  # correct, but writes to stderr and warns: must not cost anything
        "sigma": "import sys, warnings\ndef sigma(x):\n    print('sigma appelée', file=sys.stderr)\n"
                 "    warnings.warn('un avertissement')\n    return torch.tanh(x)",
        "dloss": "import sys\nprint('dloss définie', file=sys.stderr)\ndef dloss(v, t):\n    return 2 * (v - t)",
    },
    "crash": {"gradient": "import os\nos._exit(1)"},
    "forever": {"training": "while True:\n    pass"},
}


# seconds a cell may run: "forever" costs it in each command; the slowest of the other cells, the imports of
# a fresh kernel, took 2.5 s on a busy machine (the training a few hundredths of a second)
TIMEOUT = 15


@pytest.fixture(scope="module")
def released(synthetic, tmp_path_factory):
    """A course where nbgrader has generated TP 0, cells stopped after `TIMEOUT` s: each test copies it."""
    course = synthetic.released_course(tmp_path_factory.mktemp("released") / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(f"\nc.Execute.timeout = {TIMEOUT}\n")
    return course


def course_with(released, course, students):
    shutil.copytree(released, course)
    hand_in(course, TP, students)
    return course


def gradebook(course):
    """Every grade of every student, hand-graded cells included (nbgrader gives them 0 until graded)."""
    return gb_reader.cell_scores(db_url(course), TP, "all")


TERMINAL = {}  # what each grading command printed to the instructor's terminal (stderr)


def _runs(commands, folders) -> list[int]:
    """`python -m` each command in its folder, all at once; their exit statuses, what they printed in `TERMINAL`."""
    with ThreadPoolExecutor(len(commands)) as pool:
        done = list(pool.map(lambda args, cwd: subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=environment(),
                                                              capture_output=True, text=True), commands, folders))
    TERMINAL[commands[0][0]] = "".join(d.stderr for d in done)
    return [d.returncode for d in done]


def halves(students):
    """The class in two halves that take nbgrader about as long ("forever" takes about as long as three copies)."""
    others = [s for s in students if s != "forever"]
    cut = len(others) // 2 - 1
    return ["forever", *others[:cut]], others[cut:]


@pytest.fixture(scope="module")
def graded(released, tmp_path_factory):
    """The class graded by sequential `nbgrader autograde`, then by `autograder grade --jobs 3`, each in a
    course of its own. nbgrader grades each copy on its own, in a fresh kernel: it runs on two halves of
    the class at once (two courses), and the two gradebooks together are what it gives the class."""
    root = tmp_path_factory.mktemp("class")
    parts = [course_with(released, root / f"nbgrader-{i}", {s: CLASS[s] for s in half})
             for i, half in enumerate(halves(CLASS))]
    command = ("nbgrader", "autograde", TP, "--log-level=WARN")
    assert _runs([command] * len(parts), parts) == [0] * len(parts), TERMINAL["nbgrader"]
    sequential = {student: cells for part in parts for student, cells in gradebook(part).items()}
    course = course_with(released, root / "course", CLASS)
    [status] = _runs([("autograder.cli", "grade", TP, "--jobs", "3", "--course", str(course))], [course])
    return course, sequential, gradebook(course), status


def test_the_instructors_terminal_shows_no_library_warning(graded):
    for command, stderr in TERMINAL.items():
        assert "Warning" not in stderr, f"{command}:\n{stderr}"


def test_scores_are_identical_to_sequential_nbgrader_cell_by_cell(graded):
    course, sequential, parallel, status = graded
    assert status == 0
    assert set(parallel) == set(CLASS)
    assert parallel == sequential


def test_no_grade_lost_or_duplicated_under_concurrency(graded):
    course, _, parallel, _ = graded
    with Gradebook(db_url(course)) as gb:
        submissions = gb.find_assignment(TP).submissions
        assert sorted(s.student_id for s in submissions) == sorted(CLASS)
        cells = {c.name for nb in gb.find_assignment(TP).notebooks for c in nb.grade_cells}
        for sub in submissions:
            assert sorted(g.name for nb in sub.notebooks for g in nb.grades) == sorted(cells)


def test_bad_submissions_cost_only_what_they_break(synthetic, graded):
    _, _, parallel, _ = graded
    assert parallel["ref"]["test_training"] == 2 and sum(parallel["ref"].values()) == synthetic.full_marks()
    assert all(sum(parallel[s].values()) == synthetic.full_marks() for s in [*ALTERNATIVES, "noisy"])
    # its own test costs, not those of the functions that call it (the reference stands in for it)
    assert parallel["renamed"]["test_sigma"] == 0 and parallel["renamed"]["test_dloss"] == 1
    assert parallel["renamed"]["test_forward"] == 2
    assert parallel["crash"]["test_forward"] == 2 and parallel["crash"]["test_gradient"] == 0
    assert parallel["forever"]["test_training"] == 0 and parallel["forever"]["test_backward"] == 3


def test_exports_hold_the_gradebook_totals(graded):
    course, _, parallel, _ = graded
    with open(course / f"moodle-{TP}.csv", newline="", encoding="utf-8") as f:
        rows = {r["identifiant"]: r for r in csv.DictReader(f)}
    with open(course / "grades.csv", newline="") as f:
        nbgrader_rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(nbgrader_rows) == set(CLASS)
    for student, cells in parallel.items():
        column = next(c for c in rows[student] if c.startswith(f"{TP} (/"))
        assert float(rows[student][column]) == pytest.approx(sum(cells.values()))
        assert float(nbgrader_rows[student]["score"]) == pytest.approx(sum(cells.values()))
        assert float(nbgrader_rows[student]["max_score"]) == pytest.approx(sum(gb_reader.max_scores(
            db_url(course), TP, "all").values()))  # the points graded by hand included


def test_feedback_is_written_for_every_graded_student(graded):
    course, *_ = graded
    for student in CLASS:
        page = next((course / "feedback" / student / TP).glob("*.html")).read_text()
        assert "BEGIN HIDDEN TESTS" not in page and "point(s)" in page
        assert "autograder.tp" not in page and "BEGIN SOLUTION" not in page
    transposed = next(s for s, answers in CATALOGUE.items() if "gradient" in answers)
    page = next((course / "feedback" / transposed / TP).glob("*.html")).read_text()
    assert "gradient de w transposé" in page
    # its training crashed in the sandbox: the verdict names where, and what fails its own check
    assert "erreur dans votre fonction <code>backward</code>" in page
    assert "ne passent pas leur vérification : <code>gradient</code>" in page


def test_class_report_names_what_the_class_got_wrong(graded):
    course, *_ = graded
    page = (course / f"rapport-{TP}.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page
    for student, answers in CATALOGUE.items():
        name, source = next(iter(answers.items()))
        message = next(m for n, s, m in WRONG if s == source)
        assert inline_code(message) in page, message
    problems = re.search(r"Copies en difficulté.*?</table>", page, re.S).group(0)
    assert "<td>forever</td><td>temps dépassé</td><td>training</td>" in problems
    # where the kernel died, not each cell it left unrun
    assert "<tr><td>crash</td><td>noyau arrêté</td><td>gradient</td></tr>" in problems
    assert problems.count("<td>crash</td>") == 1


def test_unchanged_submissions_are_skipped_and_changed_ones_regraded(graded, capsys):
    course, *_ = graded
    assert cli.main(["grade", TP, "--course", str(course)]) == 0
    assert "0 copie(s) notée(s), " in capsys.readouterr().out
    path = next((course / "submitted" / "untouched" / TP).glob("*.ipynb"))
    nb = nbformat.read(path, as_version=4)
    sigma = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "sigma")
    sigma.source = "def sigma(x):\n    return torch.tanh(x)"
    nbformat.write(nb, path)
    assert cli.main(["grade", TP, "--course", str(course)]) == 0
    assert "1 copie(s) notée(s)" in capsys.readouterr().out
    assert gradebook(course)["untouched"]["test_sigma"] == 1
    assert cli.main(["grade", TP, "--course", str(course), "--student", "ref", "--force"]) == 0
    assert "1 copie(s) notée(s)" in capsys.readouterr().out


def test_unreadable_and_gutted_submissions_are_reported_and_the_class_is_graded(synthetic, released, tmp_path,
                                                                                 capsys):
    course = course_with(released, tmp_path / "course", {"ok": {}, "gutted": {}, "garbage": {}})
    garbage = next((course / "submitted" / "garbage" / TP).glob("*.ipynb"))
    garbage.write_text("{ ceci n'est pas du JSON")
    gutted = next((course / "submitted" / "gutted" / TP).glob("*.ipynb"))
    nb = nbformat.read(gutted, as_version=4)
    nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade_id", "").startswith("test_")]
    nbformat.write(nb, gutted)
    status = cli.main(["grade", TP, "--course", str(course), "--jobs", "2"])
    out = capsys.readouterr().out
    assert status == 1 and "ÉCHEC garbage" in out
    scores = gradebook(course)
    assert sum(scores["ok"].values()) == synthetic.full_marks()
    assert not any(scores.get("garbage", {}).values()) and not any(scores["gutted"].values())
    page = (course / f"rapport-{TP}.html").read_text(encoding="utf-8")
    assert "garbage" in page and "copie non notée" in page and "cellule de test absente" in page
    json.dumps(scores)  # the gradebook is still readable
