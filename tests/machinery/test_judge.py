"""The machinery on synthetic specs: values beyond tensors, every kind of check, per-spec policy,
stand-ins with their imports, and a float32 comparison that rejects no correct implementation."""

import math
import types

import pytest
import torch

from autograder import codec, facts, judge, probe
from autograder.assignment import Assignment, request
from autograder.codec import Seed
from autograder.specs import (Case, Forbidden, FunctionSpec, Mistake, Policy, ScenarioSpec, SequenceSpec,
                              StatisticalSpec, VariablesSpec)


def check(spec, namespace, seed=0, stand_ins=""):
    cases = spec.cases(torch.Generator().manual_seed(seed))
    facts = probe.observe(request(spec, cases, stand_ins), namespace)
    return judge.judge(spec, cases, facts)


def define(source, **extra):
    namespace = {"torch": torch, "math": math, **extra}
    exec(source, namespace)
    return namespace


# ---------------------------------------------------------------- values beyond tensors

STATS = FunctionSpec(
    name="stats", points=2, arguments=("x", "scale", "names"), outputs=("summary",),
    cases=lambda g: [Case(label="float64", inputs={"x": torch.randn(5, 3, generator=g, dtype=torch.float64),
                                                   "scale": 2.5, "names": ["a", "b"]})],
    oracle=lambda a: ({"mean": float(a["x"].mean()) * a["scale"], "rows": [r.sum() for r in a["x"]],
                       "names": tuple(a["names"]), "count": a["x"].numel()},),
    mistakes=(Mistake(output='summary["mean"]', message="la moyenne n'est pas multipliée par scale.",
                      predict=lambda a, e: float(a["x"].mean())),),
)
STATS_SOURCE = ("def stats(x, scale, names):\n"
                "    return {'mean': x.mean().item() * scale, 'rows': list(x.sum(1)), 'names': tuple(names),"
                " 'count': x.numel()}")


def test_dicts_floats_lists_and_strings_are_compared_leaf_by_leaf():
    assert check(STATS, define(STATS_SOURCE)).passed
    wrong = STATS_SOURCE.replace(".item() * scale", ".item()")
    result = check(STATS, define(wrong))
    assert 0 < result.points < result.possible and "pas multipliée par scale" in result.report()
    renamed = check(STATS, define(STATS_SOURCE.replace("'count'", "'n'")))
    assert 'summary["count"]` absent' in renamed.report() and renamed.points == 1.75  # 9 leaves, 1 wrong: 16/9 on the quarter-point grid


def test_a_float_where_a_tensor_is_expected_is_named():
    spec = FunctionSpec(name="total", points=1, arguments=("x",), outputs=("total",),
                        cases=lambda g: [Case(label="float64", inputs={"x": torch.ones(3, dtype=torch.float64)})],
                        oracle=lambda a: (a["x"].sum(),))
    result = check(spec, define("def total(x):\n    return x.sum().item()"))
    assert result.points == 0 and "un tenseur torch était attendu, obtenu un nombre (float)" in result.report()


def test_codec_round_trips_plain_values_and_refuses_forgeries():
    value = {"a": [1, 2.5, float("nan"), float("-inf"), None, True, "texte"], "t": (torch.arange(3),),
             "g": Seed(7)}
    back = codec.decode(codec.encode(value))
    assert back["a"][:2] == [1, 2.5] and math.isnan(back["a"][2]) and back["a"][3] == -math.inf
    assert back["a"][4:] == [None, True, "texte"] and torch.equal(back["t"][0], torch.arange(3))
    assert back["g"] == Seed(7) and isinstance(codec.decode(codec.encode(Seed(7)), generators=True), torch.Generator)
    assert isinstance(codec.decode(codec.encode(object())), codec.Foreign)
    deep = []
    for _ in range(20):
        deep = [deep]
    assert isinstance(codec.decode(codec.encode(deep)), list)  # cut at the depth limit, named only
    forged = [{"list": [{"int": 1}], "length": 2}, {"int": 2 ** 70}, {"float": "1e999x"}, {"str": "x" * 10_000},
              {"dict": [[1, {"none": True}]], "length": 1}, {"tensor": {"dtype": "float64", "shape": [1 << 23],
                                                                          "data": ""}}, {"seed": -1}, "text", None]
    for entry in forged:
        with pytest.raises(ValueError):
            codec.decode(entry)


# ---------------------------------------------------------------- stand-ins and classes


def test_stand_ins_carry_the_imports_of_the_reference(tmp_path, monkeypatch):
    package = tmp_path / "synthetic_ref"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "reference.py").write_text(
        "import math\nimport torch.nn.functional as F\n\n\ndef scaled(x):\n    return F.relu(x) * math.pi\n\n\n"
        "def twice(x):\n    return 2 * scaled(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    reference = importlib.import_module("synthetic_ref.reference")
    spec = FunctionSpec(name="twice", points=1, arguments=("x",), outputs=("y",),
                        cases=lambda g: [Case(label="float64", inputs={"x": torch.randn(4, generator=g,
                                                                                        dtype=torch.float64)})],
                        oracle=lambda a: (2 * math.pi * torch.relu(a["x"]),))
    graded = Assignment(reference=reference, specs=[spec])
    assert graded.callees("twice") == ["scaled"] and "import math" in graded.stand_in_source("twice")
    student = define("def scaled(x):\n    raise RuntimeError('pas la mienne')\n\ndef twice(x):\n    return 2 * scaled(x)")
    assert graded.check("twice", student).passed  # the reference `scaled`, with its imports, stood in


def test_loops_are_seen_in_the_methods_of_a_class():
    class Looping:
        def forward(self, x):
            return [v for v in x]

    class Flat:
        def forward(self, x):
            return x * 2

        @property
        def size(self):
            return 1
    assert probe.has_python_loop(Looping) and not probe.has_python_loop(Flat)

    def while_loop(x):
        while x:
            x -= 1
    assert probe.has_python_loop(while_loop) and not probe.has_python_loop(lambda x: (x ** 2).sum())


# ---------------------------------------------------------------- policy


def _softmax_spec(policy):
    return FunctionSpec(name="probas", points=1, arguments=("s",), outputs=("p",), policy=policy,
                        cases=lambda g: [Case(label="float64", inputs={"s": torch.randn(3, 4, generator=g,
                                                                                        dtype=torch.float64)})],
                        oracle=lambda a: (torch.softmax(a["s"], 1),))


def test_forbidden_calls_give_zero_with_the_tps_message_and_others_stay_allowed():
    policy = Policy(forbidden=(Forbidden(pattern="op:softmax", message="softmax interdit ici"),
                               Forbidden(pattern="module:torch.optim", message="optim interdit")))
    spec = _softmax_spec(policy)
    assert check(spec, define("def probas(s):\n    return torch.softmax(s, 1)")).report().count("softmax interdit") == 1
    assert "softmax interdit" in check(spec, define("def probas(s):\n    return s.softmax(dim=1)")).report()
    assert "softmax interdit" in check(spec, define(
        "import torch.nn.functional as F\ndef probas(s):\n    return F.softmax(s, dim=1)")).report()
    assert check(spec, define("def probas(s):\n    return torch.exp(s - torch.logsumexp(s, 1, keepdim=True))")).passed
    sneaky = ("def probas(s):\n    torch.optim.SGD([torch.zeros(1)], lr=0.1)\n"
              "    return torch.exp(s) / torch.exp(s).sum(1, keepdim=True)")
    assert "optim interdit" in check(spec, define(sneaky)).report()


def test_loop_policy_allowed_penalised_or_forbidden():
    looping = "def probas(s):\n    return torch.stack([torch.exp(r) / torch.exp(r).sum() for r in s])"
    assert check(_softmax_spec(Policy(loops="allowed")), define(looping)).passed
    penalised = check(_softmax_spec(Policy(loops="penalised", loop_penalty=0.5, loop_message="boucle !")),
                      define(looping))
    assert penalised.points == 0.5 and "boucle !" in penalised.report()
    forbidden = check(_softmax_spec(Policy(loops="forbidden", loop_message="pas de boucle")), define(looping))
    assert forbidden.points == 0 and "pas de boucle" in forbidden.report()


def test_autograd_may_be_allowed_by_a_spec():
    source = ("def probas(s):\n    x = s.clone().requires_grad_()\n    p = torch.exp(x) / torch.exp(x).sum(1, keepdim=True)\n"
              "    return p.detach()")
    assert check(_softmax_spec(Policy(autograd="allowed")), define(source)).passed
    refused = check(_softmax_spec(Policy(autograd_message="autograd refusé")), define(source))
    assert refused.points == 0 and "autograd refusé" in refused.report()


def _softmax_backward_spec():
    """dl_s from dl_p and p = softmax(s), with autograd forbidden (the default policy)."""
    def cases(g):
        return [Case(label="float64", inputs={"dl_p": torch.randn(3, 4, generator=g, dtype=torch.float64),
                                              "p": torch.softmax(torch.randn(3, 4, generator=g, dtype=torch.float64), 1)})]
    return FunctionSpec(name="softmax_backward", points=1, arguments=("dl_p", "p"), outputs=("dl_s",), cases=cases,
                        oracle=lambda a: (a["p"] * (a["dl_p"] - (a["dl_p"] * a["p"]).sum(1, keepdim=True)),),
                        policy=Policy(autograd_message="autograd refusé"))


@pytest.mark.parametrize("call", ["torch._softmax_backward_data(dl_p, p, 1, p.dtype)",
                                  "torch.ops.aten._softmax_backward_data(dl_p, p, 1, p.dtype)",
                                  "torch.ops.aten._softmax_backward_data.default(dl_p, p, 1, p.dtype)"])
def test_a_backward_kernel_called_under_any_name_is_autograd(call):
    spec = _softmax_backward_spec()
    by_hand = "def softmax_backward(dl_p, p):\n    return p * (dl_p - (dl_p * p).sum(1, keepdim=True))"
    assert check(spec, define(by_hand)).passed
    refused = check(spec, define(f"def softmax_backward(dl_p, p):\n    return {call}"))
    assert refused.points == 0 and refused.messages == ["autograd refusé"], refused.report()


def _backward_kernels() -> list[str]:
    """Every backward kernel torch exposes to Python: aten's operators and overloads, torch's functions."""
    aten = [n.removeprefix("aten::") for n in torch._C._dispatch_get_all_op_names() if n.startswith("aten::")]
    names = {n.split(".")[0] for n in aten} | set(aten) | set(dir(torch)) | set(dir(torch._C._VariableFunctions))
    return sorted(n for n in names if "backward" in n)


def test_every_backward_kernel_torch_exposes_counts_as_autograd():
    kernels = _backward_kernels()
    assert len(kernels) > 150 and "_softmax_backward_data" in kernels
    trace = {"requires_grad": False}
    missed = [n for n in kernels if not facts.uses_autograd(trace, set(), {n}) and not facts.uses_autograd(trace, {n}, set())]
    assert not missed, missed


# ---------------------------------------------------------------- kinds


COUNTER = SequenceSpec(
    name="step", points=1, arguments=("state", "increment"), state=("state",), compared=("state",),
    cases=lambda g: [Case(label="float64", inputs={"state": {"total": torch.zeros(2, dtype=torch.float64)},
                                                    "steps": [{"increment": float(i)} for i in range(1, 4)]})],
    oracle=lambda a: ([{"total": torch.full((2,), float(sum(range(1, k + 1))), dtype=torch.float64)}
                       for k in range(1, 4)],),
)


def test_a_sequence_keeps_its_state_between_calls_and_names_the_call_that_went_wrong():
    assert check(COUNTER, define("def step(state, increment):\n    state['total'] += increment")).passed
    reset = check(COUNTER, define("def step(state, increment):\n    state['total'] = torch.zeros(2, dtype=torch.float64)"
                                  " + increment"))
    assert reset.points == 0 and "après l'appel 2" in reset.report()


def test_state_in_place_is_judged_on_the_callers_own_tensors_and_a_replaced_entry_is_named():
    from dataclasses import replace
    spec = replace(COUNTER, in_place=("state",))
    assert check(spec, define("def step(state, increment):\n    state['total'] += increment")).passed
    assert check(spec, define("def step(state, increment):\n    state['total'].copy_(state['total'] + increment)")).passed
    # the caller's dict gets the right values, its tensors none: passed without in_place, refused with it
    rebound = "def step(state, increment):\n    state['total'] = state['total'] + increment"
    assert check(COUNTER, define(rebound)).passed
    result = check(spec, define(rebound))
    assert result.points == 0 and result.messages == [
        "les tenseurs de `state` sont remplacés par de nouveaux (`d[k] = …`) au lieu d'être modifiés en place : ceux "
        "que l'appelant a donnés, et qu'il garde, ne changent pas. Modifiez-les en place (`-=`, `+=`, `.sub_(…)`, "
        "`.mul_(…)`, `.add_(…)`)."]
    # its own tensors changed as they should: another object left in the dict besides is no mistake
    assert check(spec, define("def step(state, increment):\n    state['total'] += increment\n"
                              "    state['total'] = state['total'].clone()")).passed
    unchanged = check(spec, define("def step(state, increment):\n    total = state['total'] + increment"))
    assert unchanged.points == 0 and "remplacés" not in unchanged.report()


GAUSS = StatisticalSpec(
    name="draw", points=1, arguments=("n", "generator"), false_rejection=2e-9,
    cases=lambda g: [Case(label="n = 4000", inputs={"n": 4000, "generator": Seed(int(torch.randint(0, 2 ** 62, (),
                                                                                                  generator=g)))})],
    properties=lambda a, x: [] if isinstance(x, torch.Tensor) and x.shape == (a["n"],)
    and abs(x.mean().item()) < 6 / math.sqrt(a["n"]) else ["moyenne non nulle"],
)


def test_a_statistical_check_requires_the_generator_it_passes():
    assert check(GAUSS, define("def draw(n, generator):\n    return torch.randn(n, generator=generator)")).passed
    global_rng = check(GAUSS, define("def draw(n, generator):\n    return torch.randn(n)"))
    assert global_rng.points == 0 and "même graine" in global_rng.report()
    fixed = check(GAUSS, define("def draw(n, generator):\n    return torch.randn(n, generator=torch.Generator()"
                                ".manual_seed(0))"))
    assert fixed.points == 0 and "ne change pas quand la graine" in fixed.report()
    biased = check(GAUSS, define("def draw(n, generator):\n    return torch.randn(n, generator=generator) + 1"))
    assert biased.points == 0 and "moyenne non nulle" in biased.report()


def _scenario(**kind):
    import scenario_given
    return ScenarioSpec(
        name="longueur", points=2, arguments=("valeurs",), outputs=("longueur",), driver=scenario_given.drive_length,
        uses=("doubler",), given=("Maillon",), cases=lambda g: [
            Case(label=f"{n} maillons", inputs={"valeurs": list(range(n))}) for n in (0, 1, 5)], **kind)


LENGTH = "def longueur(tete):\n    n = 0\n    while tete is not None:\n        n, tete = n + 1, tete.suivant\n    return n"
DOUBLER = "def doubler(x):\n    return 2 * x"


def test_a_scenario_builds_objects_with_the_given_class_and_the_exercises_it_uses():
    spec = _scenario(oracle=lambda a: (len(a["valeurs"]),), mistakes=(
        Mistake(output=0, message="la tête est oubliée.", predict=lambda a, e: max(0, e[0] - 1)),))
    assert check(spec, define(LENGTH + "\n" + DOUBLER)).passed
    # the notebook's own class, edited, does not count: the driver's replaces it in the student's function
    edited = define(LENGTH + "\n" + DOUBLER + "\nclass Maillon:\n    suivant = property(lambda self: None)")
    assert check(spec, edited).passed
    off_by_one = check(spec, define(LENGTH.replace("n = 0", "n = -1") + "\n" + DOUBLER))
    assert off_by_one.points == 0 and "la tête est oubliée" in off_by_one.report()
    # in a student's kernel (no stand-ins) the driver uses the notebook's exercises: a broken one shows
    broken = check(spec, define(LENGTH + "\ndef doubler(x):\n    raise ValueError('cassé')"))
    assert broken.points == 0 and "ValueError: cassé" in broken.report()
    # when grading, the reference stands in for them
    fixed = check(spec, define(LENGTH + "\ndef doubler(x):\n    raise ValueError('cassé')"), stand_ins=DOUBLER)
    assert fixed.passed
    assert "pas définie" in check(spec, define(DOUBLER)).report()


def test_a_scenario_without_one_right_answer_is_judged_by_properties_case_by_case():
    spec = _scenario(properties=lambda a, n: [] if n == len(a["valeurs"]) or (n == 0 and not a["valeurs"])
                     else ["longueur fausse"])
    partly = check(spec, define("def longueur(tete):\n    return 0 if tete is None else 1\n" + DOUBLER))
    assert partly.points == 1.25 and "longueur fausse" in partly.report()


@pytest.mark.parametrize("points,share,credit", [
    (2, 1 / 3, 0.75), (2, 2 / 3, 1.25), (1, 1 / 3, 0.25), (3, 0.5, 1.5), (2, 0.01, 0.25), (2, 0.99, 1.75),
    (1, 0.9, 0.75), (2, 1, 2), (2, 0, 0), (0.25, 0.5, 0)])
def test_partial_credit_is_counted_in_quarter_points(points, share, credit):
    """Shares that add up: a total is the exact sum of its cells; a partial share is never full marks nor nothing."""
    assert judge.credited(points, share) == credit


def test_forged_scenario_facts_give_no_point():
    spec = _scenario(oracle=lambda a: (len(a["valeurs"]),))
    graded = Assignment(reference=types.ModuleType("no_reference_needed"), specs=[spec])
    cases = graded.cases("longueur", 0)
    facts = probe.observe(request(spec, cases), define(LENGTH + "\n" + DOUBLER))
    assert graded.judge_facts("longueur", 0, facts).passed
    for forged in (None, {}, {**facts, "calls": facts["calls"][:1]}, {**facts, "calls": ["ok"] * 3},
                   {**facts, "calls": [{**c, "output": {"class": "builtins.object"}} for c in facts["calls"]]},
                   {**facts, "calls": [{k: v for k, v in c.items() if k != "trace"} for c in facts["calls"]]}):
        assert graded.judge_facts("longueur", 0, forged).points == 0, forged


def test_variables_are_judged_by_the_tp_from_what_the_kernel_left():
    spec = VariablesSpec(name="training", label="entraînement", points=2, variables=("params", "accuracy"),
                         judge=lambda v: (1.0, ["ok"]) if isinstance(v["params"], dict) and v["accuracy"] == 0.5
                         else (0.0, ["non"]))
    ok = probe.observe(request(spec, []), {"params": {"w": torch.ones(2)}, "accuracy": 0.5})
    assert judge.judge(spec, [], ok).points == 2
    assert judge.judge(spec, [], probe.observe(request(spec, []), {})).points == 0


def test_synthetic_specs_do_not_leak_reference_functions():
    import gc
    check(STATS, define(STATS_SOURCE), stand_ins="def helper():\n    return 1\n")
    gc.collect()  # cyclic garbage of earlier tests is not a leak
    assert not [o for o in gc.get_objects() if type(o) is types.FunctionType and o.__code__.co_filename == "<reference>"]


# ---------------------------------------------------------------- a training stopped by an error

STOPPED = VariablesSpec(name="training", label="entraînement", points=3, variables=("w", "testAccuracy"),
                        judge=lambda values: (1.0, ["ok"]))
HINTS = {"backward_step": (("shapes cannot be multiplied", "produit impossible : vérifiez les transpositions."),)}


def test_a_training_stopped_inside_an_exercise_names_it_with_its_hint():
    facts = {"variables": {}, "error": {"error": "RuntimeError: mat1 and mat2 shapes cannot be multiplied (4x3 and 5x7)",
                                        "function": "backward_step"}}
    result = judge.judge(STOPPED, [], facts, HINTS)
    assert result.points == 0 and len(result.messages) == 1
    assert "erreur dans votre fonction `backward_step` : RuntimeError: mat1" in result.messages[0]
    assert "produit impossible : vérifiez les transpositions ;" in result.messages[0]


def test_a_reported_error_names_no_function_it_does_not_know_and_never_replaces_present_variables():
    facts = {"variables": {}, "error": {"error": "NameError: name 'x' is not defined", "function": "os.system"}}
    message = judge.judge(STOPPED, [], facts, HINTS).messages[0]
    assert "os.system" not in message and "NameError" in message and "relancez toutes les cellules" in message
    present = {"variables": {"w": codec.encode(torch.ones(2)), "testAccuracy": codec.encode(0.9)},
               "error": {"error": "RuntimeError: x", "function": "backward_step"}}
    assert judge.judge(STOPPED, [], present, HINTS).points == 3
    assert judge.judge(STOPPED, [], {"variables": {}, "error": ["forged"]}, HINTS).points == 3


# ---------------------------------------------------------------- a new kind of check

TOY_KIND = '''
from dataclasses import dataclass

from autograder.verdict import Remark, Result


@dataclass(frozen=True, kw_only=True)
class SloganSpec:
    """A kind of check of its own: the notebook's function returns a sentence of `words` words."""

    name: str
    points: float
    words: int
    kind = "slogan"

    def cases(self, generator):
        return []

    def request(self, cases, *, stand_ins, exercises):
        return {"function": self.name}


def observe(request, namespace):
    function = namespace.get(request["function"])
    return {"said": str(function()) if callable(function) else None}


def judge(spec, cases, facts, hints):
    said = facts.get("said") if isinstance(facts, dict) else None
    if not isinstance(said, str):
        raise ValueError("nothing said")
    right = len(said.split()) == spec.words
    return Result(function=spec.name, points=spec.points * right, possible=spec.points, complete=right,
                  remarks=(Remark(text="{mots} mots.", values={"mots": str(len(said.split()))}),))
'''


def test_a_new_kind_is_a_spec_class_an_observer_and_a_judge(tmp_path, monkeypatch):
    (tmp_path / "toy_kind.py").write_text(TOY_KIND)
    (tmp_path / "toy_reference.py").write_text("def devise():\n    return 'liberté égalité fraternité'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    toy = __import__("toy_kind")
    monkeypatch.setitem(probe.OBSERVERS, "slogan", toy.observe)
    monkeypatch.setitem(judge.JUDGES, "slogan", toy.judge)
    graded = Assignment(reference="toy_reference", specs=[toy.SloganSpec(name="devise", points=2, words=3)])
    assert graded.check("devise", define("def devise():\n    return 'un deux trois'")).passed
    wrong = graded.check("devise", define("def devise():\n    return 'un deux'"))
    assert wrong.points == 0 and wrong.messages == ["2 mots."]
    assert graded.check("devise", {}).points == 0 and "illisible" in graded.check("devise", {}).report()
