"""One TP's checks as an object: its specs, its reference, and the entry points grading uses.

A TP's `checks.py` declares specs and ends with

    ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[...])
    grade = ASSIGNMENT.grade

The reference module is imported only when a stand-in is needed (grading): the checks
also run where it is absent, in the students' own kernels (`autograder.selfcheck`).

The hidden-test cell of the notebook imports `grade` (`grade("sigma", globals())`); the
nbgrader preprocessors use `ASSIGNMENT.plan` and `ASSIGNMENT.judge_facts`. The oracle of
a check is never the reference module: the reference only *stands in* for the other
exercises a graded function calls, so that one mistake costs once.
"""

from __future__ import annotations

import ast
import dis
import functools
import importlib
import inspect
import types
from types import ModuleType
from typing import Any, Callable, Sequence

import torch

from autograder import facts, judge, probe
from autograder.specs import Case, Spec, VariablesSpec
from autograder.verdict import Result, plain


GLOBAL_LOADS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})  # not attributes: `x.backward()` does not use `backward`


def _code_names(obj: Any) -> set[str]:
    """Global names used by a function or by the methods of a class (nested code included)."""
    pending, names = list(probe._code_objects(obj)), set()
    while pending:
        code = pending.pop()
        names |= {ins.argval for ins in dis.get_instructions(code) if ins.opname in GLOBAL_LOADS}
        pending += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return names


def uses(definition_of: Callable[[str], Any], name: str, among: Sequence[str]) -> list[str]:
    """The other names of `among` whose definitions `definition_of(name)` uses, directly or through
    one another, in the order of `among` (a name without a definition uses nothing)."""
    found, pending = set(), [name]
    while pending:
        names = _code_names(definition_of(pending.pop())) & set(among)
        pending += sorted(names - found)
        found |= names
    return [n for n in among if n in found and n != name]


class Assignment:
    """The checks of one TP: `plan` what the kernel runs, `judge_facts` what it reported."""

    def __init__(self, *, reference: ModuleType | str, specs: Sequence[Spec]):
        self._reference = reference
        self.specs = {spec.name: spec for spec in specs}
        if len(self.specs) != len(specs):
            raise ValueError("two specs have the same name")

    @functools.cached_property
    def reference(self) -> ModuleType:
        """The reference solutions (instructor side only: never in the students' environment)."""
        if isinstance(self._reference, ModuleType):
            return self._reference
        return importlib.import_module(self._reference)

    @functools.cached_property
    def exercises(self) -> list[str]:
        """The reference's definitions, in order; ValueError if a spec has none."""
        found = exercises(self.reference)
        unknown = [n for n, s in self.specs.items() if not isinstance(s, VariablesSpec) and n not in found]
        if unknown:
            raise ValueError(f"specs without a reference definition: {unknown}")
        return found

    # ------------------------------------------------------------ stand-ins

    def callees(self, name: str) -> list[str]:
        """The other exercises the reference `name` uses, directly or not, in reference order."""
        return uses(lambda n: getattr(self.reference, n), name, self.exercises)

    def driver_uses(self, name: str) -> list[str]:
        """For a scenario, the exercises its driver's objects call (`ScenarioSpec.uses`); nothing otherwise."""
        return list(getattr(self.specs[name], "uses", ()))

    def stand_ins(self, name: str) -> list[str]:
        """The exercises the reference plays while `name` is graded: those it uses, and for a scenario those
        its driver uses and everything they use."""
        names = set(self.callees(name))
        for used in self.driver_uses(name):
            names |= {used, *self.callees(used)}
        return [n for n in self.exercises if n in names and n != name]

    @functools.lru_cache(maxsize=None)
    def stand_in_source(self, name: str) -> str:
        """The reference module's imports and the definitions `name` uses — never `name` itself."""
        definitions = [inspect.getsource(getattr(self.reference, n)) for n in self.stand_ins(name)]
        return "\n\n".join([imports_of(self.reference), *definitions]) if definitions else ""

    # ------------------------------------------------------------ entry points

    def cases(self, name: str, seed: int) -> list[Case]:
        return self.specs[name].cases(torch.Generator().manual_seed(seed))

    def error_hints(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """The French hints for errors raised in each exercise, by exercise name."""
        return {n: getattr(s, "error_hints", ()) for n, s in self.specs.items() if not isinstance(s, VariablesSpec)}

    def points(self, name: str) -> float:
        return self.specs[name].points

    def label(self, name: str) -> str:
        spec = self.specs[name]
        return spec.label if isinstance(spec, VariablesSpec) else spec.name

    def plan(self, name: str, seed: int, stand_ins: bool = True) -> dict[str, Any]:
        """The request the kernel runs for `name` (see `autograder.probe`): the spec's own, with its kind
        and a nonce. Without `stand_ins`, the function uses the other exercises as the notebook defines them."""
        spec = self.specs[name]
        source = self.stand_in_source(name) if stand_ins and not isinstance(spec, VariablesSpec) else ""
        return request(spec, self.cases(name, seed), source, list(self.error_hints()))

    def judge_facts(self, name: str, seed: int, reported: Any) -> Result:
        """The verdict on what the kernel reported for `plan(name, seed)`; never trusts the facts' shape."""
        spec = self.specs[name]
        try:
            return judge.judge(spec, self.cases(name, seed), reported, self.error_hints())
        except (ValueError, TypeError, KeyError) as error:
            return Result(function=self.label(name), points=0.0, possible=spec.points,
                          remarks=(plain(f"le résultat des tests cachés est illisible ({error}) : "
                                         "aucun point n'est attribué."),))

    def check(self, name: str, namespace: dict[str, Any], seed: int = 0) -> Result:
        """Plan, observe (in this process) and judge `name` for the notebook whose globals are `namespace`."""
        return self.judge_facts(name, seed, probe.observe(self.plan(name, seed), namespace))

    def grade(self, name: str, namespace: dict[str, Any], seed: int = 0) -> float:
        """Prints the French verdict of one exercise and returns its points (the notebook run by hand)."""
        result = self.check(name, namespace, seed)
        print(result.report())
        return result.points


def request(spec: Spec, cases: Sequence[Case], stand_ins: str = "", exercises: Sequence[str] = ()) -> dict[str, Any]:
    """What the kernel runs for `spec` on `cases`: the spec's own request, with its kind and a nonce;
    `stand_ins` is code defining the other exercises, `exercises` the names a stopped cell is traced to."""
    return {"kind": spec.kind, "nonce": facts.nonce(), **spec.request(cases, stand_ins=stand_ins, exercises=exercises)}


def exercises(reference: ModuleType) -> list[str]:
    """The functions and classes defined by a reference module, in the order they are defined."""
    defined = [(name, obj) for name, obj in vars(reference).items() if not name.startswith("_")
               and (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__ == reference.__name__]
    return [name for name, obj in sorted(defined, key=lambda item: inspect.getsourcelines(item[1])[1])]


def imports_of(module: ModuleType) -> str:
    """The module's top-level import statements: what its definitions need to run elsewhere."""
    source = inspect.getsource(module)
    return "\n".join(ast.get_source_segment(source, node) for node in ast.parse(source).body
                     if isinstance(node, ast.Import) or isinstance(node, ast.ImportFrom) and node.module != "__future__")
