"""PlantProbes and JudgeProbes on notebooks, without a kernel: what they plant, and what they accept.

TP 9's `dloss` is only the vehicle: these are tests of the preprocessors."""

import nbformat
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder.nbgrader_ext import PLAN, JudgeProbes, PlantProbes, hidden_check
from autograder.probe import MIME, decode_request, observe
from conftest import student_namespace

HIDDEN = ('with verification("dloss"):\n    pass\n\n### BEGIN HIDDEN TESTS\n'
          'from autograder.tp09.checks import grade\ngrade("dloss", globals())\n### END HIDDEN TESTS')


def grade_cell(source=HIDDEN, **nbgrader):
    meta = {"grade": True, "solution": False, "locked": True, "grade_id": "test_dloss", "points": 1,
            "schema_version": 3, **nbgrader}
    return new_code_cell(source, metadata={"nbgrader": meta})


def planted(*cells):
    nb = new_notebook(cells=list(cells))
    return PlantProbes().preprocess(nb, {})[0]


def request_of(cell):
    line = next(line for line in cell.source.splitlines() if "probe" in line)
    return decode_request(line.split('"')[3])


def test_hidden_checks_are_recognised_only_in_their_block():
    assert hidden_check(HIDDEN) == ("autograder.tp09.checks", "dloss")
    assert hidden_check('grade("dloss", globals())') is None
    assert hidden_check(HIDDEN.replace("autograder.tp09.checks", "os")) is None


def test_each_grading_draws_new_inputs_and_a_new_nonce():
    first, second = planted(grade_cell()).cells[0], planted(grade_cell()).cells[0]
    assert first.metadata[PLAN]["seed"] != second.metadata[PLAN]["seed"]
    assert request_of(first)["cases"] != request_of(second)["cases"]
    assert request_of(first)["nonce"] == first.metadata[PLAN]["nonce"] != second.metadata[PLAN]["nonce"]
    assert "BEGIN HIDDEN TESTS" in first.source and "grade(" not in first.source


def test_only_test_cells_are_planted_and_forged_plans_are_dropped():
    forged = {"module": "antigravity", "name": "x", "seed": 1, "nonce": "0", "source": "print('forgé')"}
    solution = new_code_cell(HIDDEN, metadata={"nbgrader": {"grade": False, "solution": True, "grade_id": "dloss",
                                                            "schema_version": 3, "locked": False}, PLAN: forged})
    plain = new_code_cell("x = 1", metadata={PLAN: forged})
    nb = planted(solution, plain)
    assert [c.source for c in nb.cells] == [HIDDEN, "x = 1"]
    assert all(PLAN not in c.metadata for c in nb.cells)
    judged = JudgeProbes().preprocess(nb, {})[0]
    assert [c.source for c in judged.cells] == [HIDDEN, "x = 1"]


def judged(cell, outputs):
    cell.outputs = outputs
    nb = JudgeProbes().preprocess(new_notebook(cells=[cell]), {})[0]
    return nb.cells[0]


def test_the_verdict_comes_from_facts_with_the_right_nonce_only():
    cell = planted(grade_cell()).cells[0]
    facts = observe(request_of(cell), student_namespace("tp09"))
    display = new_output("display_data", data={MIME: facts})
    good = judged(nbformat.from_dict(cell), [display])
    assert good.source == HIDDEN and good.outputs[-1].data["text/plain"] == "1.0"
    stale = judged(nbformat.from_dict(cell), [new_output("display_data", data={MIME: {**facts, "nonce": "0" * 32}})])
    assert stale.outputs[-1].data["text/plain"] == "0.0" and "n'ont rien renvoyé" in stale.outputs[0].data["text/plain"]


def test_a_cell_that_stopped_keeps_its_error_and_scores_zero():
    cell = planted(grade_cell()).cells[0]
    stopped = judged(cell, [new_output("error", ename="CellTimeoutError", evalue="", traceback=[])])
    assert [o.output_type for o in stopped.outputs] == ["display_data", "error", "execute_result"]
    assert "CellTimeoutError" in stopped.outputs[0].data["text/plain"] and stopped.outputs[-1].data["text/plain"] == "0.0"
