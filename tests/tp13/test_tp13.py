"""What is special to TP 13: most of its mistakes still train a network that classifies, so the training is also
judged on what the student's functions computed (`autograder.tp13.training`): each catalogued mistake that
computes something else than torch costs the training its points; and the built cases expose the structures
the mistakes need on every draw."""

import pytest
import torch

from autograder.tp13 import checks
from conftest import solution_sources, training_verdict
from tp13_catalogue import CORRECT, WRONG

# refusals of the policy: the values are torch's, the training with them is torch's
POLICY = ("fait le travail", "utilise autograd", "générateur global", "modifiés en place", "F.batch_norm",
          "F.layer_norm", "F.dropout")


def _training(name: str, source: str):
    """The training's verdict with this one answer instead of the reference's."""
    return training_verdict("tp13", {name: source})


@pytest.mark.parametrize("name,source,message", [
    pytest.param(name, source, message, id=f"{name}-{i}") for i, (name, source, message) in enumerate(WRONG)
    if not any(fragment in message for fragment in POLICY)])
def test_a_catalogued_mistake_makes_the_training_lose_its_points(name, source, message):
    result = _training(name, source)
    assert result.points <= 1 + 1e-9, result.report()


@pytest.mark.parametrize("name,source", [pytest.param(name, source, id=f"{name}-{i}")
                                         for i, (name, source) in enumerate(CORRECT)])
def test_a_correct_alternative_keeps_the_training_points(name, source):
    result = _training(name, source)
    assert result.points == 3, result.report()


def test_the_reference_training_gets_its_points():
    result = _training("batchnorm_forward", solution_sources("tp13")["batchnorm_forward"])
    assert result.points == 3, result.report()


def test_every_draw_has_the_structures_the_mistakes_need():
    """Batches are never square; the backward pass's batches have three examples or more and its xhat and inv_std
    are those of its x in its own dtype; float32 forward inputs of mean 10 come with N >= 8; dropout masks hold
    kept and dropped units; Adam has weight decay in one case and gradients of 1e-3 in another."""
    for seed in range(200):
        gen = torch.Generator().manual_seed(seed)
        for case in checks.BATCHNORM_FORWARD.cases(gen):
            x = case.inputs["x"]
            assert x.shape[0] != x.shape[1] and x.shape[0] >= 2
            if case.dtype == torch.float32 and x.mean() > 5:
                assert x.shape[0] >= 8, case.label
        for case in checks.BATCHNORM_BACKWARD.cases(gen):
            a = case.inputs
            assert a["x"].shape[0] >= 3 and a["xhat"].dtype == a["x"].dtype == case.dtype
            centred = a["x"] - a["x"].mean(dim=0)
            assert torch.equal(a["inv_std"], 1 / torch.sqrt((centred ** 2).mean(dim=0) + a["eps"]))
        for case in [*checks.DROPOUT_FORWARD.cases(gen), *checks.DROPOUT_BACKWARD.cases(gen)]:
            mask = case.inputs["mask"]
            assert (mask == 0).any() and (mask == 1).any(), case.label
        adams = checks.ADAM_STEP.cases(gen)
        assert any(c.inputs["steps"][0]["weight_decay"] > 0 for c in adams)
        assert any(max(g.abs().max() for g in c.inputs["steps"][0]["grads"].values()) < 1e-2 for c in adams)


def _random_float32_cases(spec, count: int) -> list:
    """`count` random float32 cases of a batch-norm spec: N from 3 (8 with inputs of mean 10 in the forward pass,
    where a one-pass variance is right from 8), D from 1 to 20, means 0 or 10, spreads 1 or 0.1 (1 only for the
    forward pass at mean 10), eps 1e-5."""
    gen, cases = torch.Generator().manual_seed(13), []
    forward = spec is checks.BATCHNORM_FORWARD
    for i in range(count):
        mean = 10.0 if i % 2 else 0.0
        std = 1.0 if forward and mean else (0.1 if i % 4 == 3 else 1.0)
        n = int(torch.randint(8 if forward and mean else 3, 65, (), generator=gen))
        d = int(torch.randint(1, 21, (), generator=gen))
        x = checks._batch(gen, n, d, mean, std).float()
        gamma = (1.5 + checks.randn(gen, d, scale=0.3)).float()
        if forward:
            inputs = {"x": x, "gamma": gamma, "beta": checks.randn(gen, d).float(), "eps": 1e-5}
        else:
            xhat, inv_std = checks._statistics(x, 1e-5)
            inputs = {"dl_y": checks.randn(gen, n, d).float(), "gamma": gamma, "xhat": xhat, "inv_std": inv_std,
                      "x": x, "eps": 1e-5}
        cases.append(checks.Case(label=f"N = {n}, D = {d}, moyenne {mean}, écart-type {std}", inputs=inputs,
                                 dtype=torch.float32))
    return cases


@pytest.mark.parametrize("name", ["batchnorm_forward", "batchnorm_backward"])
def test_no_correct_float32_batch_norm_is_rejected_on_500_random_cases(name):
    """Every correct formulation of the catalogue (one pass, var_mean, staged backward …) and the reference, on
    500 random float32 cases, half of them of mean 10: zero rejections."""
    from autograder import compare, judge
    from conftest import student_namespace
    spec = checks.ASSIGNMENT.specs[name]
    functions = [student_namespace("tp13", source)[name] for n, source in CORRECT if n == name]
    functions.append(getattr(checks.ASSIGNMENT.reference, name))
    cases = _random_float32_cases(spec, 500)
    rejected = []
    with torch.no_grad():
        for case in cases:
            expected, own = judge._oracle(spec, case)
            for i, fn in enumerate(functions):
                got = fn(*(compare.copy(case.inputs)[k] for k in spec.arguments))
                if not all(compare.close(g, e, torch.float32, spec.tolerance, o)
                           for g, e, o in zip(got, expected, own)):
                    rejected.append((i, case.label))
    assert len(cases) == 500 and not rejected, rejected[:5]
