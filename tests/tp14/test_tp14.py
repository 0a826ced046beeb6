"""What is special to TP 14: the twin sets the notebook and the grader both draw; a training judged on the gradients
the student's functions give (`autograder.tp14.training`), so that each catalogued mistake that computes something
else than torch costs the training its points; the structures the built cases need on every draw; and float32
code checked against torch's own float32 results on random cases (softmax at ±1000, layer norm at mean 10, the
whole block)."""

import math

import nbformat
import pytest
import torch

from autograder import compare, data, judge
from autograder.tp14 import checks
from conftest import solution_sources, source_path, student_namespace, training_verdict
from tp14_catalogue import CORRECT, WRONG

# refusals of the policy: the values are torch's, the training with them is torch's
POLICY = ("fait le travail", "utilise autograd", "boucle Python détectée", "F.scaled_dot_product_attention",
          "F.layer_norm", "F.embedding")
# mistakes the training cannot show: its logits are never far enough apart for a softmax without the maximum
# subtracted (or with the whole tensor's) to overflow, its heads have d = dv = 8, and it uses both rows of its
# embedding (ids.max() + 1 = num)
UNSEEN_BY_THE_TRAINING = ("débordement sur de grands logits", "le maximum se retire de chaque ligne",
                          "d est la taille des requêtes et des clés", "la table a num lignes")


def _training(name: str, source: str):
    """The training's verdict with this one answer instead of the reference's."""
    return training_verdict("tp14", {name: source})


@pytest.mark.parametrize("name,source,message", [
    pytest.param(name, source, message, id=f"{name}-{i}") for i, (name, source, message) in enumerate(WRONG)
    if not any(fragment in message for fragment in POLICY + UNSEEN_BY_THE_TRAINING)])
def test_a_catalogued_mistake_makes_the_training_lose_its_points(name, source, message):
    result = _training(name, source)
    assert result.points <= 1 + 1e-9, result.report()


def test_the_reference_training_gets_its_points_and_a_correct_alternative_keeps_them():
    """The reference, and one correct alternative of each function at once (float32 rounding differs)."""
    assert _training("softmax", solution_sources("tp14")["softmax"]).points == 3
    firsts = {}
    for name, source in CORRECT:
        firsts.setdefault(name, source)
    result = training_verdict("tp14", firsts)
    assert result.points == 3, result.report()


def _notebook_twin_sets():
    """The notebook's own `ensembles_jumeaux`, as its cell defines it."""
    nb = nbformat.read(source_path("tp14"), as_version=4)
    cell = next(c for c in nb.cells if c.cell_type == "code" and "def ensembles_jumeaux" in c.source)
    source = cell.source[cell.source.index("def ensembles_jumeaux"):cell.source.index("\n\n\ntest_sets")]
    namespace = {"torch": torch}
    exec(source, namespace)  # noqa: S102 - the course's notebook
    return namespace["ensembles_jumeaux"]


@pytest.mark.parametrize("size", [4, 8, 16])
def test_the_notebook_draws_the_twin_sets_the_grader_draws_and_each_is_a_twin_set(size):
    _, labels = data.digits_test_set()
    ours = data.twin_sets(labels, 300, torch.Generator().manual_seed(3), size)
    theirs = _notebook_twin_sets()(labels, 300, torch.Generator().manual_seed(3), size)
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    sets, twins = ours
    digits = labels[sets]
    assert sets.shape == (300, size) and bool(((twins >= 1) & (twins < size)).all())
    assert bool((digits.gather(1, twins[:, None])[:, 0] == digits[:, 0]).all())
    counts = torch.stack([(digits == c).sum(dim=1) for c in range(10)], dim=1)
    assert bool(((counts == 0) | (counts == 2)).all()) and bool(((counts == 2).sum(dim=1) == size // 2).all())
    assert len({tuple(s) for s in sets.sort(dim=1).values.tolist()}) == 300  # two images of a digit: never the same one
    assert all(len(set(s)) == size for s in sets.tolist())


def test_every_draw_has_the_structures_the_mistakes_need():
    """Causal cases have 4 positions or more (and one square case has none); Tq ≠ Tk and d ≠ dv somewhere; layer
    norms have 3-D inputs, D = 2 and a large eps; the backward pass's xhat and inv_std are those of its x; ids hold
    a repeated value and never the last id; heads and positions are several."""
    for seed in range(200):
        gen = torch.Generator().manual_seed(seed)
        attention = checks.ATTENTION_FORWARD.cases(gen)
        causal = [c for c in attention if c.inputs["causal"]]
        assert causal and all(c.inputs["q"].shape[-2] >= 4 for c in causal)
        assert any(not c.inputs["causal"] and c.inputs["q"].shape[-2] == c.inputs["k"].shape[-2] > 1 for c in attention)
        assert any(c.inputs["q"].shape[-2] != c.inputs["k"].shape[-2] for c in attention)
        assert all(c.inputs["q"].shape[-1] != c.inputs["v"].shape[-1] for c in attention)
        for case in checks.ATTENTION_BACKWARD.cases(gen):
            assert checks._is_causal(case.inputs["a"]) == (case.inputs["q"].shape[-2] == case.inputs["k"].shape[-2] >= 4
                                                             and case.inputs["a"][..., 0, 1].abs().max() == 0)
        assert max(c.inputs["s"].abs().max() for c in checks.SOFTMAX_SPEC.cases(gen)) > 500
        norms = checks.LAYER_NORM_FORWARD.cases(gen)
        assert any(c.inputs["x"].dim() == 3 for c in norms) and any(c.inputs["x"].shape[-1] == 2 for c in norms)
        assert any(c.inputs["eps"] >= 0.1 for c in norms)
        for case in checks.LAYER_NORM_BACKWARD.cases(gen):
            a = case.inputs
            assert a["x"].shape[-1] >= 3 and a["xhat"].dtype == a["x"].dtype == case.dtype
            assert torch.equal(a["inv_std"], checks._statistics(a["x"], a["eps"])[1])
        for case in checks.EMBEDDING_BACKWARD.cases(gen):
            ids = case.inputs["ids"].reshape(-1)
            assert len(set(ids.tolist())) < len(ids) and int(ids.max()) < case.inputs["num"] - 1
        assert any(c.inputs["h"] > 1 and c.inputs["x"].shape[1] > 1 for c in checks.SPLIT_HEADS.cases(gen))
        mhas = checks.MHA_FORWARD.cases(gen)
        assert any(c.inputs["causal"] for c in mhas) and all(c.inputs["x"].shape[1] > 1 for c in mhas if c.inputs["causal"])


# ------------------------------------------------------------------ float32 against torch's own float32 results

def _logits(gen, scale):
    shape = [int(torch.randint(1, 5, (), generator=gen)) for _ in range(2)] + [int(torch.randint(1, 40, (), generator=gen))]
    return checks.randn(gen, *shape, scale=scale).float()


def _random_cases(name: str, count: int) -> list:
    """`count` random float32 cases of a spec: logits ×3 and ×1000; attention causal or not, Tq ≠ Tk when not; layer
    norms at mean 10 with D = 2, 5 and 32; blocks of D = 6 to 24, half of them causal."""
    gen, cases = torch.Generator().manual_seed(14), []
    for i in range(count):
        if name in ("softmax", "softmax_backward"):
            s = _logits(gen, 1000.0 if i % 2 else 3.0).double()
            inputs = {"s": s} if name == "softmax" else {"dl_p": checks.randn(gen, *s.shape), "p": torch.softmax(s, -1)}
        elif name.startswith("attention"):
            causal = i % 2 == 1
            b, h, tq, d, dv = (int(torch.randint(1, n, (), generator=gen)) for n in (4, 4, 12, 17, 17))
            tk = tq if causal else int(torch.randint(1, 12, (), generator=gen))
            qkv = checks._qkv(gen, b, h, tq, tk, d, dv)
            inputs = {**qkv, "causal": causal}
            if name == "attention_backward":
                a = checks._weights(qkv["q"], qkv["k"], causal)
                inputs = {"dl_out": checks.randn(gen, *a.shape[:-1], dv), **qkv, "a": a}
        elif name.startswith("layer_norm"):
            d = (2, 5, 32)[i % 3]
            shape = (int(torch.randint(1, 5, (), generator=gen)), int(torch.randint(1, 9, (), generator=gen)), d)
            x = checks._features(gen, shape, 10.0, 1.0)
            if name == "layer_norm_forward":
                inputs = {"x": x, "gamma": 1 + checks.randn(gen, d, scale=0.3), "beta": checks.randn(gen, d), "eps": 1e-5}
            else:
                xhat, inv_std = checks._statistics(x.float(), 1e-5)
                inputs = {"dl_y": checks.randn(gen, *shape), "gamma": 1 + checks.randn(gen, d, scale=0.3),
                          "xhat": xhat, "inv_std": inv_std, "x": x.float(), "eps": 1e-5}
        else:
            h = (1, 2, 3)[i % 3]
            d, t, b = h * int(torch.randint(2, 9, (), generator=gen)), int(torch.randint(1, 9, (), generator=gen)), 2
            causal = i % 2 == 1 and t > 1
            params = checks._block_params(gen, d, int(torch.randint(4, 33, (), generator=gen)))
            x = checks.randn(gen, b, t, d)
            if name == "block_forward":
                inputs = {"params": params, "x": x, "h": h, "causal": causal}
            else:
                cache = checks._block_oracle({"params": params, "x": x, "h": h, "causal": causal})[1]
                inputs = {"params": params, "dl_y": checks.randn(gen, b, t, d), "cache": cache}
        cases.append(checks.Case(label=f"aléatoire {i}", inputs=checks.cast(inputs, torch.float32), dtype=torch.float32))
    return cases


FLOAT32 = [("softmax", 300), ("softmax_backward", 300), ("attention_forward", 300), ("attention_backward", 300),
           ("layer_norm_forward", 300), ("layer_norm_backward", 300), ("block_forward", 150), ("block_backward", 150)]


@pytest.mark.parametrize("name,count", FLOAT32)
def test_no_correct_float32_code_is_rejected_on_random_cases(name, count):
    """The reference and every correct formulation of the catalogue, compared as the grader compares (with the
    oracle's own float32 result): zero rejections."""
    spec = checks.ASSIGNMENT.specs[name]
    functions = [student_namespace("tp14", source)[name] for n, source in CORRECT if n == name]
    functions.append(getattr(checks.ASSIGNMENT.reference, name))
    rejected = []
    with torch.no_grad():
        for case in _random_cases(name, count):
            expected, own = judge._oracle(spec, case)
            for i, fn in enumerate(functions):
                inputs = compare.copy(case.inputs)
                got = fn(*(inputs[k] for k in spec.arguments))
                got = got if len(spec.outputs) > 1 else (got,)
                for unit in compare.units(spec, expected):
                    o = compare.unit_value(spec, own, unit) if own else None
                    if not compare.close(compare.unit_value(spec, got, unit), compare.unit_value(spec, expected, unit),
                                          case.dtype, spec.tolerance, o):
                        rejected.append((i, case.label, unit.name))
    assert not rejected, rejected[:5]


def test_permuting_the_candidates_permutes_the_scores_of_torchs_network():
    """What the notebook's permutation cell shows, on the grader's network: no position information."""
    gen = torch.Generator().manual_seed(0)
    d = 32
    params = {**checks._block_params(gen, d, 64), "we": checks.randn(gen, d, 64, scale=1 / 8), "be": torch.zeros(d,
              dtype=torch.float64), "seg": checks.randn(gen, 2, d), "lnf_g": torch.ones(d, dtype=torch.float64),
              "lnf_b": torch.zeros(d, dtype=torch.float64), "w_out": checks.randn(gen, d, scale=d ** -0.5),
              "b_out": torch.zeros(1, dtype=torch.float64)}
    x = data.twin_test_sets()[0][:20]
    order = torch.tensor([0, 3, 1, 7, 2, 6, 4, 5])
    with torch.no_grad():
        scores = checks.training.scores(params, x)
        assert torch.allclose(scores[:, order], checks.training.scores(params, x[:, order]), atol=1e-12)
        assert not math.isclose(scores[0, 1].item(), scores[0, 2].item())
