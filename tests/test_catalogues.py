"""Each TP's catalogue of student code: every wrong one rejected by its own check with its message,
every correct one given full marks, no other check disturbed."""

import importlib
from pathlib import Path

import pytest

from autograder import selfcheck
from conftest import TPS, assignment, student_namespace

HERE = Path(__file__).resolve().parent
CATALOGUED = [tp for tp in TPS if (HERE / f"{tp}_catalogue.py").exists()]


def catalogue(tp):
    return importlib.import_module(f"{tp}_catalogue")


def _cases(kind):
    params = []
    for tp in CATALOGUED:
        for i, entry in enumerate(getattr(catalogue(tp), kind)):
            params.append(pytest.param(tp, *entry, marks=getattr(pytest.mark, tp), id=f"{tp}-{entry[0]}-{i}"))
    return params


def verdicts(tp, namespace):
    graded = assignment(tp)
    return {name: graded.check(name, namespace) for name in graded.exercises if name in graded.specs}


def test_every_tp_has_a_large_enough_catalogue():
    assert CATALOGUED == TPS, "each TP needs tests/<tp>_catalogue.py"
    for tp in TPS:
        wrong, correct = catalogue(tp).WRONG, catalogue(tp).CORRECT
        assert len(wrong) >= 40 and len(correct) >= 20, tp
        graded = set(assignment(tp).exercises) & set(assignment(tp).specs)
        assert {name for name, *_ in wrong} == graded == {name for name, _ in correct}, tp


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
