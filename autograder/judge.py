"""The verdict of a check: what the kernel reported, compared with the oracle and scored.

A check runs in three steps, two of them outside the student's kernel: the spec's
`request` (grader) encodes the inputs of each case, drawn from a seed the kernel never sees;
`autograder.probe` (kernel) calls the student's code and reports plain facts; `judge`
(grader) reads them with `autograder.facts` and gives a `Result` whose remarks say in
French what is wrong (see `autograder.verdict`).

One judge per kind of check (`JUDGES`), as the kernel has one observer per kind
(`probe.OBSERVERS`). The kinds that call the student's function share the policy
(`_policed`): refusals that give no point (undefined, evasion, forbidden call, autograd,
loops where forbidden, tensor subclasses), then the kind's score, then penalties.
The built cases decide the score; the extra (random) ones only cost what the built ones
all accept, as one case more (`_scored`), so that a verdict does not depend on the draw.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Sequence

import torch

from autograder import facts as read, probe
from autograder.compare import (MISSING, Compared, Unit, as_float64, at, close, copy, describe, float64, unit_value,
                                units)
from autograder.codec import Foreign
from autograder.facts import Call, Observation
from autograder.specs import (Case, Mistake, ScenarioSpec, SequenceSpec, Spec, StatisticalSpec, VariablesSpec)
from autograder.french import percent
from autograder.verdict import Remark, Result, plain

CREDIT_STEP = 0.25  # partial credit is counted in quarter points: shares of a cell and totals add up exactly
MAX_LISTED = 300  # characters of case labels a success lists
MAX_SCENARIO_MESSAGES = 2  # graphs diagnosed in a scenario's verdict: the first ones say enough
Hints = dict[str, tuple[tuple[str, str], ...]]  # the error hints of a TP's exercises, by exercise
Scored = tuple[float, list[Remark]]


# -------------------------------------------------------------------- outputs against the oracle


def _oracle(spec: Compared, case: Case) -> tuple[tuple, Any]:
    """Expected outputs (float64), and in float32 cases the oracle's own float32 result (or None)."""
    expected = tuple(spec.oracle(float64(case.inputs)))
    own = None
    if case.dtype != torch.float64:
        try:
            own = tuple(spec.oracle(copy(case.inputs)))
        except Exception:  # noqa: BLE001 - an oracle that only runs in float64: the other slack remains
            own = None
    return expected, own


def _increment(after: Any, before: Any) -> Any:
    if isinstance(after, torch.Tensor) and isinstance(before, torch.Tensor) and after.shape == before.shape:
        return as_float64(after) - as_float64(before)
    return after


def _outputs(spec: Compared, steps: list[Call]) -> tuple[tuple | None, Remark | None]:
    """What is compared with the oracle, or a remark on what was returned."""
    if isinstance(spec, SequenceSpec):
        return tuple([step.after[name] for step in steps] for name in spec.compared), None
    call = steps[0]
    if getattr(spec, "accumulates", ()):
        return tuple(_increment(call.after[k], call.case.inputs[k]) for k in spec.accumulates), None
    n = len(spec.outputs)
    if n == 1:
        if isinstance(call.output, tuple):
            return None, plain(f"la fonction doit renvoyer une seule valeur, pas un tuple de {len(call.output)} éléments.")
        return (call.output,), None
    if not isinstance(call.output, (tuple, list)) or len(call.output) != n:
        count = len(call.output) if isinstance(call.output, (tuple, list)) else 1
        return None, plain(f"la fonction doit renvoyer un tuple de {n} valeurs `({', '.join(spec.outputs)})`, "
                           f"elle en renvoie {count}.")
    return tuple(call.output), None


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


def _whole_mistake(spec, case: Case, got: tuple, expected: tuple) -> Remark | None:
    """A mistake that predicts every output (`output=None`) and that the outputs match in every unit:
    then it explains each failing unit, before any mistake about one unit alone."""
    inputs = float64(case.inputs)
    for mistake in spec.mistakes:
        if mistake.output is not None:
            continue
        try:
            predicted = tuple(mistake.predict(inputs, expected))
            if all(close(unit_value(spec, got, u), float64(unit_value(spec, predicted, u)), case.dtype, spec.tolerance)
                   for u in units(spec, expected)):
                return Remark(text=mistake.message, case=case.label)
        except Exception:  # noqa: BLE001 - a prediction that does not apply to this case
            continue
    return None


def _diagnose(spec, unit: Unit, case: Case, got: Any, expected: tuple, own: Any) -> Remark:
    inputs = float64(case.inputs)
    for mistake in spec.mistakes:
        if mistake.output is None and isinstance(spec, ScenarioSpec):
            continue  # a scenario's objects are judged whole (`_whole_mistake`): one node alike proves nothing
        try:
            predicted = _mistake_prediction(spec, mistake, unit, inputs, expected)
        except Exception:  # noqa: BLE001 - a prediction that does not apply to this case
            continue
        if predicted is not MISSING and close(got, float64(predicted), case.dtype, spec.tolerance):
            return Remark(text=mistake.message, output=unit.name, case=case.label)
    want = unit_value(spec, expected, unit)
    if isinstance(spec, SequenceSpec):
        mine = unit_value(spec, own, unit) if own else [None] * len(want)
        step = next((i for i, (g, w, o) in enumerate(zip(got, want, mine))
                     if not close(g, w, case.dtype, spec.tolerance, o)), 0)
        how, values = describe(got[step], want[step])
        return Remark(text=f"`{{output}}` incorrect après l'appel {step + 1}{{case}} : {how}.", output=unit.name,
                      case=case.label, values=values)
    if got is MISSING:
        return Remark(text="`{output}` absent de ce que la fonction renvoie{case}.", output=unit.name, case=case.label)
    how, values = describe(got, want)
    return Remark(text=f"`{{output}}` incorrect{{case}} : {how}.", output=unit.name, case=case.label, values=values)


def _rebound(spec: Compared, steps: list[Call]) -> Remark | None:
    """What a sequence whose `in_place` state was replaced instead of changed is told first."""
    names = " et ".join(f"`{k}`" for k in dict.fromkeys(k for step in steps for k in step.rebound))
    return Remark(text=spec.rebound_message, case=steps[0].case.label, values={"state": names}) if names else None


def error_remark(spec: Spec, call: Call) -> Remark:
    if call.error.startswith("NotImplementedError"):
        return plain("la fonction n'est pas encore écrite (elle lève NotImplementedError).")
    hints = [hint for needle, hint in spec.error_hints if needle in call.error]
    text = "erreur à l'exécution{case} : " + call.error.splitlines()[0][:200] + (f" — {hints[0]}" if hints else "")
    return Remark(text=text, case=call.case.label)


def score_outputs(spec: Compared, obs: Observation) -> Scored:
    """Share of units right on every case (for a scenario, whose cases build different objects: share of
    cases right in every unit), and the remarks on the first failures."""
    remarks: list[Remark] = []
    correct: dict[Unit, bool] | None = None
    scenario, cases_right = isinstance(spec, ScenarioSpec), 0
    for steps in obs.calls:
        case = steps[0].case
        failed = next((s for s in steps if s.error is not None), None)
        if failed:
            return 0.0, [*remarks, error_remark(spec, failed)]
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
                    whole = _rebound(spec, steps) or _whole_mistake(spec, case, got, expected)
                remark = whole or _diagnose(spec, unit, case, g, expected, own)
                if remark not in remarks and not (scenario and len(remarks) >= MAX_SCENARIO_MESSAGES):
                    remarks.append(remark)
                if scenario:
                    break  # one diagnosis per graph
        cases_right += case_right
    if scenario:
        return cases_right / max(1, len(obs.calls)), remarks
    if not correct:
        return 0.0, remarks
    return sum(correct.values()) / len(correct), remarks


# -------------------------------------------------------------------- properties


def _problems(found: list) -> list[Remark]:
    """A TP's judgement (`properties`, a variables judge): French strings, or remarks with values."""
    return [f if isinstance(f, Remark) else plain(str(f)) for f in found]


def _new(remarks: list[Remark], more: list[Remark]) -> list[Remark]:
    return [*remarks, *(r for r in more if r not in remarks)]


def score_statistics(spec: StatisticalSpec, obs: Observation) -> Scored:
    calls = obs.all_calls
    for call in calls:
        if call.error is not None:
            return 0.0, [error_remark(spec, call)]
    remarks: list[Remark] = []
    for first, again, other in zip(calls[0::3], calls[1::3], calls[2::3]):
        remarks = _new(remarks, _problems(spec.properties(float64(first.case.inputs), first.output)))
        if not remarks and not probe.same(first.output, again.output):
            remarks.append(plain("avec le même générateur (même graine), la fonction doit donner le même résultat : "
                                 "tirez les nombres avec `generator=generator`, pas avec le générateur global de torch."))
        if not remarks and probe.same(first.output, other.output):
            remarks.append(plain("le résultat ne change pas quand la graine du générateur change : "
                                 "la fonction doit tirer ses nombres du générateur qu'elle reçoit."))
        if remarks:
            return 0.0, remarks
    return 1.0, remarks


def score_properties(spec: ScenarioSpec, obs: Observation) -> Scored:
    """Share of cases whose report has no problem, and the problems (each once)."""
    remarks: list[Remark] = []
    right = 0
    for call in obs.all_calls:
        if call.error is not None:
            return 0.0, [error_remark(spec, call)]
        problems = _problems(spec.properties(float64(call.case.inputs), call.output))
        right += not problems
        remarks = _new(remarks, problems)
    return right / max(1, len(obs.calls)), remarks


def score_scenario(spec: ScenarioSpec, obs: Observation) -> Scored:
    return score_properties(spec, obs) if spec.properties is not None else score_outputs(spec, obs)


# -------------------------------------------------------------------- the policy


def _holds_tensor_subclass(value: Any) -> bool:
    if isinstance(value, Foreign):
        return value.tensor_subclass
    if isinstance(value, (list, tuple)):
        return any(_holds_tensor_subclass(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_tensor_subclass(v) for v in value.values())
    return False


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


def _penalties(spec: Spec, obs: Observation, score: float, remarks: list[Remark]) -> float:
    policy = spec.policy
    if score > 0 and obs.has_loop and policy.loops == "penalised":
        score *= 1 - policy.loop_penalty
        remarks.append(plain(f"{policy.loop_message} (−{percent(policy.loop_penalty, 0)} des points de la fonction)"))
    mutated = sorted({name for call in obs.all_calls for name in call.mutated})
    if score > 0 and mutated:
        score *= 1 - policy.mutation_penalty
        remarks.append(plain("la fonction modifie en place son entrée " + ", ".join(f"`{m}`" for m in mutated)
                             + f" : travaillez sur une copie ou sans opération en place (−{percent(policy.mutation_penalty, 0)})."))
    return score


def _success(obs: Observation) -> Remark:
    labels = list(dict.fromkeys(steps[0].case.label for steps in obs.calls))
    listed = " ; ".join(labels)
    return plain(f"correct sur tous les essais ({listed})." if len(listed) <= MAX_LISTED
                 else f"correct sur les {len(labels)} essais.")


def _scored(spec: Spec, obs: Observation, score: Callable[[Any, Observation], Scored]) -> Scored:
    """The score of the built cases; when they are all right, the extra cases, if any fails, count as one
    wrong case more."""
    built = [steps for steps in obs.calls if not steps[0].case.extra]
    extra = [steps for steps in obs.calls if steps[0].case.extra]
    if not built or not extra:
        return score(spec, obs)
    share, remarks = score(spec, replace(obs, calls=built))
    if share < 1:
        return share, remarks
    share, remarks = score(spec, replace(obs, calls=extra))
    return (1.0, []) if share == 1 else (len(built) / (len(built) + 1), remarks)


def credited(points: float, share: float) -> float:
    """`share` of `points` on the grid of `CREDIT_STEP`: full marks only for a full share, and a partial
    share never rounded to nothing while the grid has room for it (2/3 of 2 points: 1.25, not 1.33)."""
    if share >= 1:
        return float(points)
    steps = int(points / CREDIT_STEP + 1e-9)
    if share <= 0 or steps < 2:
        return 0.0
    return min(max(int(points * share / CREDIT_STEP + 0.5), 1), steps - 1) * CREDIT_STEP


def _policed(spec: Spec, obs: Observation, score: Callable[[Any, Observation], Scored]) -> Result:
    """The spec's policy around the score of its kind (see the module's docstring)."""
    refusal = _refusal(spec, obs)
    if refusal:
        return Result(function=spec.name, points=0.0, possible=spec.points, remarks=(plain(refusal),))
    share, remarks = _scored(spec, obs, score)
    complete = share == 1
    share = _penalties(spec, obs, share, remarks)
    return Result(function=spec.name, points=credited(spec.points, share), possible=spec.points,
                  remarks=tuple(remarks or [_success(obs)]), complete=complete)


def called(score: Callable[[Any, Observation], Scored]) -> Callable[..., Result]:
    """The judge of a kind whose kernel side calls the student's function (`facts.observation`)."""
    def judge_calls(spec: Spec, cases: Sequence[Case], facts: Any, hints: Hints) -> Result:
        return _policed(spec, read.observation(spec, cases, facts), score)
    return judge_calls


# -------------------------------------------------------------------- variables a cell left


def error_in_exercise(function: str, text: str, hints: Hints) -> str:
    """« erreur dans votre fonction `f` : RuntimeError: … — hint », the hint of `f`'s spec for that error."""
    hint = next((h for needle, h in hints.get(function, ()) if needle in text), None)
    return f"erreur dans votre fonction `{function}` : {text}" + (f" — {hint.rstrip('.')}" if hint else "")


def _stopped_by(error: Any, hints: Hints) -> str | None:
    """What to tell a student whose cell stopped on an error before leaving its variables."""
    if not isinstance(error, dict) or not isinstance(error.get("error"), str):
        return None
    text, function = error["error"].splitlines()[0][:200].rstrip(": ") or "Exception", error.get("function")
    if text == "NotImplementedError" and not (isinstance(function, str) and function in hints):
        return ("l'exécution s'est arrêtée sur une fonction qui n'est pas encore écrite (elle lève "
                "NotImplementedError) : écrivez-la, puis relancez toutes les cellules (Restart Kernel and Run All Cells).")
    if not isinstance(function, str) or function not in hints:
        return (f"l'exécution s'est arrêtée sur une erreur avant la fin : {text} — corrigez-la, "
                "puis relancez toutes les cellules (Restart Kernel and Run All Cells).")
    return (f"l'exécution s'est arrêtée sur une {error_in_exercise(function, text, hints)} ; l'entraînement "
            f"utilise vos propres fonctions : corrigez `{function}` ou une fonction qu'elle appelle (leurs "
            "vérifications, plus haut, vous guident), puis relancez toutes les cellules.")


def failing_functions(names: Sequence[str]) -> Remark:
    """Added to a failed training's verdict: the exercises of the notebook that fail their own checks."""
    listed = ", ".join(f"`{n}`" for n in names)
    return plain(f"fonctions qui ne passent pas leur vérification : {listed} — l'entraînement les utilise, "
                 "corrigez-les d'abord.")


def judge_variables(spec: VariablesSpec, cases: Sequence[Case], facts: Any, hints: Hints) -> Result:
    """The TP's verdict on the variables a cell left, read defensively (a missing one is None); when the
    cell stopped on an error raised in one of the exercises (`hints` names them), the verdict names it."""
    values, error = read.variables(spec.variables, facts)
    stopped = _stopped_by(error, hints)
    if stopped and any(values[name] is None for name in spec.variables):
        return Result(function=spec.label, points=0.0, possible=spec.points, remarks=(plain(stopped),))
    score, found = spec.judge(values)
    score = min(1.0, max(0.0, float(score)))
    return Result(function=spec.label, points=credited(spec.points, score), possible=spec.points,
                  remarks=tuple(_problems(list(found))), complete=score == 1)


# -------------------------------------------------------------------- one judge per kind


JUDGES: dict[str, Callable[[Any, Sequence[Case], Any, Hints], Result]] = {
    "function": called(score_outputs),
    "sequence": called(score_outputs),
    "statistical": called(score_statistics),
    "scenario": called(score_scenario),
    "variables": judge_variables,
}


def judge(spec: Spec, cases: Sequence[Case], facts: Any, hints: Hints | None = None) -> Result:
    """The verdict on the facts the kernel reported for `spec.request(cases, …)`: ValueError if malformed."""
    return JUDGES[spec.kind](spec, cases, facts, hints or {})
