"""The students' self-check: the grader's own checks, run in the student's kernel while they work.

The visible check cell under an exercise calls `verifier("backward_pass")`: the TP's
specs run on inputs drawn from a fresh seed, in this kernel, and the verdict is the one
the feedback will give (`Result.report()`), in a few lines. A failing check raises
`VerificationRatee`, which IPython shows without a traceback and which stops Run All.

The students' environment holds the checks but no reference module (see
`autograder.student_kit`). The other exercises a function uses are checked first; where
one fails, the check's own version of it (its oracle, `stand_in_function`) stands in
for it, as the reference does in the grader, so the verdict is the feedback's, and it
names the failing one too.
"""

from __future__ import annotations

import importlib
import secrets
import sys
import types
from typing import Any

from autograder import judge, live, probe
from autograder.course import tp_module
from autograder.assignment import Assignment, uses
from autograder.specs import VariablesSpec
from autograder.verdict import Result, plain

MAX_LINES = 5  # what a student reads under a check: the verdict, then its first messages
USES = "`{name}` utilise votre `"  # how a verdict that blames another exercise starts
USES_A_FAILING = USES + "{used}`, qui ne passe pas sa vérification : corrigez-la d'abord."
USES_A_FAILING_STOOD_IN = (USES + "{used}`, qui ne passe pas sa vérification : `{name}` a été vérifiée avec une "
                           "version juste de `{used}` à sa place ; corrigez `{used}` aussi.")


class VerificationRatee(Exception):
    """A failing self-check: IPython renders `lines` instead of a traceback, and Run All stops here."""

    def __init__(self, lines: list[str]):
        super().__init__("\n".join(lines))
        self.lines = lines

    def _render_traceback_(self) -> list[str]:
        return self.lines


def short_report(result: Result) -> list[str]:
    """`result.report()` in at most `MAX_LINES` lines."""
    lines = result.report().split("\n")
    if len(lines) > MAX_LINES:
        hidden = len(lines) - (MAX_LINES - 1)
        lines = lines[:MAX_LINES - 1] + [f"   … et {hidden} autre(s) remarque(s), corrigez d'abord celles-ci."]
    return lines


def _exercises_used(assignment: Assignment, name: str, namespace: dict[str, Any]) -> list[str]:
    """The other checked exercises the student's `name` uses, directly or not, and for a scenario those
    its driver uses (the rules of a given class), in the TP's order."""
    checked = [n for n, s in assignment.specs.items() if not isinstance(s, VariablesSpec)]
    found = set(uses(namespace.get, name, checked)) | set(assignment.driver_uses(name))
    return [n for n in checked if n in found]


def _fails_on_its_own(result: Result) -> bool:
    """Not only because another exercise it uses fails."""
    return not result.complete and not (result.remarks and result.remarks[0].text.startswith(
        USES.format(name=result.function)))


def check(assignment: Assignment, name: str, namespace: dict[str, Any], seed: int | None = None,
          _done: dict[str, Result] | None = None) -> Result:
    """The verdict on `name` as the notebook defines it, the feedback's: where another exercise it uses fails
    its own check, the check's own version of that exercise stands in for it (the grader's reference does),
    and the verdict names it."""
    done = {} if _done is None else _done
    if name in done:
        return done[name]
    seed = secrets.randbits(62) if seed is None else seed
    spec = assignment.specs[name]
    failing: list[str] = []
    if not isinstance(spec, VariablesSpec):
        done[name] = None  # being checked: a function that uses this one back does not wait for it
        used = _exercises_used(assignment, name, namespace)
        failing = [u for u in used if (v := check(assignment, u, namespace, seed, done)) is not None and not v.complete]
        substitutes = {u: assignment.specs[u].stand_in_function() for u in failing}
        blocking = next((u for u, substitute in substitutes.items() if substitute is None), None)
        if blocking:
            done[name] = Result(function=name, points=0.0, possible=spec.points,
                                remarks=(plain(USES_A_FAILING.format(name=name, used=blocking)),))
            return done[name]
    request = assignment.plan(name, seed, stand_ins=False)
    if failing:
        request["stand_ins"] = _standing_in(namespace, substitutes, used)
    result = assignment.judge_facts(name, seed, probe.observe(request, namespace))
    if failing:
        result = result.adding(*(plain(USES_A_FAILING_STOOD_IN.format(name=name, used=u)) for u in failing))
    if isinstance(spec, VariablesSpec) and not result.complete:
        failing = [n for n, s in assignment.specs.items() if not isinstance(s, VariablesSpec)
                   and _fails_on_its_own(check(assignment, n, namespace, seed, done))]
        if failing:
            result = result.adding(judge.failing_functions(failing))
    done[name] = result
    return result


def _standing_in(namespace: dict[str, Any], substitutes: dict[str, Any], used: list[str]) -> dict[str, Any]:
    """The exercises `used`, as the notebook defines them but with the check's own version of those that
    fail: the notebook's ones copied over globals where the failing ones are replaced, so that a passing
    exercise that calls a failing one calls the stand-in too."""
    scope = {**namespace, **substitutes}
    for u in used:
        fn = namespace.get(u)
        if u not in substitutes and isinstance(fn, types.FunctionType):
            scope[u] = types.FunctionType(fn.__code__, scope, u, fn.__defaults__, fn.__closure__)
    return {u: scope[u] for u in used if u in scope}


def verify(assignment: Assignment, name: str, namespace: dict[str, Any], tp: str = "") -> Result:
    """Prints the verdict (a success, or a success with a penalty); raises `VerificationRatee` otherwise.
    On the course's hub, the verdict is also sent to the live view of the session (`autograder.live`)."""
    result = check(assignment, name, namespace)
    if tp:
        live.send(tp, name, result, (m.message for m in getattr(assignment.specs.get(name), "mistakes", ())))
    if not result.complete:
        raise VerificationRatee(short_report(result))
    print("\n".join(short_report(result)))
    return result


def crash_line(assignment: Assignment, error: BaseException) -> str | None:
    """« ❌ erreur dans votre fonction `backward_step` … » when `error` was raised inside an exercise."""
    hints = assignment.error_hints()
    function = probe.raised_in(error, hints)
    if function is None or isinstance(error, (VerificationRatee, KeyboardInterrupt)):
        return None
    text = f"{type(error).__name__}: {error}".splitlines()[0][:200]
    return (f"❌ {judge.error_in_exercise(function, text, hints)}\n   Cette cellule utilise vos fonctions : "
            f"corrigez `{function}` (sa vérification, plus haut, vous guide), puis relancez.")


def _name_the_function_that_raised(assignment: Assignment) -> None:
    """In IPython, an error raised inside one of the exercises is announced in French before its traceback."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def handler(shell, etype, value, tb, tb_offset=None):
        line = crash_line(assignment, value)
        if line:
            print(line, file=sys.stderr)
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset)

    shell.set_custom_exc((Exception,), handler)


class Verifier:
    """`verifier("nom")` of a TP's notebook: the check of one exercise, in the caller's namespace."""

    def __init__(self, tp: str, namespace: dict[str, Any]):
        self.tp = tp
        self.assignment = importlib.import_module(tp_module(tp, "checks")).ASSIGNMENT
        self.namespace = namespace
        _name_the_function_that_raised(self.assignment)

    def __call__(self, name: str) -> None:
        verify(self.assignment, name, self.namespace, self.tp)


def verifier(tp: str, namespace: dict[str, Any] | None = None) -> Verifier:
    """The notebook's `verifier`, bound to its globals (the caller's, by default)."""
    return Verifier(tp, namespace if namespace is not None else sys._getframe(1).f_globals)
