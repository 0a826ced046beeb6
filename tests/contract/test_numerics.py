"""Numbers every TP's checks must get right: no correct float32 implementation rejected by the tolerance
(each TP's reference over 500 random float32 cases per spec, and a cancellation-prone synthetic one), and
statistical checks that reject a correct implementation less than once in a million."""

import math

import pytest
import torch

from autograder import codec, compare, judge
from autograder.specs import Case, FunctionSpec, SequenceSpec, StatisticalSpec
from conftest import TPS, assignment


def define(source, **extra):
    namespace = {"torch": torch, "math": math, **extra}
    exec(source, namespace)
    return namespace


def _reference_outputs(spec, fn, case):
    inputs = compare.copy(case.inputs)
    if isinstance(spec, SequenceSpec):
        state = {k: inputs[k] for k in spec.state}
        trajectories = tuple([] for _ in spec.compared)
        for step in inputs["steps"]:
            fn(*({**state, **step}[name] for name in spec.arguments))
            for trajectory, name in zip(trajectories, spec.compared):
                trajectory.append(compare.copy(state[name]))
        return trajectories
    out = fn(*(inputs[name] for name in spec.arguments))
    return out if len(spec.outputs) > 1 else (out,)


def _float32_rejections(spec, fn, seeds):
    cases = [c for seed in seeds for c in spec.cases(torch.Generator().manual_seed(seed)) if c.dtype == torch.float32]
    rejected = 0
    for case in cases:
        expected, own = judge._oracle(spec, case)
        got = _reference_outputs(spec, fn, case)
        for unit in compare.units(spec, expected):
            o = compare.unit_value(spec, own, unit) if own else None
            if not compare.close(compare.unit_value(spec, got, unit), compare.unit_value(spec, expected, unit),
                                  case.dtype, spec.tolerance, o):
                rejected += 1
    return len(cases), rejected


FLOAT32_SPECS = [(tp, name) for tp in TPS for name, spec in assignment(tp).specs.items()
                 if isinstance(spec, (FunctionSpec, SequenceSpec)) and not getattr(spec, "accumulates", ())
                 and any(c.dtype == torch.float32 for c in spec.cases(torch.Generator().manual_seed(0)))]


@pytest.mark.parametrize("tp,name", [pytest.param(tp, name, marks=getattr(pytest.mark, tp), id=f"{tp}-{name}")
                                     for tp, name in FLOAT32_SPECS])
def test_the_reference_in_float32_is_never_rejected_over_500_random_cases(tp, name):
    graded = assignment(tp)
    spec, fn = graded.specs[name], getattr(graded.reference, name)
    with torch.no_grad():
        count, rejected = _float32_rejections(spec, fn, range(1000, 1500))
    assert count >= 500 and rejected == 0, f"{rejected} of {count}"


def _batch_norm_spec(std, tolerance=None):
    """Normalise each column of inputs of mean 10 and standard deviation `std` (cancellation in float32)."""
    extra = {} if tolerance is None else {"tolerance": tolerance}
    return FunctionSpec(
        name="normalise", points=1, arguments=("x",), outputs=("y",), **extra,
        cases=lambda g: [Case(label="float32, moyenne 10", dtype=torch.float32,
                              inputs={"x": (10 + std * torch.randn(32, 4, generator=g, dtype=torch.float64)).float()})],
        oracle=lambda a: ((a["x"] - a["x"].mean(0)) / torch.sqrt(a["x"].var(0, unbiased=False) + 1e-5),))


ONE_PASS = ("def normalise(x):\n    m = x.mean(0)\n    v = (x * x).mean(0) - m * m\n"
            "    return (x - m) / torch.sqrt(v + 1e-5)")
TWO_PASS = "def normalise(x):\n    c = x - x.mean(0)\n    return c / torch.sqrt((c * c).mean(0) + 1e-5)"


def test_batch_norm_like_float32_code_is_accepted_where_a_per_element_tolerance_rejects_it():
    from autograder.specs import Tolerance
    strict = Tolerance(norm_rtol32=0.0, oracle_factor=0.0)  # the comparison this kit used before
    two_pass = define(TWO_PASS)["normalise"]
    assert _float32_rejections(_batch_norm_spec(0.1), two_pass, range(500)) == (500, 0)
    assert _float32_rejections(_batch_norm_spec(0.1, strict), two_pass, range(500))[1] > 0
    # E[x²] − E[x]² loses digits to cancellation, but at a spread of 1 it is as good as float32 allows
    assert _float32_rejections(_batch_norm_spec(1.0), define(ONE_PASS)["normalise"], range(500)) == (500, 0)
    wrong = define(TWO_PASS.replace("+ 1e-5", "+ 1e-1"))["normalise"]  # a wrong epsilon still fails
    assert _float32_rejections(_batch_norm_spec(1.0), wrong, range(50))[1] == 50


def test_a_statistical_check_false_rejection_rate_is_below_one_in_a_million():
    for tp in TPS:
        for spec in assignment(tp).specs.values():
            if isinstance(spec, StatisticalSpec):
                assert spec.false_rejection < 1e-6, (tp, spec.name)


@pytest.mark.parametrize("tp,name", [pytest.param(tp, n, marks=getattr(pytest.mark, tp), id=f"{tp}-{n}")
                                     for tp in TPS for n, s in assignment(tp).specs.items()
                                     if isinstance(s, StatisticalSpec)])
def test_a_thousand_draws_of_the_reference_are_all_accepted(tp, name):
    graded = assignment(tp)
    spec, fn = graded.specs[name], getattr(graded.reference, name)
    rejected = 0
    for seed in range(1000):
        for case in spec.cases(torch.Generator().manual_seed(seed)):
            inputs = codec.decode_inputs(codec.encode_inputs(case.inputs))
            rejected += bool(spec.properties(case.inputs, fn(*(inputs[a] for a in spec.arguments))))
    assert rejected == 0


