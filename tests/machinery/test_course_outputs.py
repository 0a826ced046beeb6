"""Course-wide outputs on a synthetic course: TP discovery, gradebook reader, grade sheets, reports.

No kernel runs here: the gradebook is written with nbgrader's API and the autograded
notebooks by hand, as `autograder grade` would leave them.
"""

import csv
import importlib
import json
import re
import shutil
import sys
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

import autograder
from autograder import cli, demo, exports, gradebook, report, verdict
from autograder.course import assignments, has_grader
from autograder.grading import db_url
from autograder.release import environment
from autograder.verdict import Remark, Result
from conftest import run_browser

CELLS = {  # assignment: {grade cell: (cell type, points)}
    "tp01": {"test_sigmoide": ("code", 1), "test_retropropagation": ("code", 3), "question": ("markdown", 1)},
    "tp02": {"test_convolution": ("code", 2), "test_pooling": ("code", 2)},
    "tp03": {"test_attention": ("code", 4)},  # released, nobody has handed it in yet
}
SCORES = {  # student: {assignment: {grade cell: score}}; david handed nothing in
    "alice": {"tp01": {"test_sigmoide": 1, "test_retropropagation": 3, "question": 1},
              "tp02": {"test_convolution": 2, "test_pooling": 2}},
    "bruno": {"tp01": {"test_sigmoide": 1, "test_retropropagation": 1.5, "question": 0},
              "tp02": {"test_convolution": 0, "test_pooling": 2}},
    "carla": {"tp01": {"test_sigmoide": 1, "test_retropropagation": 0, "question": 0.5}},
    "david": {},
}
# the remarks of the cells that lost points, as the grader leaves them: the same mistake on different cases
WRONG = "`{output}` incorrect{case} : valeurs fausses (écart max {écart})."
VERDICTS = {
    ("bruno", "tp01", "test_retropropagation"): [
        Remark(text="le gradient de `w` est transposé.", case="float64, lot 7, 4→2"),
        # the same mistake on two outputs, measured differently
        Remark(text=WRONG, output="dl_dw1", case="float64, lot 7, 4→2", values={"écart": "0.31"}),
        Remark(text=WRONG, output="dl_db1", case="float64, lot 7, 4→2", values={"écart": "0.052"})],
    ("carla", "tp01", "test_retropropagation"): [
        Remark(text="le gradient de `w` est transposé.", case="float32, lot 1, 5→3"),
        Remark(text="écart relatif {écart} sur `b`.", values={"écart": "0.4213"}),
        Remark(text=WRONG, output="dl_dw2", case="float32, lot 1, 5→3", values={"écart": "1.7"}),
        Remark(text=WRONG, output="dl_db2", case="float32, lot 1, 5→3", values={"écart": "1.7"})],
    ("bruno", "tp02", "test_convolution"): [
        Remark(text="`F.conv2d` est refusé : écrivez la convolution à la main."),
        Remark(text="erreur à l'exécution{case} : RuntimeError: mat1 and mat2 shapes cannot be multiplied",
               case="float64, (4, 3) @ (3, 5)")],  # a case whose label holds parentheses and an `@`
}
TOO_LONG = ("carla", "tp01", "test_retropropagation")  # also printed too much


def autograded_notebook(student, assignment):
    cells = []
    for name, (cell_type, points) in CELLS[assignment].items():
        meta = {"nbgrader": {"grade_id": name, "grade": True, "points": points}}
        if cell_type == "markdown":
            cells.append(new_markdown_cell("réponse", metadata=meta))
            continue
        score = SCORES[student][assignment][name]
        result = Result(function=name.removeprefix("test_"), points=score, possible=points,
                        remarks=tuple(VERDICTS.get((student, assignment, name), [])))
        outputs = [new_output("display_data", data={verdict.MIME: result.to_json(), "text/plain": result.report()})]
        if (student, assignment, name) == TOO_LONG:
            outputs.append(new_output("error", ename="SortieTropLongue", evalue="coupée", traceback=[]))
        cells.append(new_code_cell(f"grade({name!r})", metadata=meta, outputs=outputs))
    return new_notebook(cells=cells)


def build_course(root):
    """The gradebook with three TPs and four students, and the autograded notebooks, in `root`."""
    with Gradebook(db_url(root)) as gb:
        for assignment, cells in CELLS.items():
            gb.add_assignment(assignment)
            gb.add_notebook("exercices", assignment)
            for name, (cell_type, points) in cells.items():
                gb.add_grade_cell(name, "exercices", assignment, cell_type=cell_type, max_score=points)
        for student, handed_in in SCORES.items():
            gb.add_student(student, first_name=student.capitalize(), last_name="Durand",
                           email=f"{student}@example.org")
            for assignment, scores in handed_in.items():
                gb.add_submission(assignment, student)
                for name, score in scores.items():
                    grade = gb.find_grade(name, "exercices", assignment, student)
                    if CELLS[assignment][name][0] == "code":
                        grade.auto_score, grade.needs_manual_grade = score, False
                    elif student != "carla":  # carla's written answer is still to be graded by hand
                        grade.manual_score, grade.needs_manual_grade = score, False
                gb.db.commit()
                folder = root / "autograded" / student / assignment
                folder.mkdir(parents=True)
                nbformat.write(autograded_notebook(student, assignment), folder / "exercices.ipynb")


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        patch.setenv("PATH", environment()["PATH"])  # nbgrader runs `alembic` to create a gradebook
        warnings.simplefilter("ignore", SAWarning)  # nbgrader's add_submission warns about its own session
        build_course(root)
    return root


@pytest.fixture
def course(graded_course, tmp_path):
    """A copy of the graded course that a test may write into."""
    return Path(shutil.copytree(graded_course, tmp_path / "course"))


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, {row["identifiant"]: row for row in reader}


def section(page, assignment):
    """The HTML of one TP's section of the course report."""
    return re.search(rf"<h2>{assignment}</h2>(.*?)(?=<h2>|$)", page, re.S).group(1)


# ------------------------------------------------------------------ discovery


def test_assignments_are_the_source_folders_holding_a_notebook(tmp_path):
    assert assignments(tmp_path) == []  # no source/ at all
    for folder, files in {"tp10": ["tp10.ipynb"], "tp09": ["a.ipynb", "donnees.csv"], "tp11": ["notes.md"],
                          ".ipynb_checkpoints": ["x.ipynb"], "tp12": []}.items():
        (tmp_path / "source" / folder).mkdir(parents=True)
        for name in files:
            (tmp_path / "source" / folder / name).write_text("{}")
    (tmp_path / "source" / "lisezmoi.ipynb").write_text("{}")  # a notebook, but not a TP folder
    assert assignments(tmp_path) == ["tp09", "tp10"]


@pytest.fixture
def extra_tps(tmp_path, monkeypatch):
    """Two TP packages beside the real ones: tpzz with its checks, tpyy with only a reference."""
    for name, modules in {"tpzz": ["__init__", "checks"], "tpyy": ["__init__", "reference"]}.items():
        (tmp_path / name).mkdir()
        for module in modules:
            (tmp_path / name / f"{module}.py").write_text("")
    monkeypatch.setattr(autograder, "__path__", [*autograder.__path__, str(tmp_path)])
    importlib.invalidate_caches()
    yield
    for name in ("autograder.tpzz", "autograder.tpyy"):
        sys.modules.pop(name, None)


def test_a_tp_has_a_grader_when_its_checks_module_exists(extra_tps):
    assert has_grader("tpzz")
    assert not has_grader("tpyy")  # reference written, checks not yet
    assert not has_grader("tpxx")  # no package at all
    assert "autograder.tpzz.checks" not in sys.modules  # found, not imported


# ------------------------------------------------------------------ gradebook reader


def test_gradebook_reader_splits_automatic_and_manual_cells(course):
    url = db_url(course)
    assert gradebook.max_scores(url, "tp01") == {"test_sigmoide": 1, "test_retropropagation": 3}
    assert gradebook.max_scores(url, "tp01", "manual") == {"question": 1}
    auto = gradebook.cell_scores(url, "tp01")
    assert list(auto) == ["alice", "bruno", "carla"]
    assert auto["bruno"] == {"test_sigmoide": 1, "test_retropropagation": 1.5}
    assert gradebook.cell_scores(url, "tp01", "manual")["alice"] == {"question": 1}
    assert gradebook.awaiting_manual_grade(url, "tp01") == {"carla"}
    assert gradebook.totals(url)["carla"] == {"tp01": 1, "tp02": None, "tp03": None}


# ------------------------------------------------------------------ grade sheets


def test_course_csv_has_one_column_per_tp_and_the_total_of_the_tps_handed_in(course):
    header, rows = read_csv(exports.export_course_csv(db_url(course), course / "notes-cours.csv"))
    # tp03, which nobody handed in, has its column but is not in the total
    assert header == ["identifiant", "prénom", "nom", "tp01 (/5)", "tp02 (/4)", "tp03 (/4)", "total (/9)"]
    assert rows["alice"]["tp01 (/5)"] == "5" and rows["alice"]["total (/9)"] == "9"
    assert rows["bruno"]["tp01 (/5)"] == "2.5" and rows["bruno"]["total (/9)"] == "4.5"
    # a missing submission: empty cell, 0 in the total
    assert rows["carla"]["tp02 (/4)"] == "" and rows["carla"]["total (/9)"] == "1"
    assert rows["david"]["tp01 (/5)"] == "" and rows["david"]["total (/9)"] == "0"
    assert rows["alice"]["tp03 (/4)"] == "" and rows["alice"]["prénom"] == "Alice"


def test_course_moodle_csv_identifies_students_as_the_per_tp_export_does(course):
    url = db_url(course)
    header, rows = read_csv(exports.export_course_moodle_csv(url, course / "moodle-cours.csv"))
    assert header == ["identifiant", "adresse de courriel", "prénom", "nom", "tp01 (/5)", "tp02 (/4)", "tp03 (/4)"]
    assert rows["bruno"]["adresse de courriel"] == "bruno@example.org"
    assert rows["bruno"]["tp02 (/4)"] == "2" and rows["carla"]["tp02 (/4)"] == ""
    per_tp_header, per_tp = read_csv(exports.export_moodle_csv(url, "tp02", course / "moodle-tp02.csv"))
    assert per_tp_header == [*header[:4], "tp02 (/4)"]
    assert {s: r["tp02 (/4)"] for s, r in per_tp.items()} == {s: r["tp02 (/4)"] for s, r in rows.items()}


# ------------------------------------------------------------------ reports


def test_a_remark_reads_with_its_case_and_values_for_the_student_and_without_them_for_the_class():
    remark = VERDICTS[("bruno", "tp01", "test_retropropagation")][1]
    assert remark.for_student(["dl_db1"]) == ("`dl_dw1` incorrect (essai : float64, lot 7, 4→2) : valeurs fausses "
                                              "(écart max 0.31). (de même pour `dl_db1`)")
    assert verdict.class_text(remark, ["dl_dw1"], None) == "`dl_dw1` incorrect : valeurs fausses (écart max …)."
    assert verdict.class_text(remark, ["dl_dw1"], {"écart": "0.31"}) == \
        "`dl_dw1` incorrect : valeurs fausses (écart max 0.31)."
    weird = Remark(text="`{output}` vaut {x} : {inconnu} reste tel quel, {case}", output="a", values={"x": "1"})
    assert weird.for_student() == "`a` vaut 1 : {inconnu} reste tel quel, "


def test_a_verdict_travels_as_data_and_back():
    result = Result(function="f", points=0.67, possible=2, remarks=tuple(VERDICTS[("carla", "tp01", "test_retropropagation")]))
    assert Result.from_json(json.loads(json.dumps(result.to_json()))) == result
    assert result.messages[-1].endswith("(écart max 1.7). (de même pour `dl_db2`)") and len(result.messages) == 3
    assert result.report().startswith("🟠 f : 0,67 / 2 point(s)\n   - le gradient de `w` est transposé.")
    assert result.html().startswith('<div class="verdict verdict-partial"><p class="verdict-head">🟠 f : 0,67 / 2 '
                                    'point(s)</p><ul class="verdict-lines"><li>le gradient de <code>w</code>')
    for malformed in (None, {}, {"function": "f", "points": "x", "possible": 1, "remarks": []},
                      {"function": "f", "points": 1, "possible": 1, "remarks": [{"output": "a"}]}):
        with pytest.raises(ValueError):
            Result.from_json(malformed)


def test_course_report_shows_each_tp_its_hardest_function_and_the_grades(course):
    page = report.write_course_report(course, db_url(course), course / "rapport-cours.html").read_text("utf-8")
    assert "<script" not in page and page.count("data:image/png;base64,") == 2  # tp01 and tp02 histograms
    tp01, tp02, tp03 = section(page, "tp01"), section(page, "tp02"), section(page, "tp03")
    assert "<td>retropropagation</td>" in tp01 and "<td>sigmoide</td>" not in tp01  # everyone got sigmoide
    # the same mistake on two cases is one message, seen in two copies, with its code as code
    assert "<li>le gradient de <code>w</code> est transposé. <b>(2)</b></li>" in tp01
    assert "<td>convolution</td>" in tp02 and "<code>F.conv2d</code> est refusé" in tp02
    assert "médiane" in tp01 and "Aucune copie notée" in tp03
    table = re.search(r"<h2>Notes par étudiant</h2>(.*?)</table>", page, re.S).group(1)
    assert "<th>total (/9)</th>" in table
    assert "<tr><td>carla</td><td>1</td><td>—</td><td>—</td><td>1</td></tr>" in table


def test_class_report_names_output_cut_and_shows_code(course):
    page = report.write_report(course, db_url(course), "tp01", {}, course / "rapport-tp01.html").read_text("utf-8")
    problems = re.search(r"Copies en difficulté.*?</table>", page, re.S).group(0)
    assert "<td>carla</td><td>sortie trop longue</td><td>test de retropropagation</td>" in problems
    assert "bruno" not in problems
    assert "<code>w</code>" in page and "`" not in page


MEASURE_WIDTH = ("<script>document.addEventListener('DOMContentLoaded', () => {"
                 "const p = document.createElement('p'); p.id = 'measure';"
                 "p.textContent = `page=${document.documentElement.scrollWidth} window=${window.innerWidth}`;"
                 "document.body.appendChild(p);});</script>")


def test_a_class_report_with_many_functions_fits_a_narrow_window_in_chromium(tmp_path):
    """Measured in the browser at 700 px: the page never scrolls sideways; a wide table scrolls in its box."""
    names = [f"test_{n}_backward" for n in ("cross_entropy", "matmul", "unbroadcast", "relu", "sum", "mul", "add")]
    names += ["test_topological_order", "test_backward", "test_training", "test_log_softmax", "test_he_init"]
    outcomes = [report.StudentOutcome(student, 10.0, {n: report.CellOutcome(1.0, 2.0, [
        Remark(text=WRONG, output=f"dl_{n}", values={"écart": "0.5"})]) for n in names}) for student in ("ana", "bob")]
    page = tmp_path / "rapport.html"
    page.write_text(report.render("tp99", outcomes).replace("</body>", MEASURE_WIDTH + "</body>"), encoding="utf-8")
    dom = run_browser(["--dump-dom", "--window-size=700,900", page.as_uri()], tmp_path).stdout
    measure = re.search(r'id="measure">page=(\d+) window=(\d+)<', dom)
    assert measure, dom[-2000:]
    width, window = map(int, measure.groups())
    assert width <= window == 700


def test_class_report_gives_a_mistake_made_on_several_outputs_one_line(course):
    page = report.write_report(course, db_url(course), "tp01", {}, course / "rapport-tp01.html").read_text("utf-8")
    mistakes = re.search(r"<td>retropropagation</td>.*?</tr>", page, re.S).group(0)
    # bruno on dl_dw1 and dl_db1, carla on dl_dw2 and dl_db2: one mistake, two copies
    assert ("<li><code>dl_dw1</code> incorrect : valeurs fausses (écart max …). (de même pour <code>dl_db1</code>, "
            "<code>dl_dw2</code>, <code>dl_db2</code>) <b>(2)</b></li>") in mistakes
    assert mistakes.count("incorrect") == 1
    # names an output, not first; one copy made it: its value is shown
    assert "<li>écart relatif 0.4213 sur <code>b</code>. <b>(1)</b></li>" in mistakes


def test_class_report_shows_an_error_whole_whatever_the_case_it_was_seen_on(course):
    page = report.write_report(course, db_url(course), "tp02", {}, course / "rapport-tp02.html").read_text("utf-8")
    assert ("<li>erreur à l&#x27;exécution : RuntimeError: mat1 and mat2 shapes cannot be multiplied <b>(1)</b></li>"
            in page), page


def _cell(source, outputs, grade_id=None, solution=False, test=False):
    meta = {"nbgrader": {"grade_id": grade_id, "solution": solution, "grade": test}} if grade_id else {}
    errors = [new_output("error", ename=name, evalue="", traceback=[]) for name in outputs]
    return new_code_cell(source, metadata=meta, outputs=errors)


def test_class_report_lists_every_kind_of_problem_where_it_happened(course):
    path = course / "autograded" / "carla" / "tp01" / "exercices.ipynb"
    nb = nbformat.read(path, as_version=4)
    hidden = "verifier('cachee')\n### BEGIN HIDDEN TESTS\ngrade('cachee')\n### END HIDDEN TESTS"
    nb.cells += [
        _cell("for i in range(10**8): print(i)", ["SortieTropLongue", "KeyboardInterrupt"], "boucle", solution=True),
        _cell("while True: pass", ["KeyboardInterrupt", "CellTimeoutError"]),
        _cell("plt.plot(historique)", ["NameError"]),  # an error in a cell that is not a test: the student's own
        _cell(hidden, ["ModuleNotFoundError"], "test_cachee", test=True),
        _cell("import os; os._exit(1)", ["KernelMort"], "mort", solution=True),
        _cell(hidden, ["KernelMort"], "test_apres", test=True),  # not run: the kernel died above
    ]
    nbformat.write(nb, path)
    page = report.write_report(course, db_url(course), "tp01", {"david": "Traceback…\nNotJSONError: `{` illisible"},
                               course / "rapport-tp01.html", {"bruno": "feedback: OSError: disque plein"}
                               ).read_text("utf-8")
    rows = re.findall(r"<tr><td>(\w+)</td><td>([^<]+)</td><td>(.*?)</td></tr>",
                      re.search(r"Copies en difficulté.*?</table>", page, re.S).group(0))
    assert rows == [
        ("bruno", "retour non écrit", "feedback: OSError: disque plein"),
        ("carla", "sortie trop longue", "test de retropropagation"),
        ("carla", "sortie trop longue", "boucle"),
        ("carla", "temps dépassé", "cellule 5"),
        ("carla", "tests cachés interrompus", "test de cachee (ModuleNotFoundError)"),
        ("carla", "noyau arrêté", "mort"),
        ("david", "copie non notée", "NotJSONError: <code>{</code> illisible"),
    ]
    for kind in report.PROBLEMS:  # the page says what each problem it found is, and only those
        assert (f"<b>{kind}</b>" in page) == (kind in {row[1] for row in rows})


def test_course_report_command_writes_the_three_course_files(course, capsys):
    assert cli.main(["course-report", "--course", str(course)]) == 0
    out = capsys.readouterr().out
    for name in ("notes-cours.csv", "moodle-cours.csv", "rapport-cours.html"):
        assert (course / name).exists() and str(course / name) in out
    assert cli.main(["course-report", "--course", str(course / "vide")]) == 1


def test_demo_tables_come_from_the_gradebook(course):
    table = demo.score_table(course, "tp01", ["alice", "carla", "zoe"]).splitlines()
    assert table[0].split() == ["étudiant", "sigmoide", "retropropagation", "auto", "écrit"]
    assert table[2].split() == ["alice", "1", "3", "4/4", "rien", "à", "corriger"]
    assert table[3].split()[:4] == ["carla", "1", "0", "1/4"] and "formgrader" in table[3]
    assert table[4].startswith("zoe") and "non noté" in table[4]
    course_lines = demo.course_table(course).splitlines()
    assert course_lines[0].split() == ["étudiant", "tp01", "(/5)", "tp02", "(/4)", "tp03", "(/4)", "total", "(/9)"]
    assert course_lines[2 + list(SCORES).index("bruno")].split() == ["bruno", "2,5", "2", "—", "4,5"]
