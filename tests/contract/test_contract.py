"""What every TP guarantees, checked over every TP discovered in source/ (see ../shared/TP_DONE.md).

Reference full marks, the untouched release at zero, forged facts at zero, the release in
sync with the source and the reference, the notebook running to its target, and the sample
class graded as it says: the whole class by `autograder grade`, a few of its copies by plain
nbgrader end to end. Totals come from the notebooks' points.
"""

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell

from autograder import cli, figures, probe
from autograder.demo import hand_in, nbgrader, prepare_course, sample_module
from autograder.release import release, shared_cells, solution_cell_source
from autograder.specs import VariablesSpec
from autograder.submissions import fill, solutions
from conftest import (REPO, assignment, cell_scores, notebook_preamble, release_path, source_path,
                      student_namespace, points_of_test_cells, run_notebook, tp_params, validate)

pytestmark = pytest.mark.parametrize("tp", tp_params())


def exercise_specs(tp):
    graded = assignment(tp)
    return [name for name, spec in graded.specs.items() if not isinstance(spec, VariablesSpec)]


# ---------------------------------------------------------------- checks, in this process


def test_reference_passes_every_check(tp):
    namespace = student_namespace(tp)
    for name in exercise_specs(tp):
        result = assignment(tp).check(name, namespace, seed=3)
        assert result.points == result.possible, result.report()


def test_release_stubs_score_zero_on_every_check(tp):
    namespace = {"__name__": "__main__"}
    exec(notebook_preamble(tp), namespace)
    stubs = solutions(nbformat.read(release_path(tp), as_version=4))
    for name in assignment(tp).exercises:
        exec(stubs[name], namespace)
    for name in exercise_specs(tp):
        result = assignment(tp).check(name, namespace)
        assert result.points == 0 and "pas encore écrite" in result.report(), result.report()


def _first_output_replaced(facts, spec):
    """Only where outputs are what is compared (not increments, not state)."""
    if getattr(spec, "accumulates", ()) or spec.kind == "sequence":
        return None
    return {**facts, "calls": [{**facts["calls"][0], "output": {"float": 0.0}}, *facts["calls"][1:]]}


FORGERIES = {
    "no facts": lambda f, spec: None,
    "not a mapping": lambda f, spec: ["defined", True],
    "empty": lambda f, spec: {},
    "no calls": lambda f, spec: {**f, "calls": []},
    "one call too few": lambda f, spec: {**f, "calls": f["calls"][:-1]},
    "calls not a list": lambda f, spec: {**f, "calls": {"0": f["calls"][0]}},
    "each call replaced by a string": lambda f, spec: {**f, "calls": ["ok"] * len(f["calls"])},
    "no trace": lambda f, spec: {**f, "calls": [{k: v for k, v in c.items() if k != "trace"}
                                                for c in f["calls"]]} if spec.kind != "sequence" else None,
    "output of the first call replaced": _first_output_replaced,
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
def test_missing_malformed_or_forged_facts_never_give_points(tp, forgery):
    graded = assignment(tp)
    namespace = student_namespace(tp)
    for name in exercise_specs(tp):
        facts = probe.observe(graded.plan(name, 7), namespace)
        assert graded.judge_facts(name, 7, facts).passed  # the genuine facts, for comparison
        forged = forgery(facts, graded.specs[name])
        if forged is not None or forgery is FORGERIES["no facts"]:
            result = graded.judge_facts(name, 7, forged)
            assert result.points == 0, (name, result.report())


def test_facts_of_the_variables_are_read_defensively(tp):
    graded = assignment(tp)
    for name, spec in graded.specs.items():
        if isinstance(spec, VariablesSpec):
            for facts in (None, {}, {"variables": None}, {"variables": {n: {"tensor": {}} for n in spec.variables}}):
                assert graded.judge_facts(name, 0, facts).points == 0


def test_the_graded_function_never_reaches_the_kernel_as_reference_code(tp):
    graded = assignment(tp)
    for name in exercise_specs(tp):
        request = graded.plan(name, 0)
        assert f"def {name}(" not in request["stand_ins"] and f"class {name}" not in request["stand_ins"]
        order = graded.exercises
        assert set(graded.callees(name)) <= set(order[:order.index(name)])  # only exercises graded before


# ---------------------------------------------------------------- the notebooks


def test_release_regenerates_the_committed_files_byte_for_byte(tp, tmp_path):
    shutil.copytree(REPO / "source" / tp, tmp_path / "source" / tp)
    shutil.copy(REPO / "source" / "outils.py", tmp_path / "source")
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    release(tmp_path, tp)
    for committed in (source_path(tp), release_path(tp)):
        fresh = tmp_path / committed.relative_to(REPO)
        assert fresh.read_bytes() == committed.read_bytes(), f"{committed} is stale: run `make release`"


def test_source_cells_are_the_reference_and_the_shared_helpers(tp):
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source
             for c in nbformat.read(source_path(tp), as_version=4).cells}
    graded = assignment(tp)
    for name in graded.exercises:
        assert cells[name] == solution_cell_source(getattr(graded.reference, name))
    assert cells["outils"] == shared_cells(REPO / "source", tp)["outils"]


def test_the_first_cell_says_what_the_live_session_shares(tp):
    """The self-check reports to the instructors' live page (autograder/live.py): students are told what."""
    first = nbformat.read(release_path(tp), as_version=4).cells[0].source
    assert "**jamais votre code**" in first and "verifier(" in first


def test_committed_notebooks_have_no_outputs_and_no_secrets(tp):
    for path in (source_path(tp), release_path(tp)):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    text = release_path(tp).read_text()
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "autograder.tp", "import grade"):
        assert secret not in text
    stubs = [c.source for c in nbformat.read(release_path(tp), as_version=4).cells
             if c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs and all("# VOTRE CODE ICI" in s or "VOTRE RÉPONSE ICI" in s for s in stubs)


def test_every_spec_has_a_locked_test_cell_worth_its_points(tp):
    points = points_of_test_cells(tp)
    graded = assignment(tp)
    nb = nbformat.read(source_path(tp), as_version=4)
    code_tests = {c.metadata.nbgrader.grade_id: c for c in nb.cells
                  if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert set(code_tests) == {f"test_{name}" for name in graded.specs}
    for name, spec in graded.specs.items():
        cell = code_tests[f"test_{name}"]
        assert cell.metadata.nbgrader.locked and points[f"test_{name}"] == spec.points
        hidden = (rf'### BEGIN HIDDEN TESTS\nfrom autograder\.{tp}\.checks import grade\n'
                  rf'grade\("{name}", globals\(\)\)\n### END HIDDEN TESTS')
        assert re.search(hidden, cell.source), cell.source


# ---------------------------------------------------------------- real kernels and nbgrader

REPORT = 'import json\nprint(json.dumps({"test": float(testAccuracy)}))'


def has_training(tp) -> bool:
    """A TP whose training leaves `testAccuracy` (not every TP has one: docs/adding-a-tp.md)."""
    return any(isinstance(s, VariablesSpec) and "testAccuracy" in s.variables for s in assignment(tp).specs.values())


def errors(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def test_figure_cells_are_tagged_and_nothing_graded_depends_on_them(tp):
    """`autograder grade` leaves figure cells out (autograder/figures.py): a TP's figure cells, if it has any,
    only draw."""
    nb = nbformat.read(source_path(tp), as_version=4)
    assert figures.figure_problems(nb) == []


@pytest.mark.slow
def test_source_notebook_runs_and_every_hidden_check_gives_full_marks(tp, tmp_path):
    nb = nbformat.read(source_path(tp), as_version=4)
    if has_training(tp):
        nb.cells.append(new_code_cell(REPORT))
    run_notebook(nb, tmp_path)
    assert not errors(nb)
    if has_training(tp):
        assert 0 <= json.loads(nb.cells[-1].outputs[0].text)["test"] <= 1
    grades = [(c.metadata.nbgrader.points, c.outputs[-1]) for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert grades and all(float(out.data["text/plain"]) == points for points, out in grades)


@pytest.mark.slow
def test_completed_release_validates_in_the_students_environment(tp, student_env):
    done = fill(nbformat.read(release_path(tp), as_version=4), solutions(nbformat.read(source_path(tp), as_version=4)))
    path = student_env / "done.ipynb"
    nbformat.write(done, path)
    untouched = student_env / "untouched.ipynb"
    shutil.copy(release_path(tp), untouched)
    # one `nbgrader validate` for both notebooks (it validates them in order, each in its own kernel)
    passed, success, untouched_report = validate(path, untouched).partition(
        "Success! Your notebook passes all the tests.")
    assert success and "VALIDATION FAILED" not in passed, passed
    assert "VALIDATION FAILED" in untouched_report and "la fonction n'est pas encore écrite" in untouched_report


# ---------------------------------------------------------------- the sample class, graded


def few_copies(tp):
    """The copies of the sample class that plain nbgrader grades: the full-marks one, the untouched release
    and the first one with mistakes."""
    sample = sample_module(tp)
    return [next(s for s, answers in sample["STUDENTS"].items() if answers == {}),
            next(s for s, answers in sample["STUDENTS"].items() if answers is None),
            next(iter(sample["EXPECTED"]))]


@pytest.fixture(scope="module")
def graded_sample_class(tmp_path_factory):
    """`graded_sample_class(tp)`, made once per TP: the whole sample class graded by `autograder grade`,
    and `few_copies` of it by plain nbgrader end to end, each in a course of its own and both at once, one
    core each (nbgrader runs one kernel at a time; `autograder grade --jobs 1` one warm kernel at a time:
    on five copies, more workers cost more to start than they save)."""
    graded = {}

    def grade(tp):
        if tp not in graded:
            root = tmp_path_factory.mktemp(f"sample-{tp}")
            prepare_course(root / "released", tp)
            with open(root / "released" / "nbgrader_config.py", "a") as f:
                f.write("\nc.Execute.timeout = 60\n")  # a cell runs 60 s at most
            assert nbgrader(root / "released", "generate_assignment", tp, "--force") == 0
            students, few = sample_module(tp)["STUDENTS"], few_copies(tp)
            whole = shutil.copytree(root / "released", root / "autograder")
            hand_in(whole, tp, students)
            plain = shutil.copytree(root / "released", root / "nbgrader")
            hand_in(plain, tp, {s: students[s] for s in few})
            with ThreadPoolExecutor(1) as pool:
                plain_status = pool.submit(lambda: [nbgrader(plain, "autograde", tp),
                                                    nbgrader(plain, "generate_feedback", tp)])
                status = cli.main(["grade", tp, "--course", str(whole), "--jobs", "1"])
                graded[tp] = SimpleNamespace(whole=whole, status=status, plain=plain, plain_status=plain_status.result())
        return graded[tp]

    return grade


def expected_scores(tp, students):
    """What the sample class says each of these copies gets, per test cell: the untouched release 0
    everywhere, the others full marks except where `EXPECTED` says (a training graded on its accuracy:
    ± 2 test images, hence the tolerance there)."""
    sample, points = sample_module(tp), points_of_test_cells(tp)
    expected = {}
    for student in students:
        if sample["STUDENTS"][student] is None:
            expected[student] = dict.fromkeys(points, 0)
        elif student in sample["EXPECTED"]:
            expected[student] = pytest.approx({**points, **sample["EXPECTED"][student]}, abs=0.05)
        else:
            expected[student] = pytest.approx(points)
    return expected


def assert_graded_as_the_sample_class_says(course, tp, students):
    scores = cell_scores(course, tp)
    assert set(scores) == set(students)
    for student, expected in expected_scores(tp, students).items():
        assert scores[student] == expected, student
    for student in students:
        html = next((course / "feedback" / student / tp).glob("*.html")).read_text()
        assert "BEGIN HIDDEN TESTS" not in html and "autograder.tp" not in html and "BEGIN SOLUTION" not in html


@pytest.mark.slow
def test_autograder_grade_grades_the_sample_class_as_it_says(tp, graded_sample_class):
    """The whole sample class through `autograder grade` (nbgrader's Autograde and feedback, warm kernels)."""
    students = sample_module(tp)["STUDENTS"]
    assert any(a is None for a in students.values()) and any(a == {} for a in students.values())
    graded = graded_sample_class(tp)
    assert graded.status == 0
    assert_graded_as_the_sample_class_says(graded.whole, tp, list(students))


@pytest.mark.slow
def test_plain_nbgrader_grades_a_few_sample_copies_end_to_end(tp, graded_sample_class):
    """Plain nbgrader, as an instructor without `autograder grade` runs it (`nbgrader autograde`, each copy
    in a fresh sandboxed kernel, then `nbgrader generate_feedback`), on `few_copies` of the sample class.
    That both commands give the same scores cell by cell, `tests/system/test_class_grading.py` checks on a larger
    class."""
    graded = graded_sample_class(tp)
    assert graded.plain_status == [0, 0]
    assert_graded_as_the_sample_class_says(graded.plain, tp, few_copies(tp))
