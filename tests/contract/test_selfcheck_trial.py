"""Every TP's self-check as students meet it: the reference passes its checks on fresh inputs, a function
whose helper fails gets the feedback's verdict and is told of the helper, and the TP's three most common mistakes, made at once
in the release notebook and run in a real kernel with the student kit, each get the grader's French
diagnosis in a few lines (`TRIAL` in tests/<tp>/<tp>_catalogue.py)."""

import re

import nbformat
import pytest

from autograder import selfcheck
from autograder.specs import VariablesSpec
from autograder.submissions import fill, solutions
from conftest import assignment, catalogue, release_path, run_notebook, source_path, student_namespace, tp_params

TRACEBACK = re.compile(r"Traceback|File \"|\bline \d+|-{10,}")


def _exercise_names(tp):
    return [n for n, s in assignment(tp).specs.items() if not isinstance(s, VariablesSpec)]


# ---------------------------------------------------------------- in this process


@pytest.mark.parametrize("tp", tp_params())
def test_the_reference_passes_its_self_checks_on_fresh_inputs(tp):
    namespace = student_namespace(tp)
    for name in _exercise_names(tp):
        assert selfcheck.check(assignment(tp), name, namespace).complete, name


@pytest.mark.parametrize("tp", tp_params())
def test_a_function_whose_helper_fails_gets_the_feedbacks_verdict_and_is_told_of_the_helper(tp):
    graded = assignment(tp)
    for name in _exercise_names(tp):
        used = graded.callees(name)
        if not used:
            continue
        broken = student_namespace(tp, f"def {used[0]}(*args, **kwargs):\n    raise NotImplementedError()")
        result, feedback = selfcheck.check(graded, name, broken, seed=0), graded.check(name, broken, seed=0)
        assert feedback.passed and result.points == feedback.points and result.complete
        told = selfcheck.USES_A_FAILING_STOOD_IN.format(name=name, used=used[0])
        assert result.messages == [*feedback.messages, told]


# ---------------------------------------------------------------- a student's notebook, in a real kernel


def _trial_notebook(tp, mistakes):
    """The release notebook as a student fills it: every answer right but these mistakes."""
    answers = {**solutions(nbformat.read(source_path(tp), as_version=4)),
               **{name: source for name, source, _ in mistakes}}
    return fill(nbformat.read(release_path(tp), as_version=4), answers)


def _shown(cell):
    """What a student reads under a cell: its text outputs and rendered errors."""
    text = []
    for output in cell.outputs:
        if output.output_type == "stream":
            text.append(output.text)
        elif output.output_type == "error":
            text.append("\n".join(output.traceback))
        elif "text/plain" in output.get("data", {}):
            text.append(output.data["text/plain"])
    return "\n".join(text).strip("\n")


def _verified(cell):
    match = re.match(r'verifier\("(\w+)"\)', cell.source)
    return match.group(1) if match else None


def _read_checks(tp, nb, mistakes, training):
    """Every check cell of a run: what it shows is as it should be."""
    graded, wrong = assignment(tp), {name: fragment for name, _, fragment in mistakes}
    seen = set()
    for cell in nb.cells:
        name = _verified(cell) if cell.cell_type == "code" else None
        if name is None:
            continue
        seen.add(name)
        shown, failed = _shown(cell), any(o.output_type == "error" for o in cell.outputs)
        assert len(shown.splitlines()) <= selfcheck.MAX_LINES and not TRACEBACK.search(shown), shown
        if isinstance(graded.specs[name], VariablesSpec):
            assert failed and training in shown, shown
        elif name in wrong:
            assert failed and shown.startswith(f"❌ {name} :") and wrong[name] in shown, shown
        else:
            assert not failed and shown.startswith(f"✅ {name} :"), shown
        for used in set(graded.callees(name) if name in _exercise_names(tp) else ()) & set(wrong):  # checked with a right `used`, and told of it
            assert f"`{name}` utilise votre `{used}`, qui ne passe pas sa vérification" in shown, shown
    assert seen == set(graded.specs)


@pytest.mark.slow
@pytest.mark.parametrize("tp", tp_params())
def test_a_student_with_three_typical_mistakes_reads_each_diagnosis_once(tp, student_env):
    """Run in a student's environment (the kit, no reference): each mistake gets the grader's
    French diagnosis in a few lines, at once; a function that uses a wrong one is checked with a right
    one in its place (the feedback's verdict) and says which one of the student's fails."""
    mistakes = catalogue(tp).TRIAL
    nb = run_notebook(_trial_notebook(tp, mistakes), student_env, allow_errors=True)
    _read_checks(tp, nb, mistakes, getattr(catalogue(tp), "TRIAL_TRAINING", None))  # a TP may have no training
    crash = getattr(catalogue(tp), "TRIAL_CRASH", None)
    if crash:  # the training cell itself names the function that raised, before its traceback
        training = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "training")
        assert crash in "".join(o.get("text", "") for o in training.outputs if o.output_type == "stream")
