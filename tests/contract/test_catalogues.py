"""Each TP's catalogue of student code: every wrong one rejected by its own check with its message,
every correct one given full marks, no other check disturbed."""

from collections import Counter

import pytest

from autograder import selfcheck
from conftest import TPS, assignment, catalogue, student_namespace, tp_params

CATALOGUED = [tp for tp in TPS if catalogue(tp)]

def _cases(kind, fields=None):
    params = []
    for tp in CATALOGUED:
        for i, entry in enumerate(getattr(catalogue(tp), kind)):
            params.append(pytest.param(tp, *entry[:fields], marks=getattr(pytest.mark, tp),
                                       id=f"{tp}-{kind.lower()}-{entry[0]}-{i}"))
    return params


def verdicts(tp, namespace):
    graded = assignment(tp)
    return {name: graded.check(name, namespace) for name in graded.exercises if name in graded.specs}


WRONG_PER_FUNCTION, CORRECT_PER_FUNCTION = 4, 2  # the floor grows with the TP (docs/adding-a-tp.md)


@pytest.mark.parametrize("tp", tp_params())
def test_every_graded_function_has_its_share_of_the_catalogue(tp):
    assert catalogue(tp), f"{tp} needs tests/{tp}/{tp}_catalogue.py"
    graded = [n for n in assignment(tp).exercises if n in assignment(tp).specs]
    wrong = Counter(name for name, *_ in catalogue(tp).WRONG)
    correct = Counter(name for name, _ in catalogue(tp).CORRECT)
    assert set(wrong) == set(graded) == set(correct), "every graded function, and only they"
    short = {n: (wrong[n], correct[n]) for n in graded if wrong[n] < WRONG_PER_FUNCTION or correct[n] < CORRECT_PER_FUNCTION}
    assert not short, f"(wrong, correct) below ({WRONG_PER_FUNCTION}, {CORRECT_PER_FUNCTION}): {short}"


@pytest.mark.parametrize("tp,name,source,message", _cases("WRONG"))
def test_wrong_code_is_rejected_by_its_own_check_with_its_message(tp, name, source, message):
    namespace = student_namespace(tp, source)
    results = verdicts(tp, namespace)
    assert results[name].points < results[name].possible
    assert message in results[name].report(), results[name].report()
    others = {n: r.report() for n, r in results.items() if n != name and not r.passed}
    assert not others, others


@pytest.mark.parametrize("tp,name,source", _cases("CORRECT"))
def test_correct_alternatives_get_full_points(tp, name, source):
    result = assignment(tp).check(name, student_namespace(tp, source))
    assert result.points == result.possible, result.report()


def _first_mistake(tp, name):
    return next(source for n, source, _ in catalogue(tp).WRONG if n == name)


@pytest.mark.parametrize("tp,name,source", _cases("WRONG", 2) + _cases("CORRECT"))
def test_the_self_check_says_what_the_feedback_will_say(tp, name, source):
    """With every other exercise the function uses wrong too (each its first catalogued mistake): the
    grader stands the reference in for them, the self-check the check's own version, and names them."""
    graded = assignment(tp)
    namespace = student_namespace(tp, *(_first_mistake(tp, used) for used in graded.stand_ins(name)), source)
    feedback, result = graded.check(name, namespace, seed=0), selfcheck.check(graded, name, namespace, seed=0)
    assert result.points == feedback.points
    assert [_mistake(r) for r in result.remarks[:len(feedback.remarks)]] == [_mistake(r) for r in feedback.remarks]


def _mistake(remark):
    """What a remark says is wrong. An error raised inside a stand-in, which the function called with wrong
    inputs, is worded by whichever stood in (the reference's `+=` or the oracle's matrix product): the
    error itself, on that case, is the diagnosis."""
    error = remark.text.startswith("erreur à l'exécution") and "Error" in remark.text
    return ("erreur à l'exécution", remark.case) if error else (remark.text, remark.output, remark.case, remark.values)
