"""Machinery shared by every TP's checks.

A check runs in two separate steps:

* `observe` calls the student's function on drawn inputs and records plain facts
  (inputs, outputs, exception, inputs modified in place, autograd used) — nothing
  is judged there;
* `judge` compares those facts with an oracle (torch autograd, float64) and turns
  them into a `Result` with points and French messages.

Keeping the two apart lets the judging move out of the student's kernel later.
"""

from __future__ import annotations

import contextlib
import dis
import io
import math
import os
import types
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy
import torch
import torch.autograd
import torch.autograd.graph
from torch.overrides import TorchFunctionMode

LOOP_PENALTY = 0.25
MUTATION_PENALTY = 0.25
TOLERANCES = {torch.float64: (1e-6, 1e-8), torch.float32: (1e-4, 1e-5)}  # (rtol, atol)


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
    call: Callable[[Callable, dict[str, torch.Tensor]], Any]
    oracle: Callable[[dict[str, torch.Tensor]], tuple]  # float64 inputs -> expected outputs
    mistakes: tuple[Mistake, ...] = ()
    error_hints: tuple[tuple[str, str], ...] = ()  # (substring of the error, French hint)
    accumulates: tuple[str, ...] = ()  # inputs updated in place; their increment is the output


# ---------------------------------------------------------------- student's code


def has_python_loop(fn: Callable) -> bool:
    """True when the function (or a comprehension/lambda inside it) contains a loop.

    A loop is a `FOR_ITER` or any jump backwards in the bytecode (`while`).
    """
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    pending = [getattr(fn, "__code__", None)]
    while pending:
        code = pending.pop()
        if code is None:
            continue
        for ins in dis.get_instructions(code):
            if ins.opname == "FOR_ITER" or (ins.opcode in jumps and isinstance(ins.argval, int)
                                            and ins.argval < ins.offset):
                return True
        pending += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return False


def isolate(fn: Callable, replacements: dict[str, Callable]) -> Callable:
    """A copy of `fn` whose global names in `replacements` point to other functions.

    While one function is graded, the other exercise functions it calls are the
    reference ones, so one mistake costs points once.
    """
    if not isinstance(fn, types.FunctionType):
        return fn
    namespace = dict(fn.__globals__)
    namespace.update({k: v for k, v in replacements.items() if k != fn.__name__})
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


_AUTOGRAD_CALLS = {"Tensor.backward", "backward", "grad", "TensorBase.requires_grad_", "requires_grad_",
                   "make_dual", "_make_dual", "unpack_dual", "_unpack_dual"}


class _AutogradSpy(TorchFunctionMode):
    """Records whether the code under it asks torch for autograd."""

    def __init__(self):
        super().__init__()
        self.used = False

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__qualname__", None) or getattr(func, "__name__", "")
        if name in _AUTOGRAD_CALLS or kwargs.get("requires_grad") is True:
            self.used = True
        return func(*args, **kwargs)


@contextlib.contextmanager
def autograd_watch():
    """Yields a spy whose `used` says whether autograd ran (engine tripwire + function mode)."""
    spy = _AutogradSpy()
    engine = torch.autograd.graph._engine_run_backward

    def tripwire(*args, **kwargs):
        spy.used = True
        return engine(*args, **kwargs)

    torch.autograd._engine_run_backward = tripwire
    torch.autograd.graph._engine_run_backward = tripwire
    try:
        with spy:
            yield spy
    finally:
        torch.autograd._engine_run_backward = engine
        torch.autograd.graph._engine_run_backward = engine


@contextlib.contextmanager
def quiet():
    """Student code run by a check prints nothing and warns nothing (stderr zeroes a cell)."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def snapshot(value: Any) -> Any:
    """A detached copy of a returned value (tensors cloned, tuples and lists as tuples)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone() if type(value) is torch.Tensor else value
    if isinstance(value, (tuple, list)):
        return tuple(snapshot(v) for v in value)
    return value


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tolist() == b.tolist()


def observe(spec: FunctionSpec, fn: Callable | None, cases: Sequence[Case]) -> Observation:
    """Calls the student's function on every case and records what happened."""
    obs = Observation(spec.name, tampered=tampered_functions())
    if not callable(fn):
        obs.missing = True
        return obs
    obs.has_loop = has_python_loop(fn)
    for case in cases:
        args = {k: v.clone() for k, v in case.inputs.items()}
        call = Call(case)
        with quiet(), autograd_watch() as spy:
            try:
                out = spec.call(fn, args)
                call.outputs = snapshot(out) if isinstance(out, (tuple, list)) else (snapshot(out),)
            except Exception as error:  # noqa: BLE001 - any student error becomes a fact
                call.error = f"{type(error).__name__}: {error}".strip()
        call.autograd = spy.used
        call.mutated = [k for k in case.inputs if k not in spec.accumulates and not _same(args[k], case.inputs[k])]
        call.after = {k: args[k].detach().clone() for k in spec.accumulates}
        obs.calls.append(call)
    return obs


# ----------------------------------------------------------------- tampering


def _origin_ok(obj: Any, package_dir: str) -> bool:
    if isinstance(obj, (types.BuiltinFunctionType, types.MethodDescriptorType, types.WrapperDescriptorType,
                        types.MethodWrapperType, types.ClassMethodDescriptorType, types.GetSetDescriptorType)):
        return True
    obj = getattr(obj, "__func__", obj)
    code = getattr(obj, "__code__", None)
    if code is None:
        return type(obj).__module__.startswith(("torch", "numpy", "builtins"))
    return os.path.abspath(code.co_filename).startswith(package_dir)


_TORCH_DIR = os.path.dirname(os.path.abspath(torch.__file__))
_NUMPY_DIR = os.path.dirname(os.path.abspath(numpy.__file__))
_WATCHED = [
    (torch, _TORCH_DIR, ["allclose", "isclose", "equal", "tanh", "abs", "sum", "all", "any", "isnan"]),
    (torch.testing, _TORCH_DIR, ["assert_close"]),
    (torch.nn.functional, _TORCH_DIR, ["linear"]),
    (torch.autograd, _TORCH_DIR, ["grad", "backward"]),
    (torch.Tensor, _TORCH_DIR, ["allclose", "isclose", "equal", "__eq__", "__sub__", "__le__", "__mul__", "__add__",
                                "abs", "all", "tolist", "item", "to", "clone", "detach", "backward", "sum"]),
    (numpy, _NUMPY_DIR, ["allclose", "isclose", "array_equal"]),
    (numpy.testing, _NUMPY_DIR, ["assert_allclose", "assert_array_equal"]),
]


def tampered_functions() -> list[str]:
    """Names of torch/numpy/math functions that the notebook replaced by its own."""
    names = [f"{module.__name__}.{attr}" for module, root, attrs in _WATCHED
             for attr in attrs if not _origin_ok(getattr(module, attr, None), root)]
    if not isinstance(math.isclose, types.BuiltinFunctionType):
        names.append("math.isclose")
    return names


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
                     if call.after[k].shape == call.case.inputs[k].shape else call.after[k]
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
        return zero("des fonctions de torch/numpy ont été remplacées par le notebook ("
                    + ", ".join(obs.tampered) + ") : aucun point n'est attribué.")
    if any(call.autograd for call in obs.calls):
        return zero("la fonction utilise autograd (backward, torch.autograd.grad, requires_grad…) : "
                    "le but du TP est de calculer les gradients à la main, aucun point n'est attribué.")
    returned = [v for c in obs.calls if c.outputs for v in c.outputs]
    if any(isinstance(v, torch.Tensor) and type(v) is not torch.Tensor for v in returned):
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


def check(spec: FunctionSpec, fn: Callable | None, seed: int = 0) -> Result:
    """Observe, then judge, the student's function on the spec's cases."""
    cases = spec.cases(torch.Generator().manual_seed(seed))
    return judge(spec, observe(spec, fn, cases))
