"""What is special to TP 9: partial credit, the loop penalty, helpers graded once, its training verdict."""

import nbformat
import pytest
import torch

from autograder.submissions import fill
from autograder.tp09 import checks
from conftest import release_path, solution_sources, student_namespace, validate

ASSIGNMENT = checks.ASSIGNMENT


def namespace(*sources):
    return student_namespace("tp09", *sources)


def test_partial_credit_counts_each_correct_output():
    source = ("def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
              "    return xIn.T @ dl_s, dl_s.mean(0), dl_s @ w")
    result = ASSIGNMENT.check("backward_step", namespace(source))
    assert result.points == pytest.approx(result.possible / 3)


def test_loop_costs_part_of_the_points_only():
    result = ASSIGNMENT.check("sigma", namespace("def sigma(x):\n    return torch.stack([torch.tanh(v) for v in x])"))
    assert result.points == pytest.approx(result.possible * (1 - checks.POLICY.loop_penalty))


def test_each_function_is_graded_with_the_reference_helpers():
    # a wrong dsigma must not cost backward_step or backward_pass their points
    ns = namespace("def dsigma(x):\n    return 1 - x ** 2", "def dloss(v, t):\n    return v - t")
    verdicts = {name: ASSIGNMENT.check(name, ns) for name in ("dsigma", "dloss", "backward_step", "backward_pass")}
    assert verdicts["backward_step"].passed and verdicts["backward_pass"].passed
    assert not verdicts["dsigma"].passed and not verdicts["dloss"].passed


def test_missing_function_scores_zero_with_a_message():
    ns = namespace()
    del ns["forward_pass"]
    result = ASSIGNMENT.check("forward_pass", ns)
    assert result.points == 0 and "n'est pas définie" in result.report()


def test_grade_prints_the_verdict_and_returns_points(capsys):
    points = checks.grade("dloss", namespace("def dloss(v, t):\n    return v - t"))
    out = capsys.readouterr()
    assert points == 0 and "facteur 2" in out.out and out.err == ""


@pytest.mark.slow
def test_visible_checks_flag_a_wrong_function_under_validate(student_env):
    answers = {**solution_sources("tp09"), "dloss": "def dloss(v, t):\n    return v - t"}
    path = student_env / "wrong.ipynb"
    nbformat.write(fill(nbformat.read(release_path("tp09"), as_version=4), answers), path)
    report = validate(path)
    assert "VALIDATION FAILED" in report and "il manque le facteur 2" in report


# ---------------------------------------------------------------- training


@pytest.fixture(scope="module")
def trained():
    """Variables of the reference training, run as the notebook does."""
    ns = namespace()
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
    mean, std = Xtr.mean(0), Xtr.std(0)
    std[std == 0] = 1
    xtr = torch.tensor((Xtr - mean) / std, dtype=torch.float32)
    xte = torch.tensor((Xte - mean) / std, dtype=torch.float32)
    ttr = torch.nn.functional.one_hot(torch.tensor(ytr), 10).float() * 0.9
    g, epsilon, eta = torch.Generator().manual_seed(0), 0.05, 0.12 / len(xtr)  # the notebook's settings
    p = {"w1": torch.empty(50, 64).normal_(0, epsilon, generator=g), "b1": torch.empty(50).normal_(0, epsilon, generator=g),
         "w2": torch.empty(10, 50).normal_(0, epsilon, generator=g), "b2": torch.empty(10).normal_(0, epsilon, generator=g)}
    for _ in range(1000):
        grads = [torch.zeros_like(v) for v in p.values()]
        out = ns["forward_pass"](p["w1"], p["b1"], p["w2"], p["b2"], xtr)
        ns["backward_pass"](*p.values(), ttr, xtr, *out, *grads)
        p = {k: v - eta * g_ for (k, v), g_ in zip(p.items(), grads)}
    x2 = ns["forward_pass"](*p.values(), xte)[3]
    accuracy = (x2.argmax(1) == torch.tensor(yte)).double().mean().item()
    return {**p, "trainAccuracy": 0.99, "testAccuracy": accuracy}


def said(remarks) -> str:
    return " ".join(r.for_student() for r in remarks)


def test_trained_reference_gets_full_training_points(trained):
    assert trained["testAccuracy"] >= 0.97
    score, messages = checks.TRAINING.judge(trained)
    assert score == 1, messages


def test_untrained_network_gets_no_training_points(trained):
    g = torch.Generator().manual_seed(1)
    values = {**trained, "w1": torch.randn(50, 64, generator=g) * 1e-6, "w2": torch.randn(10, 50, generator=g) * 1e-6,
              "testAccuracy": 0.1}
    score, messages = checks.TRAINING.judge(values)
    assert score == 0 and "trop basse" in said(messages)


def test_percentages_instead_of_fractions_cost_points(trained):
    score, messages = checks.TRAINING.judge({**trained, "testAccuracy": 100 * trained["testAccuracy"]})
    assert 0 < score < 1 and "fractions entre 0 et 1" in said(messages)


def test_training_not_run_scores_zero():
    result = ASSIGNMENT.check("training", namespace())
    assert result.points == 0 and "variables absentes" in result.report()


def test_diverged_training_scores_zero(trained):
    score, messages = checks.TRAINING.judge({**trained, "w1": trained["w1"] * float("nan")})
    assert score == 0 and "NaN" in said(messages)
