"""The grader side of a check: requests, facts read defensively, and verdicts.

A check runs in three steps, two of them outside the student's kernel:

* `request` (grader) encodes the inputs of each case (drawn from a seed the kernel never
  sees) and says how to call the student's code;
* `autograder.probe.observe` (kernel) calls it and reports plain facts: outputs,
  exception, inputs modified in place, a trace of what ran — nothing is judged there;
* `observation` + `judge` (grader) read those facts as untrusted data and compare them
  with the oracle, giving a `Result` with points and French messages.

Outputs are compared unit by unit: a unit is one leaf of the expected outputs (a tensor,
a number), named by its path (`grads["w1"]`); a function's points are split evenly over
its units. Every case-specific part of a message is written `(essai : …)`, so that the
class report can group messages across inputs.
"""

from __future__ import annotations

import inspect
import math
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Sequence

import torch
from torch.utils._pytree import tree_map

from autograder import codec, probe
from autograder.codec import Foreign, Seed
from autograder.specs import (Case, FunctionSpec, Mistake, Policy, Result, ScenarioSpec, SequenceSpec, Spec,
                              StatisticalSpec, Tolerance, VariablesSpec)

# Evidence of autograd in a trace: C functions called from Python, and backward kernels called directly.
AUTOGRAD_CALLS = frozenset({"run_backward", "_grad_increment_nesting", "_jvp_increment_nesting",
                            "_enter_dual_level", "_make_dual", "requires_grad_", "_set_requires_grad"})
# Calls that switch the trace off or move work where it cannot see.
# (Popping the function mode is not one: torch does it itself around Python-level handlers,
# and the autograd engine and functorch are seen by the profile whatever the mode stack.)
EVASION_CALLS = frozenset({"setprofile", "settrace", "start_new_thread", "fork", "fork_exec", "posix_spawn",
                           "system", "execv", "execve", "spawnv"})
MISSING = Foreign("(absent)")
MAX_LISTED = 300  # characters of case labels a success lists
MAX_SCENARIO_MESSAGES = 2  # graphs diagnosed in a scenario's verdict: the first ones say enough


# --------------------------------------------------------------------------- facts


@dataclass
class Call:
    """What one call of the student's code did (for a sequence: one step)."""

    case: Case
    output: Any = None
    error: str | None = None
    mutated: list[str] = field(default_factory=list)
    after: dict[str, Any] = field(default_factory=dict)
    autograd: bool = False
    evasions: list[str] = field(default_factory=list)
    forbidden: list[str] = field(default_factory=list)  # messages of the forbidden calls seen


@dataclass
class Observation:
    function: str
    calls: list[list[Call]] = field(default_factory=list)  # per case, its calls (one, or one per step)
    missing: bool = False
    has_loop: bool = False

    @property
    def all_calls(self) -> list[Call]:
        return [call for steps in self.calls for call in steps]


def nonce() -> str:
    """Echoed by the kernel with its facts: an output without it was not made by this request."""
    return secrets.token_hex(16)


def statistical_cases(cases: Sequence[Case]) -> list[Case]:
    """Each case, then the same again, then with every seed changed: is the generator the only source?"""
    def reseeded(value: Any) -> Any:
        return Seed((value.seed + 1) % codec.MAX_INT) if isinstance(value, Seed) else value
    return [c for case in cases for c in (case, case, replace(case, inputs=tree_map(reseeded, case.inputs)))]


def driver_source(spec: ScenarioSpec) -> str:
    """The whole module that defines a scenario's driver: it is sent to the kernel as it is."""
    return inspect.getsource(inspect.getmodule(spec.driver))


def request(spec: Spec, cases: Sequence[Case], stand_in_source: str = "",
            exercises: Sequence[str] = ()) -> dict[str, Any]:
    """What the kernel must run for this spec (see `autograder.probe`); for variables, `exercises`
    are the functions an error that stopped the cell is traced back to."""
    common = {"kind": spec.kind, "nonce": nonce()}
    if isinstance(spec, VariablesSpec):
        return {**common, "names": list(spec.variables), "exercises": list(exercises)}
    common.update(function=spec.name, arguments=list(spec.arguments), stand_ins=stand_in_source)
    if isinstance(spec, ScenarioSpec):
        return {**common, "driver": driver_source(spec), "entry": spec.driver.__name__, "given": list(spec.given),
                "uses": list(spec.uses), "cases": [codec.encode_inputs(c.inputs) for c in cases]}
    if isinstance(spec, SequenceSpec):
        return {**common, "state": list(spec.state),
                "cases": [{"state": codec.encode_inputs({k: c.inputs[k] for k in spec.state}),
                           "steps": [codec.encode_inputs(step) for step in c.inputs["steps"]]} for c in cases]}
    if isinstance(spec, StatisticalSpec):
        cases = statistical_cases(cases)
    return {**common, "accumulates": list(getattr(spec, "accumulates", ())),
            "cases": [codec.encode_inputs(c.inputs) for c in cases]}


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("malformed list")
    return value


def _forbidden_seen(policy: Policy, calls: set[str], ops: set[str], modules: set[str]) -> list[str]:
    seen = []
    for rule in policy.forbidden:
        where, _, name = rule.pattern.partition(":")
        found = {"op": name in ops, "call": name in calls,
                 "module": any(m == name or m.startswith(name + ".") for m in modules)}.get(where)
        if found is None:
            raise ValueError(f"unknown forbidden pattern {rule.pattern!r}")
        if found:
            seen.append(rule.message)
    return seen


def _call(spec: Spec, case: Case, fact: Any, inputs: dict[str, Any]) -> Call:
    if not isinstance(fact, dict) or not isinstance(fact.get("trace"), dict):
        raise ValueError("malformed call")
    trace = fact["trace"]
    calls, ops = set(_strings(trace.get("calls"))), set(_strings(trace.get("ops")))
    modules = set(_strings(trace.get("modules")))
    call = Call(case, mutated=[m for m in _strings(fact.get("mutated", [])) if m in inputs])
    call.autograd = (trace.get("requires_grad") is not False or bool(calls & AUTOGRAD_CALLS)
                     or any(op.endswith("_backward") for op in ops))
    call.evasions = sorted(calls & EVASION_CALLS)
    call.forbidden = _forbidden_seen(spec.policy, calls, ops, modules)
    if "error" in fact:
        call.error = str(fact["error"])[:500] or "Exception"
    else:
        call.output = codec.decode(fact["output"])
    after = fact.get("after", {})
    if not isinstance(after, dict):
        raise ValueError("malformed after")
    names = spec.state if isinstance(spec, SequenceSpec) else getattr(spec, "accumulates", ())
    call.after = {k: codec.decode(after[k]) for k in names}
    return call


def observation(spec: Spec, cases: Sequence[Case], facts: Any) -> Observation:
    """The facts reported by the kernel, read as untrusted data: ValueError if malformed."""
    if not isinstance(facts, dict):
        raise ValueError("facts are not a mapping")
    obs = Observation(spec.name)
    if facts.get("defined") is not True:
        obs.missing = True
        return obs
    obs.has_loop = facts.get("has_loop") is not False
    if isinstance(spec, StatisticalSpec):
        cases = statistical_cases(cases)
    calls = facts.get("calls")
    if not isinstance(calls, list) or len(calls) != len(cases):
        raise ValueError("wrong number of calls")
    try:
        for case, fact in zip(cases, calls):
            if isinstance(spec, SequenceSpec):
                steps = fact.get("steps") if isinstance(fact, dict) else None
                if not isinstance(steps, list) or not 0 < len(steps) <= len(case.inputs["steps"]):
                    raise ValueError("wrong number of steps")
                read = [_call(spec, case, s, case.inputs["steps"][i]) for i, s in enumerate(steps)]
                if read[-1].error is None and len(read) < len(case.inputs["steps"]):
                    raise ValueError("steps missing")
                obs.calls.append(read)
            else:
                obs.calls.append([_call(spec, case, fact, case.inputs)])
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"malformed facts: {error}") from None
    return obs


# -------------------------------------------------------------------- comparing


def _is_number(x: Any) -> bool:
    return type(x) in (int, float)


def _as_float64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


def _tensor_close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, tol: Tolerance,
                  oracle32: Any) -> bool:
    if got.is_complex() or tuple(got.shape) != tuple(want.shape):
        return False
    if not want.is_floating_point():
        return got.dtype == want.dtype and bool(torch.equal(got, want))
    g, w = _as_float64(got), _as_float64(want)
    finite = torch.isfinite(w)
    if not torch.equal(torch.isnan(g), torch.isnan(w)) or not torch.equal(g[~finite & ~torch.isnan(w)],
                                                                          w[~finite & ~torch.isnan(w)]):
        return False  # NaN where NaN is expected, the same infinities where they are expected
    g, w = g[finite], w[finite]
    if not w.numel():
        return True
    if dtype == torch.float64:
        allowed = tol.atol64 + tol.rtol64 * w.abs()
    else:
        allowed = tol.atol32 + tol.rtol32 * w.abs() + tol.norm_rtol32 * w.abs().max()
        if isinstance(oracle32, torch.Tensor) and oracle32.shape == want.shape:
            own = (_as_float64(oracle32)[finite] - w).abs()
            if torch.isfinite(own).all():
                allowed = allowed + tol.oracle_factor * own.max()
    return bool(((g - w).abs() <= allowed).all())  # NaN where a number is expected compares False


def close(got: Any, want: Any, dtype: torch.dtype = torch.float64, tol: Tolerance = Tolerance(),
          oracle32: Any = None) -> bool:
    """`got` has the structure of `want`, and its numbers match within the tolerance for `dtype`."""
    if isinstance(want, torch.Tensor):
        return type(got) is torch.Tensor and _tensor_close(got, want, dtype, tol, oracle32)
    if isinstance(want, float):
        if not _is_number(got):
            return False
        scalar = lambda x: torch.tensor(float(x), dtype=torch.float64)  # noqa: E731
        return close(scalar(got), scalar(want), dtype, tol, scalar(oracle32) if _is_number(oracle32) else None)
    if isinstance(want, (list, tuple)):
        sub = oracle32 if isinstance(oracle32, (list, tuple)) and len(oracle32) == len(want) else [None] * len(want)
        return (isinstance(got, (list, tuple)) and len(got) == len(want)
                and all(close(g, w, dtype, tol, o) for g, w, o in zip(got, want, sub)))
    if isinstance(want, dict):
        sub = oracle32 if isinstance(oracle32, dict) else {}
        return (isinstance(got, dict) and got.keys() == want.keys()
                and all(close(got[k], want[k], dtype, tol, sub.get(k)) for k in want))
    return type(got) is type(want) and got == want


def _kind_of(value: Any) -> str:
    if isinstance(value, Foreign):
        return value.cls.removeprefix("builtins.")
    return {torch.Tensor: "un tenseur", float: "un nombre (float)", int: "un entier", bool: "un booléen",
            str: "une chaîne", type(None): "None", list: "une liste", tuple: "un tuple",
            dict: "un dict"}.get(type(value), type(value).__name__)


def describe(got: Any, want: Any) -> str:
    """French description of how `got` differs from `want`."""
    if got is MISSING:
        return "absent de ce que la fonction renvoie"
    if isinstance(want, torch.Tensor):
        if type(got) is not torch.Tensor:
            return f"un tenseur torch était attendu, obtenu {_kind_of(got)}"
        if tuple(got.shape) != tuple(want.shape):
            return f"forme attendue {tuple(want.shape)}, obtenue {tuple(got.shape)}"
        if want.is_floating_point() and not torch.isfinite(got).all() and torch.isfinite(want).all():
            return "valeurs non finies (NaN ou ±inf) là où le résultat est fini"
        diff = (_as_float64(got) - _as_float64(want)).abs()
        return f"valeurs fausses (écart max {diff.nan_to_num(math.inf).max().item():.3g})"
    if isinstance(want, float):
        if not _is_number(got):
            return f"un nombre était attendu, obtenu {_kind_of(got)}"
        return f"valeur fausse ({got:.6g} au lieu de {want:.6g})"
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"{_kind_of(want)} était attendu(e), obtenu {_kind_of(got)}"
        if len(got) != len(want):
            return f"{len(want)} éléments attendus, {len(got)} obtenus"
        return "éléments faux"
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"un dict était attendu, obtenu {_kind_of(got)}"
        return f"clés attendues {sorted(want)}, obtenues {sorted(got)}"
    return f"{want!r} attendu, obtenu {got!r}"


# ------------------------------------------------------------------------ units


Path = tuple  # keys from an output to a leaf: str for a dict key, int for a list or tuple index


@dataclass(frozen=True)
class Unit:
    """One leaf of the outputs: scored, compared and diagnosed on its own."""

    index: int   # which output
    path: Path   # from that output to the leaf
    name: str    # as shown to the student: grads["w1"]


def _leaves(value: Any, path: Path = ()) -> list[Path]:
    if isinstance(value, dict) and value:
        return [p for k in value for p in _leaves(value[k], (*path, k))]
    if isinstance(value, (list, tuple)) and value and not all(_is_number(v) for v in value):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


def _path_name(name: str, path: Path) -> str:
    return name + "".join(f'["{k}"]' if isinstance(k, str) else f"[{k}]" for k in path)


Compared = FunctionSpec | SequenceSpec | ScenarioSpec  # the kinds whose outputs are compared with an oracle


def units(spec: Compared, expected: tuple) -> list[Unit]:
    """The leaves of the expected outputs (for a sequence: of the state after one step)."""
    found = []
    for i, name in enumerate(spec.outputs):
        value = expected[i][0] if isinstance(spec, SequenceSpec) else expected[i]
        found += [Unit(i, p, _path_name(name, p)) for p in _leaves(value)]
    return found


def at(value: Any, path: Path) -> Any:
    """The leaf of `value` at `path`, or `MISSING` where the structure differs."""
    for key in path:
        if isinstance(key, str) and isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(key, int) and isinstance(value, (list, tuple)) and 0 <= key < len(value):
            value = value[key]
        else:
            return MISSING
    return value


def unit_value(spec: Compared, outputs: tuple, unit: Unit) -> Any:
    """A unit's value in a tuple of outputs; for a sequence, the list of its values after each step."""
    if isinstance(spec, SequenceSpec):
        return [at(step, unit.path) for step in outputs[unit.index]]
    return at(outputs[unit.index], unit.path)


# -------------------------------------------------------------------- judging


def _float64(value: Any) -> Any:
    """Inputs as the oracle takes them: float tensors in float64, structure kept."""
    def leaf(v: Any) -> Any:
        if not isinstance(v, torch.Tensor):
            return v
        return v.detach().to(torch.float64) if v.is_floating_point() else v.detach().clone()
    return tree_map(leaf, value)


def _copy(value: Any) -> Any:
    return tree_map(lambda v: v.detach().clone() if isinstance(v, torch.Tensor) else v, value)


def _oracle(spec: Compared, case: Case) -> tuple[tuple, Any]:
    """Expected outputs (float64), and in float32 cases the oracle's own float32 result (or None)."""
    expected = tuple(spec.oracle(_float64(case.inputs)))
    own = None
    if case.dtype != torch.float64:
        try:
            own = tuple(spec.oracle(_copy(case.inputs)))
        except Exception:  # noqa: BLE001 - an oracle that only runs in float64: the other slack remains
            own = None
    return expected, own


def _outputs(spec: Compared, steps: list[Call]) -> tuple[tuple | None, str | None]:
    """What is compared with the oracle, or a message on what was returned."""
    if isinstance(spec, SequenceSpec):
        return tuple([step.after[name] for step in steps] for name in spec.compared), None
    call = steps[0]
    if getattr(spec, "accumulates", ()):
        return tuple(_increment(call.after[k], call.case.inputs[k]) for k in spec.accumulates), None
    n = len(spec.outputs)
    if n == 1:
        if isinstance(call.output, tuple):
            return None, f"la fonction doit renvoyer une seule valeur, pas un tuple de {len(call.output)} éléments."
        return (call.output,), None
    if not isinstance(call.output, (tuple, list)) or len(call.output) != n:
        count = len(call.output) if isinstance(call.output, (tuple, list)) else 1
        return None, (f"la fonction doit renvoyer un tuple de {n} valeurs `({', '.join(spec.outputs)})`, "
                      f"elle en renvoie {count}.")
    return tuple(call.output), None


def _increment(after: Any, before: Any) -> Any:
    if isinstance(after, torch.Tensor) and isinstance(before, torch.Tensor) and after.shape == before.shape:
        return _as_float64(after) - _as_float64(before)
    return after


def _mistake_prediction(spec, mistake: Mistake, unit: Unit, inputs, expected) -> Any:
    """What the mistake predicts for this unit, or MISSING when it concerns another output."""
    if mistake.output is None:
        return unit_value(spec, tuple(mistake.predict(inputs, expected)), unit)
    if mistake.output == unit.name:
        return mistake.predict(inputs, expected)
    if mistake.output == unit.index and not isinstance(mistake.output, bool):
        value = mistake.predict(inputs, expected)
        return [at(v, unit.path) for v in value] if isinstance(spec, SequenceSpec) else at(value, unit.path)
    return MISSING


def _whole_mistake(spec, case: Case, got: tuple, expected: tuple) -> str | None:
    """The message of a mistake that predicts every output (`output=None`) and that the outputs match
    in every unit: then it explains each failing unit, before any mistake about one unit alone."""
    inputs = _float64(case.inputs)
    for mistake in spec.mistakes:
        if mistake.output is not None:
            continue
        try:
            predicted = tuple(mistake.predict(inputs, expected))
            if all(close(unit_value(spec, got, u), _float64(unit_value(spec, predicted, u)), case.dtype, spec.tolerance)
                   for u in units(spec, expected)):
                return mistake.message
        except Exception:  # noqa: BLE001 - a prediction that does not apply to this case
            continue
    return None


def _diagnose(spec, unit: Unit, case: Case, got: Any, expected: tuple, own: Any) -> str:
    inputs = _float64(case.inputs)
    for mistake in spec.mistakes:
        if mistake.output is None and isinstance(spec, ScenarioSpec):
            continue  # a scenario's objects are judged whole (`_whole_mistake`): one node alike proves nothing
        try:
            predicted = _mistake_prediction(spec, mistake, unit, inputs, expected)
        except Exception:  # noqa: BLE001 - a prediction that does not apply to this case
            continue
        if predicted is not MISSING and close(got, _float64(predicted), case.dtype, spec.tolerance):
            return mistake.message
    want = unit_value(spec, expected, unit)
    if isinstance(spec, SequenceSpec):
        mine = unit_value(spec, own, unit) if own else [None] * len(want)
        step = next((i for i, (g, w, o) in enumerate(zip(got, want, mine))
                     if not close(g, w, case.dtype, spec.tolerance, o)), 0)
        return (f"`{unit.name}` incorrect après l'appel {step + 1} (essai : {case.label}) : "
                f"{describe(got[step], want[step])}.")
    if got is MISSING:
        return f"`{unit.name}` absent de ce que la fonction renvoie (essai : {case.label})."
    return f"`{unit.name}` incorrect (essai : {case.label}) : {describe(got, want)}."


def error_message(spec: Spec, call: Call) -> str:
    if call.error.startswith("NotImplementedError"):
        return "la fonction n'est pas encore écrite (elle lève NotImplementedError)."
    hints = [hint for needle, hint in spec.error_hints if needle in call.error]
    text = f"erreur à l'exécution (essai : {call.case.label}) : {call.error.splitlines()[0][:200]}"
    return text + (f" — {hints[0]}" if hints else "")


def _refusal(spec: Spec, obs: Observation) -> str | None:
    """Why no point at all can be given, whatever the outputs."""
    calls = obs.all_calls
    if obs.missing:
        return f"la fonction `{spec.name}` n'est pas définie : exécutez sa cellule (et gardez son nom)."
    tampered = sorted({name for call in calls for name in call.evasions})
    if tampered:
        return ("la fonction a contourné la vérification (" + ", ".join(tampered)
                + " pendant son exécution) : aucun point n'est attribué.")
    forbidden = next((m for call in calls for m in call.forbidden), None)
    if forbidden:  # the more specific refusal: it names the call
        return forbidden
    if spec.policy.autograd == "forbidden" and any(call.autograd for call in calls):
        return spec.policy.autograd_message
    if obs.has_loop and spec.policy.loops == "forbidden":
        return spec.policy.loop_message
    returned = [call.output for call in calls] + [v for call in calls for v in call.after.values()]
    if any(_holds_tensor_subclass(v) for v in returned):
        return "la fonction renvoie une sous-classe de torch.Tensor : renvoyez des torch.Tensor ordinaires."
    return None


def _holds_tensor_subclass(value: Any) -> bool:
    if isinstance(value, Foreign):
        return value.tensor_subclass
    if isinstance(value, (list, tuple)):
        return any(_holds_tensor_subclass(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensor_subclass(v) for v in value.values())
    return False


def _compare(spec: Compared, obs: Observation) -> tuple[float, list[str]]:
    """Share of units right on every case (for a scenario, whose cases build different objects: share of
    cases right in every unit), and the messages of the first failures."""
    messages: list[str] = []
    correct: dict[Unit, bool] | None = None
    scenario, cases_right = isinstance(spec, ScenarioSpec), 0
    for steps in obs.calls:
        case = steps[0].case
        failed = next((s for s in steps if s.error is not None), None)
        if failed:
            messages.append(error_message(spec, failed))
            return 0.0, messages
        got, problem = _outputs(spec, steps)
        if problem:
            return 0.0, [problem]
        expected, own = _oracle(spec, case)
        if scenario and any(type(g) is not type(e) for g, e in zip(got, expected)):
            raise ValueError("a report the driver does not make")  # the driver's own code, not the student's
        units_ = units(spec, expected)
        if correct is None:
            correct = {u: True for u in units_}
        case_right, whole = True, ...  # the whole-output mistake of this case, looked for at its first failure
        for unit in units_:
            g = unit_value(spec, got, unit)
            o = unit_value(spec, own, unit) if own else None
            if (scenario or correct.get(unit)) and not close(g, unit_value(spec, expected, unit), case.dtype,
                                                             spec.tolerance, o):
                correct[unit] = case_right = False
                if whole is ...:
                    whole = _whole_mistake(spec, case, got, expected)
                message = whole or _diagnose(spec, unit, case, g, expected, own)
                if message not in messages and not (scenario and len(messages) >= MAX_SCENARIO_MESSAGES):
                    messages.append(message)
                if scenario:
                    break  # one diagnosis per graph
        cases_right += case_right
    if scenario:
        return cases_right / max(1, len(obs.calls)), messages
    if not correct:
        return 0.0, messages
    return sum(correct.values()) / len(correct), messages


def _statistics(spec: StatisticalSpec, obs: Observation) -> tuple[float, list[str]]:
    calls = obs.all_calls
    for call in calls:
        if call.error is not None:
            return 0.0, [error_message(spec, call)]
    messages: list[str] = []
    for first, again, other in zip(calls[0::3], calls[1::3], calls[2::3]):
        inputs = _float64(first.case.inputs)
        for problem in spec.properties(inputs, first.output):
            if problem not in messages:
                messages.append(problem)
        if not messages and not probe.same(first.output, again.output):
            messages.append("avec le même générateur (même graine), la fonction doit donner le même résultat : "
                            "tirez les nombres avec `generator=generator`, pas avec le générateur global de torch.")
        if not messages and probe.same(first.output, other.output):
            messages.append("le résultat ne change pas quand la graine du générateur change : "
                            "la fonction doit tirer ses nombres du générateur qu'elle reçoit.")
        if messages:
            return 0.0, messages
    return 1.0, messages


def _properties(spec: ScenarioSpec, obs: Observation) -> tuple[float, list[str]]:
    """Share of cases whose report has no problem, and the problems (each once)."""
    messages: list[str] = []
    right = 0
    for call in obs.all_calls:
        if call.error is not None:
            return 0.0, [error_message(spec, call)]
        problems = spec.properties(_float64(call.case.inputs), call.output)
        right += not problems
        messages += [p for p in problems if p not in messages]
    return right / max(1, len(obs.calls)), messages


def _penalties(spec: Spec, obs: Observation, score: float, messages: list[str]) -> float:
    policy = spec.policy
    if score > 0 and obs.has_loop and policy.loops == "penalised":
        score *= 1 - policy.loop_penalty
        messages.append(f"{policy.loop_message} (−{policy.loop_penalty:.0%} des points de la fonction)")
    mutated = sorted({name for call in obs.all_calls for name in call.mutated})
    if score > 0 and mutated:
        score *= 1 - policy.mutation_penalty
        messages.append("la fonction modifie en place son entrée " + ", ".join(f"`{m}`" for m in mutated)
                        + f" : travaillez sur une copie ou sans opération en place (−{policy.mutation_penalty:.0%}).")
    return score


def judge(spec: Spec, obs: Observation) -> Result:
    """Turns an observation into points and French messages."""
    refusal = _refusal(spec, obs)
    if refusal:
        return Result(function=spec.name, points=0.0, possible=spec.points, messages=[refusal])
    if isinstance(spec, StatisticalSpec):
        score, messages = _statistics(spec, obs)
    elif isinstance(spec, ScenarioSpec) and spec.properties is not None:
        score, messages = _properties(spec, obs)
    else:
        score, messages = _compare(spec, obs)
    complete = score == 1
    score = _penalties(spec, obs, score, messages)
    if not messages:
        labels = list(dict.fromkeys(steps[0].case.label for steps in obs.calls))
        listed = " ; ".join(labels)
        messages.append(f"correct sur tous les essais ({listed})." if len(listed) <= MAX_LISTED
                        else f"correct sur les {len(labels)} essais.")
    return Result(function=spec.name, points=round(spec.points * score, 2), possible=spec.points,
                  messages=grouped(messages), complete=complete)


CASE_LABEL = re.compile(r" \(essai : [^)]*\)")
LEADING_NAME = re.compile(r"`([^`]+)`")


def grouped(messages: list[str]) -> list[str]:
    """One line for a message that only differs by the output it names first:
    « `dl_dw1` n'est pas modifié … (de même pour `dl_db1`, `dl_dw2`) »."""
    groups: dict[str, list[str]] = {}
    names: dict[str, list[str]] = {}
    for message in messages:
        name = LEADING_NAME.match(message)
        key = CASE_LABEL.sub("", message)
        if name:
            key = key.replace(name.group(0), "`◊`").replace(name.group(1), "◊")
        groups.setdefault(key, []).append(message)
        names.setdefault(key, []).append(name.group(0) if name else "")
    lines = []
    for key, members in groups.items():
        others = [n for n in names[key][1:] if n]
        lines.append(members[0] + (f" (de même pour {', '.join(others)})" if others else ""))
    return lines


def error_in_exercise(function: str, text: str, hints: dict[str, tuple[tuple[str, str], ...]]) -> str:
    """« erreur dans votre fonction `f` : RuntimeError: … — hint », the hint of `f`'s spec for that error."""
    hint = next((h for needle, h in hints.get(function, ()) if needle in text), None)
    return f"erreur dans votre fonction `{function}` : {text}" + (f" — {hint.rstrip('.')}" if hint else "")


def _stopped_by(error: Any, hints: dict[str, tuple[tuple[str, str], ...]]) -> str | None:
    """What to tell a student whose cell stopped on an error before leaving its variables."""
    if not isinstance(error, dict) or not isinstance(error.get("error"), str):
        return None
    text, function = error["error"].splitlines()[0][:200] if error["error"] else "Exception", error.get("function")
    if not isinstance(function, str) or function not in hints:
        return (f"l'exécution s'est arrêtée sur une erreur avant la fin : {text} — corrigez-la, "
                "puis relancez toutes les cellules (Restart Kernel and Run All Cells).")
    return (f"l'exécution s'est arrêtée sur une {error_in_exercise(function, text, hints)} ; l'entraînement "
            f"utilise vos propres fonctions : corrigez `{function}` ou une fonction qu'elle appelle (leurs "
            "vérifications, plus haut, vous guident), puis relancez toutes les cellules.")


def failing_functions_message(names: Sequence[str]) -> str:
    """Added to a failed training's verdict: the exercises of the notebook that fail their own checks."""
    listed = ", ".join(f"`{n}`" for n in names)
    return f"fonctions qui ne passent pas leur vérification : {listed} — l'entraînement les utilise, corrigez-les d'abord."


def judge_variables(spec: VariablesSpec, facts: Any,
                    hints: dict[str, tuple[tuple[str, str], ...]] | None = None) -> Result:
    """The TP's verdict on the variables a cell left, read defensively (a missing one is None).

    `hints` are the error hints of the TP's exercises, by name: when the cell stopped on an
    error raised in one of them, the verdict names it."""
    variables = facts.get("variables") if isinstance(facts, dict) else None
    if not isinstance(variables, dict):
        raise ValueError("no variables")
    values = {name: codec.decode(variables[name]) if name in variables else None for name in spec.variables}
    stopped = _stopped_by(facts.get("error"), hints or {})
    if stopped and any(values[name] is None for name in spec.variables):
        return Result(function=spec.label, points=0.0, possible=spec.points, messages=[stopped])
    score, messages = spec.judge(values)
    score = min(1.0, max(0.0, float(score)))
    return Result(function=spec.label, points=round(spec.points * score, 2), possible=spec.points,
                  messages=list(messages), complete=score == 1)
