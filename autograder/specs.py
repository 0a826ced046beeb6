"""What a check is: keyword-only dataclasses, one place for every kind a TP can declare.

A TP's `checks.py` lists specs — one per exercise, plus the variables its training
leaves — and ends with `ASSIGNMENT = Assignment(...)` (see `autograder.assignment`).
Values are those of `autograder.codec`: nested plain values with tensor leaves, and
`Seed` for a generator the grader passes.

Kinds:

* `FunctionSpec` — one call per case, outputs compared with an oracle (autograd in
  float64), or, with `accumulates`, the increments added in place to some inputs;
* `SequenceSpec` — calls on state kept between them (an optimiser step called k times),
  the state compared with the oracle's after every call;
* `StatisticalSpec` — a function that draws from the generator it is given: properties
  and moments of its outputs, judged by the TP's `properties` function;
* `VariablesSpec` — variables a cell leaves (the trained parameters), judged by the TP.

* `ScenarioSpec` — code built of objects (a graph walk, an engine): a driver the grader
  sends builds the objects with the given classes, calls the student's function on them
  and reports plain values, compared with an oracle or judged by `properties`.

A new kind slots in the same way: a spec class (its `kind` and the `request` the kernel
runs), an observer in `probe.OBSERVERS` and a judge in `autograder.judge.JUDGES`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Literal, Sequence

import torch
from torch.utils._pytree import tree_map

from autograder import codec, probe
from autograder.codec import Seed

Value = Any  # a value `autograder.codec` encodes: nested plain values, tensor leaves
Inputs = dict[str, Value]


@dataclass(frozen=True, kw_only=True)
class Case:
    """Inputs of one call (or of one sequence of calls); `label` says to the student what was tried.

    A spec's cases are built so that each of its catalogued mistakes shows on every draw; an `extra`
    case is drawn at random on top of them, to catch what nobody catalogued yet. It weighs only on code
    that every built case accepts (`judge`): one copy gets one grade, whatever the draw.
    """

    label: str
    inputs: Inputs
    dtype: torch.dtype = torch.float64
    extra: bool = False


@dataclass(frozen=True, kw_only=True)
class Tolerance:
    """When a float output is right.

    float64 is compared element by element. In float32, a correct implementation may
    differ from the float64 oracle by more than a relative error per element (a
    cancellation, a long sum), so an element is also right within `norm_rtol` of the
    largest expected magnitude of its tensor, and within `oracle_factor` times the
    error the oracle itself makes when run in float32 on the same inputs.
    """

    rtol64: float = 1e-6
    atol64: float = 1e-8
    rtol32: float = 1e-4
    atol32: float = 1e-5
    norm_rtol32: float = 1e-4
    oracle_factor: float = 16.0


@dataclass(frozen=True, kw_only=True)
class Forbidden:
    """A library call that does the exercise's own work: seen in the trace, it gives 0 with `message`.

    `pattern` is `op:NAME` (a torch function or tensor method called from Python, e.g.
    `op:softmax`), `module:PREFIX` (any Python function of that module ran, e.g.
    `module:torch.optim`) or `call:NAME` (a C function called from Python).
    """

    pattern: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Policy:
    """What a TP allows in one exercise, and the TP's own words for what it refuses."""

    autograd: Literal["forbidden", "allowed"] = "forbidden"
    autograd_message: str = "la fonction utilise autograd : ce n'est pas permis dans cet exercice."
    loops: Literal["penalised", "allowed", "forbidden"] = "allowed"
    loop_penalty: float = 0.25
    loop_message: str = "boucle Python détectée : cet exercice demande des opérations vectorisées."
    mutation_penalty: float = 0.25
    forbidden: tuple[Forbidden, ...] = ()


@dataclass(frozen=True, kw_only=True)
class Mistake:
    """A common error, recognised when an output equals what `predict(inputs, expected)` gives.

    `output` names the output it concerns: an index in the spec's outputs, a path such as
    `grads["w1"]`, or None when `predict` returns the whole expected structure (the
    mistake is then looked for in every output). `{output}` in `message` is the output it
    was seen on: the verdict then says it once for all (`autograder.verdict`).
    """

    output: int | str | None
    message: str
    predict: Callable[[Inputs, Any], Value]


class _Called:
    """A kind whose kernel side calls the student's function once per case it is sent."""

    def called(self, cases: Sequence[Case]) -> list[Case]:
        """The cases the function is called on, in the order the kernel reports them."""
        return list(cases)

    def stand_in_function(self) -> Callable | None:
        """The exercise as the check computes it, callable as the student's function is: what the self-check
        calls in place of a student's exercise that fails, while it checks one that uses it (the grader calls
        the reference); None when the check cannot."""
        exercise = getattr(self, "stand_in", None)
        if exercise is None:
            return None

        def stand_in(*args: Any, **kwargs: Any) -> Any:
            with probe.untraced():
                return exercise(*args, **kwargs)
        stand_in.__name__ = self.name
        return stand_in

    def request(self, cases: Sequence[Case], *, stand_ins: str, exercises: Sequence[str]) -> dict[str, Any]:
        """What the kernel's observer of this kind needs (see `autograder.probe`), beyond kind and nonce."""
        return {"function": self.name, "arguments": list(self.arguments), "stand_ins": stand_ins,
                "accumulates": list(getattr(self, "accumulates", ())),
                "cases": [codec.encode_inputs(c.inputs) for c in self.called(cases)]}


@dataclass(frozen=True, kw_only=True)
class FunctionSpec(_Called):
    """One exercise function, called once per case and compared with the oracle."""

    name: str
    points: float
    arguments: tuple[str, ...]  # inputs passed positionally, in this order
    outputs: tuple[str, ...]    # names of the returned values (a tuple when more than one)
    cases: Callable[[torch.Generator], list[Case]]
    oracle: Callable[[Inputs], tuple]  # float64 inputs -> one expected value per output
    policy: Policy = field(default_factory=Policy)
    tolerance: Tolerance = field(default_factory=Tolerance)
    mistakes: tuple[Mistake, ...] = ()
    error_hints: tuple[tuple[str, str], ...] = ()  # (substring of the error, French hint)
    accumulates: tuple[str, ...] = ()  # inputs updated in place: their increments are the outputs
    kind = "function"

    def stand_in_function(self) -> Callable | None:
        """The oracle called as the exercise (untraced: it is not the student's code), its results in the
        dtype of the tensors it is given."""
        if self.accumulates:
            return None

        def stand_in(*args: Any, **kwargs: Any) -> Any:
            inputs = {**dict(zip(self.arguments, args)), **kwargs}
            dtype = next((v.dtype for v in inputs.values() if isinstance(v, torch.Tensor) and v.is_floating_point()),
                         None)
            with probe.untraced():
                out = tree_map(lambda v: v.to(dtype) if dtype and isinstance(v, torch.Tensor)
                               and v.is_floating_point() else v, tuple(self.oracle(inputs)))
            return out[0] if len(self.outputs) == 1 else out
        stand_in.__name__ = self.name
        return stand_in


@dataclass(frozen=True, kw_only=True)
class SequenceSpec(_Called):
    """A function called once per step on `state` it updates in place (e.g. an optimiser step).

    A case's inputs are the initial state (names in `state`) and `steps`, a list of the
    other arguments for each call. `oracle(inputs)` gives, for each name in `compared`,
    the list of its expected values after each step.

    A name in `in_place` is state whose tensors the function must change themselves, as an
    optimiser changes a model's parameters: the caller keeps its own references to the
    tensors the case began with and hands them to each call in a new container, and the
    values compared are those tensors'. A container entry the function replaces by another
    object is reported, and the verdict says so with `rebound_message` (`{state}`: the names).
    """

    name: str
    points: float
    arguments: tuple[str, ...]
    state: tuple[str, ...]
    compared: tuple[str, ...]
    cases: Callable[[torch.Generator], list[Case]]
    oracle: Callable[[Inputs], tuple]
    policy: Policy = field(default_factory=Policy)
    tolerance: Tolerance = field(default_factory=Tolerance)
    mistakes: tuple[Mistake, ...] = ()
    error_hints: tuple[tuple[str, str], ...] = ()
    in_place: tuple[str, ...] = ()
    rebound_message: str = ("les tenseurs de {state} sont remplacés par de nouveaux (`d[k] = …`) au lieu d'être "
                            "modifiés en place : ceux que l'appelant a donnés, et qu'il garde, ne changent pas. "
                            "Modifiez-les en place (`-=`, `+=`, `.sub_(…)`, `.mul_(…)`, `.add_(…)`).")
    kind = "sequence"

    @property
    def outputs(self) -> tuple[str, ...]:
        return self.compared

    def request(self, cases: Sequence[Case], *, stand_ins: str, exercises: Sequence[str]) -> dict[str, Any]:
        return {"function": self.name, "arguments": list(self.arguments), "stand_ins": stand_ins,
                "state": list(self.state), "in_place": list(self.in_place),
                "cases": [{"state": codec.encode_inputs({k: c.inputs[k] for k in self.state}),
                           "steps": [codec.encode_inputs(step) for step in c.inputs["steps"]]} for c in cases]}


@dataclass(frozen=True, kw_only=True)
class StatisticalSpec(_Called):
    """A function that draws from a `Seed` input: its outputs are judged by `properties`.

    `properties(inputs, value)` returns the French problems of one output (empty: right).
    Each case is also called again with the same seed and with another seed: the
    function must draw from the generator it is given, and only from it.
    `false_rejection` is the probability that `properties` rejects one output of a
    correct implementation, computed from its statistics; over every case it must stay
    below 1e-6 (a test checks it, and that ≥ 1,000 draws of the reference pass).
    """

    name: str
    points: float
    arguments: tuple[str, ...]
    cases: Callable[[torch.Generator], list[Case]]
    properties: Callable[[Inputs, Value], list[str]]
    false_rejection: float
    policy: Policy = field(default_factory=Policy)
    error_hints: tuple[tuple[str, str], ...] = ()
    kind = "statistical"

    def called(self, cases: Sequence[Case]) -> list[Case]:
        """Each case, then the same again, then with every seed changed: is the generator the only source?"""
        def reseeded(value: Any) -> Any:
            return Seed((value.seed + 1) % codec.MAX_INT) if isinstance(value, Seed) else value
        return [c for case in cases for c in (case, case, replace(case, inputs=tree_map(reseeded, case.inputs)))]


@dataclass(frozen=True, kw_only=True)
class VariablesSpec:
    """Variables a cell leaves (e.g. the trained parameters), judged by `judge(values) -> (score, messages)`.

    `values` maps each name to its value as `codec.decode` reads it, None when missing;
    `judge` recomputes what it grades from them (never trusts a reported metric) and
    returns a score in [0, 1].
    """

    name: str
    label: str  # how the verdict names it ("entraînement")
    points: float
    variables: tuple[str, ...]
    judge: Callable[[dict[str, Value]], tuple[float, list]]  # messages: French strings or `verdict.Remark`s
    kind = "variables"

    def cases(self, generator: torch.Generator) -> list[Case]:
        return []

    def request(self, cases: Sequence[Case], *, stand_ins: str, exercises: Sequence[str]) -> dict[str, Any]:
        """The variables, and the exercises an error that stopped the cell is traced back to."""
        return {"names": list(self.variables), "exercises": list(exercises)}


@dataclass(frozen=True, kw_only=True)
class ScenarioSpec(_Called):
    """A function that works on objects (e.g. nodes of an expression graph) rather than on values.

    `driver` is a function of a module that is not secret (it runs in the student's
    kernel, and its classes are those the notebook gives): the whole module is sent, and
    `driver(function, *inputs)` builds a case's objects from its plain inputs, calls the
    student's `function` on them and returns plain values. The exercises its objects call
    (`uses`: say, the backward rules of a given `Tensor` class) are played by the reference
    when grading, the notebook's own in the self-check; `given` names the module's classes that replace the notebook's own in
    the student's function, so an edited given class never changes a verdict.
    The report is compared with `oracle(inputs)` as a function's outputs are, or, when
    `properties` is given, `properties(inputs, report)` lists its French problems (no
    oracle: several answers are right) and the score is the share of cases without any.
    A report the driver cannot have made (forged facts) raises ValueError: no point at all.
    """

    name: str
    points: float
    arguments: tuple[str, ...]  # inputs passed positionally to the driver, after the function
    outputs: tuple[str, ...]    # names of the reported values
    driver: Callable[..., Any]
    uses: tuple[str, ...] = ()
    given: tuple[str, ...] = ()
    cases: Callable[[torch.Generator], list[Case]]
    oracle: Callable[[Inputs], tuple] | None = None
    properties: Callable[[Inputs, Value], list[str]] | None = None
    stand_in: Callable[..., Any] | None = None  # the exercise done by the check (`stand_in_function`)
    policy: Policy = field(default_factory=Policy)
    tolerance: Tolerance = field(default_factory=Tolerance)
    mistakes: tuple[Mistake, ...] = ()
    error_hints: tuple[tuple[str, str], ...] = ()
    kind = "scenario"

    def __post_init__(self):
        if (self.oracle is None) == (self.properties is None):
            raise ValueError(f"{self.name}: a scenario has an oracle or properties, not both")

    def request(self, cases: Sequence[Case], *, stand_ins: str, exercises: Sequence[str]) -> dict[str, Any]:
        """The driver's whole module is sent as it is, with the cases' plain inputs."""
        return {**super().request(cases, stand_ins=stand_ins, exercises=exercises),
                "driver": inspect.getsource(inspect.getmodule(self.driver)), "entry": self.driver.__name__,
                "given": list(self.given), "uses": list(self.uses)}


Spec = FunctionSpec | SequenceSpec | StatisticalSpec | VariablesSpec | ScenarioSpec
