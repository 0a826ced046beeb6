"""Machinery shared by every TP's checks: requests, facts, and verdicts.

A check runs in three steps, two of them outside the student's kernel:

* `request` (grader) encodes the inputs of each case (drawn from a seed the kernel never
  sees) and says how to call the function;
* `autograder.probe.observe` (kernel) calls the student's function on them and
  reports plain facts: outputs, exception, inputs modified in place, a trace of what
  ran — nothing is judged there;
* `observation` + `judge` (grader) read those facts defensively and compare them with
  an oracle (torch autograd, float64), giving a `Result` with points and French messages.

`check` runs the three in one process, for tests and for the instructor's notebook.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from autograder import probe

LOOP_PENALTY = 0.25
MUTATION_PENALTY = 0.25
TOLERANCES = {torch.float64: (1e-6, 1e-8), torch.float32: (1e-4, 1e-5)}  # (rtol, atol)
# Evidence of autograd in a trace: C functions called from Python, and backward kernels called directly.
AUTOGRAD_CALLS = frozenset({"run_backward", "_grad_increment_nesting", "_jvp_increment_nesting",
                            "_enter_dual_level", "_make_dual", "requires_grad_", "_set_requires_grad"})
# Calls that switch the trace off or move work where it cannot see.
# (Popping the function mode is not one: torch does it itself around Python-level handlers,
# and the autograd engine and functorch are seen by the profile whatever the mode stack.)
EVASION_CALLS = frozenset({"setprofile", "settrace", "start_new_thread", "fork", "fork_exec", "posix_spawn",
                           "system", "execv", "execve", "spawnv"})


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Case:
    """Inputs of one call; `label` says to the student what was tried."""

    label: str
    inputs: dict[str, torch.Tensor]
    dtype: torch.dtype


@dataclass
class Call:
    """What one call of the student's function did."""

    case: Case
    outputs: tuple | None = None
    error: str | None = None
    mutated: list[str] = field(default_factory=list)
    after: dict[str, torch.Tensor] = field(default_factory=dict)
    autograd: bool = False
    evasions: list[str] = field(default_factory=list)


@dataclass
class Observation:
    function: str
    calls: list[Call] = field(default_factory=list)
    missing: bool = False
    has_loop: bool = False
    tampered: list[str] = field(default_factory=list)


@dataclass
class Result:
    function: str
    points: float
    possible: float
    messages: list[str]

    @property
    def passed(self) -> bool:
        return self.points == self.possible

    def report(self) -> str:
        mark = "✅" if self.passed else ("🟠" if self.points > 0 else "❌")
        lines = [f"{mark} {self.function} : {self.points:g} / {self.possible:g} point(s)"]
        lines += [f"   - {m}" for m in self.messages]
        return "\n".join(lines)


@dataclass(frozen=True)
class Mistake:
    """A common error: `predict(inputs, expected)` gives what it returns for one component."""

    component: int
    message: str
    predict: Callable[[dict[str, torch.Tensor], tuple], torch.Tensor]


@dataclass(frozen=True)
class FunctionSpec:
    """How to check one exercise function."""

    name: str
    points: float
    outputs: tuple[str, ...]  # names of the returned (or accumulated) tensors
    cases: Callable[[torch.Generator], list[Case]]
    arguments: tuple[str, ...]  # inputs passed positionally, in this order
    oracle: Callable[[dict[str, torch.Tensor]], tuple]  # float64 inputs -> expected outputs
    mistakes: tuple[Mistake, ...] = ()
    error_hints: tuple[tuple[str, str], ...] = ()  # (substring of the error, French hint)
    accumulates: tuple[str, ...] = ()  # inputs updated in place; their increment is the output


# ------------------------------------------------------------- request and facts


def nonce() -> str:
    """Echoed by the kernel with its facts: an output without it was not made by this request."""
    return secrets.token_hex(16)


def request(spec: FunctionSpec, cases: Sequence[Case], stand_in_source: str = "") -> dict[str, Any]:
    """What the kernel must run for this spec (see `autograder.probe`)."""
    return {"kind": "function", "function": spec.name, "nonce": nonce(),
            "arguments": list(spec.arguments), "accumulates": list(spec.accumulates),
            "cases": [{k: probe.encode_tensor(v) for k, v in case.inputs.items()} for case in cases],
            "stand_ins": stand_in_source}


class ForeignValue:
    """A returned value that is not a plain tensor: only its class name crossed from the kernel."""

    def __init__(self, cls: str, tensor_subclass: bool = False):
        self.cls = cls
        self.tensor_subclass = tensor_subclass

    def __repr__(self) -> str:
        return self.cls


def read_value(entry: Any) -> Any:
    """A value encoded by `probe.encode_value`: a plain tensor, or a `ForeignValue`; ValueError if malformed."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class"), str):
        raise ValueError("malformed value")
    if entry["class"] != "torch.Tensor" or "tensor" not in entry:
        return ForeignValue(entry["class"][:100], tensor_subclass="tensor" in entry or "unreadable" in entry)
    return probe.decode_tensor(entry["tensor"])


def _strings(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("malformed list")
    return value


def _call(spec: FunctionSpec, case: Case, fact: Any) -> Call:
    if not isinstance(fact, dict) or not isinstance(fact.get("trace"), dict):
        raise ValueError("malformed call")
    trace = fact["trace"]
    calls, ops = set(_strings(trace.get("calls"))), _strings(trace.get("ops"))
    call = Call(case, mutated=[m for m in _strings(fact.get("mutated", [])) if m in case.inputs])
    call.autograd = (trace.get("requires_grad") is not False or bool(calls & AUTOGRAD_CALLS)
                     or any(op.endswith("_backward") for op in ops))
    call.evasions = sorted(calls & EVASION_CALLS)
    if "error" in fact:
        call.error = str(fact["error"])[:500] or "Exception"
        return call
    call.outputs = tuple(read_value(v) for v in fact["outputs"])
    if not isinstance(fact.get("returned"), int) or fact["returned"] != len(call.outputs):
        call.outputs += (ForeignValue("..."),) * max(0, min(16, int(fact.get("returned", 0))) - len(call.outputs))
    after = fact.get("after", {})
    call.after = {k: read_value(after[k]) for k in spec.accumulates}
    return call


def observation(spec: FunctionSpec, cases: Sequence[Case], facts: Any) -> Observation:
    """The facts reported by the kernel, read as untrusted data: ValueError if malformed."""
    if not isinstance(facts, dict):
        raise ValueError("facts are not a mapping")
    obs = Observation(spec.name)
    if facts.get("defined") is not True:
        obs.missing = True
        return obs
    obs.has_loop = facts.get("has_loop") is not False
    calls = facts.get("calls")
    if not isinstance(calls, list) or len(calls) != len(cases):
        raise ValueError("wrong number of calls")
    try:
        obs.calls = [_call(spec, case, fact) for case, fact in zip(cases, calls)]
    except (KeyError, TypeError) as error:
        raise ValueError(f"malformed facts: {error}") from None
    obs.tampered = sorted({name for call in obs.calls for name in call.evasions})
    return obs


# -------------------------------------------------------------------- judging


def close(got: Any, expected: torch.Tensor, dtype: torch.dtype) -> bool:
    """`got` is a plain tensor of the expected shape whose values match within the dtype's tolerance."""
    if type(got) is not torch.Tensor or tuple(got.shape) != tuple(expected.shape):
        return False
    if got.is_complex():
        return False
    rtol, atol = TOLERANCES.get(dtype, TOLERANCES[torch.float32])
    got, want = got.detach().to(torch.float64).flatten().tolist(), expected.flatten().tolist()
    return all(abs(g - w) <= atol + rtol * abs(w) for g, w in zip(got, want))  # NaN compares False


def describe(got: Any, expected: torch.Tensor) -> str:
    """French description of how `got` differs from `expected`."""
    if isinstance(got, ForeignValue):
        return f"un tenseur torch était attendu, obtenu {got.cls.removeprefix('builtins.')}"
    if not isinstance(got, torch.Tensor):
        return f"un tenseur torch était attendu, obtenu {type(got).__name__}"
    if tuple(got.shape) != tuple(expected.shape):
        return f"forme attendue {tuple(expected.shape)}, obtenue {tuple(got.shape)}"
    diff = (got.detach().to(torch.float64) - expected).abs()
    worst = diff.nan_to_num(math.inf).max().item()
    return f"valeurs fausses (écart max {worst:.3g})"


def _values(spec: FunctionSpec, call: Call) -> tuple:
    """What is compared with the oracle: the returned tuple, or the in-place increments."""
    if spec.accumulates:
        return tuple(call.after[k].to(torch.float64) - call.case.inputs[k].to(torch.float64)
                     if isinstance(call.after[k], torch.Tensor) and call.after[k].shape == call.case.inputs[k].shape
                     else call.after[k]
                     for k in spec.accumulates)
    return call.outputs


def _float64(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to(torch.float64) for k, v in inputs.items()}


def _diagnose_component(spec: FunctionSpec, index: int, call: Call, got: Any, expected: tuple) -> str:
    inputs = _float64(call.case.inputs)
    for mistake in spec.mistakes:
        if mistake.component != index:
            continue
        try:
            predicted = mistake.predict(inputs, expected)
        except Exception:  # noqa: BLE001 - a prediction that does not apply to this case
            continue
        if isinstance(got, torch.Tensor) and close(got, predicted.to(torch.float64), call.case.dtype):
            return mistake.message
    return f"`{spec.outputs[index]}` incorrect ({call.case.label}) : {describe(got, expected[index])}."


def _error_message(spec: FunctionSpec, call: Call) -> str:
    if call.error.startswith("NotImplementedError"):
        return "la fonction n'est pas encore écrite (elle lève NotImplementedError)."
    hints = [hint for needle, hint in spec.error_hints if needle in call.error]
    text = f"erreur à l'exécution ({call.case.label}) : {call.error.splitlines()[0][:200]}"
    return text + (f" — {hints[0]}" if hints else "")


def _returned_shape_message(spec: FunctionSpec, call: Call) -> str | None:
    n = len(spec.outputs)
    if spec.accumulates or call.outputs is None or len(call.outputs) == n:
        return None
    names = ", ".join(spec.outputs)
    if n == 1:
        return f"la fonction doit renvoyer un seul tenseur, pas un tuple de {len(call.outputs)} éléments."
    return f"la fonction doit renvoyer un tuple de {n} tenseurs `({names})`, elle en renvoie {len(call.outputs)}."


def judge(spec: FunctionSpec, obs: Observation) -> Result:
    """Turns an observation into points and French messages."""
    zero = lambda *messages: Result(spec.name, 0.0, spec.points, list(messages))  # noqa: E731
    if obs.missing:
        return zero(f"la fonction `{spec.name}` n'est pas définie : exécutez sa cellule (et gardez son nom).")
    if obs.tampered:
        return zero("la fonction a contourné la vérification (" + ", ".join(obs.tampered)
                    + " pendant son exécution) : aucun point n'est attribué.")
    if any(call.autograd for call in obs.calls):
        return zero("la fonction utilise autograd (backward, torch.autograd.grad, requires_grad…) : "
                    "le but du TP est de calculer les gradients à la main, aucun point n'est attribué.")
    returned = [v for c in obs.calls if c.outputs for v in (*c.outputs, *c.after.values())]
    if any(isinstance(v, ForeignValue) and v.tensor_subclass for v in returned):
        return zero("la fonction renvoie une sous-classe de torch.Tensor : renvoyez des torch.Tensor ordinaires.")

    messages: list[str] = []
    correct = [True] * len(spec.outputs)
    for call in obs.calls:
        if call.error is not None:
            correct = [False] * len(spec.outputs)
            messages.append(_error_message(spec, call))
            break
        problem = _returned_shape_message(spec, call)
        if problem:
            correct = [False] * len(spec.outputs)
            messages.append(problem)
            break
        expected = tuple(e.to(torch.float64) for e in spec.oracle(_float64(call.case.inputs)))
        got = _values(spec, call)
        for i, want in enumerate(expected):
            if correct[i] and not close(got[i], want, call.case.dtype):
                correct[i] = False
                message = _diagnose_component(spec, i, call, got[i], expected)
                if message not in messages:
                    messages.append(message)

    score = sum(correct) / len(correct)
    if score > 0 and obs.has_loop:
        score *= 1 - LOOP_PENALTY
        messages.append(f"boucle Python détectée : le TP demande des opérations vectorisées "
                        f"(−{LOOP_PENALTY:.0%} des points de la fonction).")
    mutated = sorted({name for call in obs.calls for name in call.mutated})
    if score > 0 and mutated:
        score *= 1 - MUTATION_PENALTY
        messages.append("la fonction modifie en place son entrée " + ", ".join(f"`{m}`" for m in mutated)
                        + f" : travaillez sur une copie ou sans opération en place (−{MUTATION_PENALTY:.0%}).")
    if not messages:
        messages.append("correct sur tous les essais (" + " ; ".join(c.case.label for c in obs.calls) + ").")
    return Result(spec.name, round(spec.points * score, 2), spec.points, messages)


def check(spec: FunctionSpec, namespace: dict[str, Any], seed: int = 0, stand_in_source: str = "") -> Result:
    """Request, observe (in this process), then judge, the function `spec.name` of `namespace`."""
    cases = spec.cases(torch.Generator().manual_seed(seed))
    facts = probe.observe(request(spec, cases, stand_in_source), namespace)
    return judge(spec, observation(spec, cases, facts))
