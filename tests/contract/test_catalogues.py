"""Each TP's catalogue of student code: every wrong one rejected by its own check with its message,
every correct one given full marks, no other check disturbed."""

from collections import Counter

import pytest

from autograder import selfcheck
from conftest import TPS, assignment, catalogue, student_namespace, tp_params

CATALOGUED = [tp for tp in TPS if catalogue(tp)]

def _cases(kind):
    params = []
    for tp in CATALOGUED:
        for i, entry in enumerate(getattr(catalogue(tp), kind)):
            params.append(pytest.param(tp, *entry, marks=getattr(pytest.mark, tp), id=f"{tp}-{entry[0]}-{i}"))
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
    # the student's self-check, on the same inputs, gives the very verdict the feedback will give
    assert selfcheck.check(assignment(tp), name, namespace, seed=0) == results[name]


@pytest.mark.parametrize("tp,name,source", _cases("CORRECT"))
def test_correct_alternatives_get_full_points(tp, name, source):
    result = assignment(tp).check(name, student_namespace(tp, source))
    assert result.points == result.possible, result.report()
