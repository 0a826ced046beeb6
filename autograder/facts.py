"""What the kernel reported for a check, read as untrusted data (the grader side of `autograder.probe`).

The kernel reports plain facts — outputs, exception, inputs modified in place, a trace of
what ran — and nothing it says is believed as a verdict: here they become an `Observation`,
and anything malformed raises ValueError (the check then gives no point at all).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any, Sequence

from autograder import codec
from autograder.specs import Case, Policy, SequenceSpec, Spec

# Evidence of autograd in a trace: C functions called from Python, and backward kernels called directly
# (whatever their name: `threshold_backward`, `_softmax_backward_data`, `convolution_backward.default` …).
AUTOGRAD_CALLS = frozenset({"run_backward", "_grad_increment_nesting", "_jvp_increment_nesting",
                            "_enter_dual_level", "_make_dual", "requires_grad_", "_set_requires_grad"})
# Calls that switch the trace off or move work where it cannot see.
# (Popping the function mode is not one: torch does it itself around Python-level handlers,
# and the autograd engine and functorch are seen by the profile whatever the mode stack.)
EVASION_CALLS = frozenset({"setprofile", "settrace", "start_new_thread", "fork", "fork_exec", "posix_spawn",
                           "system", "execv", "execve", "spawnv"})


def nonce() -> str:
    """Echoed by the kernel with its facts: an output without it was not made by this request."""
    return secrets.token_hex(16)


@dataclass
class Call:
    """What one call of the student's code did (for a sequence: one step)."""

    case: Case
    output: Any = None
    error: str | None = None
    mutated: list[str] = field(default_factory=list)
    after: dict[str, Any] = field(default_factory=dict)
    rebound: list[str] = field(default_factory=list)  # state `in_place` whose containers got other objects
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


def is_backward_kernel(name: str) -> bool:
    return "backward" in name


def uses_autograd(trace: dict[str, Any], calls: set[str], ops: set[str]) -> bool:
    return trace.get("requires_grad") is not False or bool(calls & AUTOGRAD_CALLS) \
        or any(is_backward_kernel(name) for name in ops | calls)


def read_call(spec: Spec, case: Case, fact: Any, inputs: dict[str, Any]) -> Call:
    """One call's facts; `inputs` are those of this call (a sequence's step), for what it mutated."""
    if not isinstance(fact, dict) or not isinstance(fact.get("trace"), dict):
        raise ValueError("malformed call")
    trace = fact["trace"]
    calls, ops = set(_strings(trace.get("calls"))), set(_strings(trace.get("ops")))
    modules = set(_strings(trace.get("modules")))
    call = Call(case, mutated=[m for m in _strings(fact.get("mutated", [])) if m in inputs],
                rebound=[k for k in _strings(fact.get("rebound", [])) if k in getattr(spec, "in_place", ())])
    call.autograd = uses_autograd(trace, calls, ops)
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


def _steps(spec: SequenceSpec, case: Case, fact: Any) -> list[Call]:
    steps = fact.get("steps") if isinstance(fact, dict) else None
    if not isinstance(steps, list) or not 0 < len(steps) <= len(case.inputs["steps"]):
        raise ValueError("wrong number of steps")
    read = [read_call(spec, case, s, case.inputs["steps"][i]) for i, s in enumerate(steps)]
    if read[-1].error is None and len(read) < len(case.inputs["steps"]):
        raise ValueError("steps missing")
    return read


def observation(spec: Spec, cases: Sequence[Case], facts: Any) -> Observation:
    """The facts of a check whose kernel side calls the student's function once per case it was
    sent (`spec.called(cases)`), or step after step for a sequence: ValueError if malformed."""
    if not isinstance(facts, dict):
        raise ValueError("facts are not a mapping")
    obs = Observation(spec.name)
    if facts.get("defined") is not True:
        obs.missing = True
        return obs
    obs.has_loop = facts.get("has_loop") is not False
    cases = spec.called(cases)
    calls = facts.get("calls")
    if not isinstance(calls, list) or len(calls) != len(cases):
        raise ValueError("wrong number of calls")
    try:
        for case, fact in zip(cases, calls):
            if isinstance(spec, SequenceSpec):
                obs.calls.append(_steps(spec, case, fact))
            else:
                obs.calls.append([read_call(spec, case, fact, case.inputs)])
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"malformed facts: {error}") from None
    return obs


def variables(names: Sequence[str], facts: Any) -> tuple[dict[str, Any], Any]:
    """The variables a cell left (None when missing) and the error that stopped it, if reported."""
    found = facts.get("variables") if isinstance(facts, dict) else None
    if not isinstance(found, dict):
        raise ValueError("no variables")
    return {name: codec.decode(found[name]) if name in found else None for name in names}, facts.get("error")
