"""The TP 9 checks against the reference, the release stubs and catalogues of student code."""

import pytest
import torch

from autograder import checking, probe
from autograder.tp09 import checks
from autograder.tp09.checks import EXERCISES
from conftest import student_namespace
from tp09_catalogue import CORRECT, WRONG

pytestmark = pytest.mark.tp09


def results(namespace):
    return {name: checks.check(name, namespace) for name in EXERCISES}


def test_reference_cells_pass_every_check():
    for name, result in results(student_namespace()).items():
        assert result.points == result.possible, result.report()


def test_release_stubs_fail_every_check(release_nb):
    from autograder.submissions import solutions
    namespace = {"torch": torch}
    for source in solutions(release_nb).values():
        if "def " in source:
            exec(source, namespace)
    for name, result in results(namespace).items():
        assert result.points == 0, result.report()
        assert "pas encore écrite" in result.report()


def test_catalogues_are_large_enough():
    assert len(WRONG) >= 30 and len(CORRECT) >= 15
    assert {name for name, *_ in WRONG} == set(EXERCISES) == {name for name, _ in CORRECT}


@pytest.mark.parametrize("name,source,message", WRONG, ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_wrong_code_is_rejected_by_its_own_check_with_its_message(name, source, message):
    verdicts = results(student_namespace(source))
    assert verdicts[name].points < verdicts[name].possible
    assert message in verdicts[name].report(), verdicts[name].report()
    others = {n: r.report() for n, r in verdicts.items() if n != name and not r.passed}
    assert not others, others


@pytest.mark.parametrize("name,source", CORRECT, ids=[f"{c[0]}-{i}" for i, c in enumerate(CORRECT)])
def test_correct_alternatives_get_full_points(name, source):
    result = checks.check(name, student_namespace(source))
    assert result.points == result.possible, result.report()


def test_partial_credit_counts_each_correct_output():
    source = ("def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
              "    return xIn.T @ dl_s, dl_s.mean(0), dl_s @ w")
    result = checks.check("backward_step", student_namespace(source))
    assert result.points == pytest.approx(result.possible / 3)


def test_loop_costs_part_of_the_points_only():
    source = "def sigma(x):\n    return torch.stack([torch.tanh(v) for v in x])"
    result = checks.check("sigma", student_namespace(source))
    assert 0 < result.points < result.possible
    assert result.points == pytest.approx(result.possible * (1 - checking.LOOP_PENALTY))


def test_each_function_is_graded_with_the_reference_helpers():
    # a wrong dsigma must not cost backward_step or backward_pass their points
    verdicts = results(student_namespace("def dsigma(x):\n    return 1 - x ** 2", "def dloss(v, t):\n    return v - t"))
    assert verdicts["backward_step"].passed and verdicts["backward_pass"].passed
    assert not verdicts["dsigma"].passed and not verdicts["dloss"].passed


def test_missing_function_scores_zero_with_a_message():
    namespace = student_namespace()
    del namespace["forward_pass"]
    result = checks.check("forward_pass", namespace)
    assert result.points == 0 and "n'est pas définie" in result.report()


def _reference_facts(name, seed):
    return probe.observe(checks.plan(name, seed), student_namespace())


def _encoded(t):
    return {"class": "torch.Tensor", "tensor": probe.encode_tensor(t)}


def _forge(facts, **changes):
    """The reference's facts for dloss with each call changed by `changes` (a function of the call)."""
    return {**facts, "calls": [{**call, **{k: f(call) for k, f in changes.items()}} for call in facts["calls"]]}


FORGERIES = {
    "no facts": lambda f: None,
    "not a mapping": lambda f: ["defined", True],
    "empty": lambda f: {},
    "no calls": lambda f: {**f, "calls": []},
    "one call too few": lambda f: {**f, "calls": f["calls"][:-1]},
    "no trace": lambda f: _forge(f, trace=lambda c: None),
    "trace without requires_grad": lambda f: _forge(f, trace=lambda c: {"calls": [], "ops": []}),
    "outputs not encoded": lambda f: _forge(f, outputs=lambda c: [[1.0, 2.0]]),
    "tensor bytes cut short": lambda f: _forge(f, outputs=lambda c: [
        {"class": "torch.Tensor", "tensor": {**c["outputs"][0]["tensor"], "data": ""}}]),
    "huge shape": lambda f: _forge(f, outputs=lambda c: [
        {"class": "torch.Tensor", "tensor": {"dtype": "float64", "shape": [1 << 20, 1 << 20], "data": ""}}]),
    "unknown dtype": lambda f: _forge(f, outputs=lambda c: [
        {"class": "torch.Tensor", "tensor": {**c["outputs"][0]["tensor"], "dtype": "object"}}]),
    "autograd hidden from the trace, wrong values": lambda f: _forge(
        f, outputs=lambda c: [_encoded(torch.zeros(c["outputs"][0]["tensor"]["shape"], dtype=torch.float64))]),
}


@pytest.mark.parametrize("forgery", FORGERIES.values(), ids=FORGERIES.keys())
def test_missing_malformed_or_forged_facts_never_give_points(forgery):
    facts = _reference_facts("dloss", 7)
    assert checks.judge_facts("dloss", 7, facts).points == 1  # the genuine facts, for comparison
    result = checks.judge_facts("dloss", 7, forgery(facts))
    assert result.points == 0, result.report()


def test_facts_replayed_from_another_seed_give_no_points():
    """Inputs are drawn at grading time: outputs computed on other inputs are simply wrong."""
    assert checks.judge_facts("backward_step", 2, _reference_facts("backward_step", 1)).points == 0


def test_training_facts_are_read_defensively():
    for facts in (None, {}, {"variables": None}, {"variables": {"w1": {"class": "torch.Tensor", "tensor": {}}}}):
        assert checks.judge_facts("training", 0, facts).points == 0


def test_reference_stand_ins_do_not_outlive_the_probe():
    import gc
    import types
    checks.check("backward_pass", student_namespace())
    assert not [o for o in gc.get_objects()
                if type(o) is types.FunctionType and o.__code__.co_filename == "<reference>"]


def test_the_function_being_graded_never_reaches_the_kernel_as_reference_code():
    for name in EXERCISES:
        request = checks.plan(name, 0)
        assert f"def {name}(" not in request["stand_ins"]
        assert set(checks.callees(name)) <= set(EXERCISES[:EXERCISES.index(name)])  # only exercises graded before


def test_grade_prints_the_verdict_and_returns_points(capsys):
    points = checks.grade("dloss", student_namespace("def dloss(v, t):\n    return v - t"))
    out = capsys.readouterr()
    assert points == 0 and "facteur 2" in out.out and out.err == ""


def test_student_prints_and_warnings_stay_out_of_the_cell_output(capsys):
    source = ("import sys, warnings\ndef sigma(x):\n    print('debug', file=sys.stderr)\n"
              "    warnings.warn('attention')\n    print('trace')\n    return torch.tanh(x)")
    assert checks.grade("sigma", student_namespace(source)) == 1
    out = capsys.readouterr()
    assert out.err == "" and "trace" not in out.out


def test_has_python_loop_sees_every_kind_of_loop():
    def comprehension(x):
        return [v for v in x]

    def while_loop(x):
        while x:
            x -= 1

    def vectorised(x):
        return (x ** 2).sum()
    assert probe.has_python_loop(comprehension) and probe.has_python_loop(while_loop)
    assert not probe.has_python_loop(vectorised)


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained():
    """Facts of the reference training, run as the notebook does."""
    namespace = student_namespace()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    mean, std = Xtr.mean(0), Xtr.std(0)
    std[std == 0] = 1
    xtr = torch.tensor((Xtr - mean) / std, dtype=torch.float32)
    xte = torch.tensor((Xte - mean) / std, dtype=torch.float32)
    ttr = torch.nn.functional.one_hot(torch.tensor(ytr), 10).float() * 0.9
    tte = torch.nn.functional.one_hot(torch.tensor(yte), 10).float() * 0.9
    g = torch.Generator().manual_seed(0)
    p = {"w1": torch.empty(50, 64).normal_(0, 0.1, generator=g), "b1": torch.empty(50).normal_(0, 0.1, generator=g),
         "w2": torch.empty(10, 50).normal_(0, 0.1, generator=g), "b2": torch.empty(10).normal_(0, 0.1, generator=g)}
    for _ in range(1000):
        grads = [torch.zeros_like(v) for v in p.values()]
        out = namespace["forward_pass"](p["w1"], p["b1"], p["w2"], p["b2"], xtr)
        namespace["backward_pass"](*p.values(), ttr, xtr, *out, *grads)
        p = {k: v - 0.2 / len(xtr) * g_ for (k, v), g_ in zip(p.items(), grads)}
    x2 = namespace["forward_pass"](*p.values(), xte)[3]
    accuracy = (x2.argmax(1) == tte.argmax(1)).double().mean().item()
    return {**p, "test_input": xte, "test_target": tte, "trainAccuracy": 0.99, "testAccuracy": accuracy}


def test_trained_reference_gets_full_training_points(trained):
    assert trained["testAccuracy"] >= 0.97
    result = checks.judge_training(trained)
    assert result.points == result.possible, result.report()


def test_untrained_network_gets_no_training_points(trained):
    g = torch.Generator().manual_seed(1)
    facts = {**trained, "w1": torch.randn(50, 64, generator=g) * 1e-6, "w2": torch.randn(10, 50, generator=g) * 1e-6}
    facts["testAccuracy"] = 0.1
    result = checks.judge_training(facts)
    assert result.points == 0 and "trop basse" in result.report()


def test_percentages_instead_of_fractions_cost_points(trained):
    result = checks.judge_training({**trained, "testAccuracy": 100 * trained["testAccuracy"]})
    assert 0 < result.points < result.possible and "fractions entre 0 et 1" in result.report()


def test_training_not_run_scores_zero():
    result = checks.check("training", student_namespace())
    assert result.points == 0 and "variables absentes" in result.report()


def test_diverged_training_scores_zero(trained):
    result = checks.judge_training({**trained, "w1": trained["w1"] * float("nan")})
    assert result.points == 0 and "NaN" in result.report()
