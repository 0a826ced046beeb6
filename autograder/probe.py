"""The kernel side of a hidden check: run the student's function, report facts, judge nothing.

At grading time the `PlantProbes` preprocessor (`autograder.nbgrader_ext`) replaces
each hidden check of the notebook by a call to `run(request, globals())`. The request
holds inputs drawn from a fresh seed, the reference code of the *other* exercises the
function may call (never of the function itself), and a nonce. `run` calls the
student's function on each input under a trace, and displays the outputs and the
trace as one output of MIME type `MIME`. The verdict is made outside the kernel, by
`JudgeProbes`, from that output only: whatever the notebook does to this module, to
torch or to comparison functions, it cannot make a wrong output right.

One observer per kind of check (`OBSERVERS`): a function called once per case, a
function called step after step on state it keeps, a function called by a driver the
grader sends on objects it builds, the variables a cell left. Values
cross as `autograder.codec` encodes them.

This module and `codec` are the only parts of `autograder` (with the kernel launchers)
that a sandboxed kernel can read: it holds no solution and no verdict. Everything here must
keep working when student code has already run in the same interpreter.
"""

from __future__ import annotations

import base64
import contextlib
import dis
import io
import json
import sys
import threading
import types
import warnings
from typing import Any, Callable

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten, tree_leaves, tree_map

from autograder.codec import decode_inputs, encode

MIME = "application/vnd.autograder.probe+json"
MAX_NAMES = 400  # distinct names kept in a trace


# ------------------------------------------------------------------ requests


def encode_request(request: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(request).encode()).decode("ascii")


def decode_request(text: str) -> dict[str, Any]:
    return json.loads(base64.b64decode(text))


# ------------------------------------------------------------------ tracing


class _Trace(TorchFunctionMode):
    """Torch functions, methods and `torch.ops` called from Python, and whether any saw a tensor requiring grad.

    A function mode rather than a dispatch mode: it sees the same calls from Python
    (autograd's own backward kernels run in C++, and the engine call is in the profile),
    and its first use does not import torch._dynamo (2 s in a fresh kernel).
    """

    def __init__(self):
        super().__init__()
        self.ops: set[str] = set()
        self.requires_grad = False

    def __torch_function__(self, func, types_, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if UNTRACED[0]:
            return out
        if len(self.ops) < MAX_NAMES:
            self.ops.add(getattr(func, "__name__", None) or type(func).__name__)
        if not self.requires_grad:
            self.requires_grad = any(isinstance(t, torch.Tensor) and t.requires_grad
                                     for t in tree_leaves((args, kwargs, out)))
        return out


UNTRACED = [0]  # > 0 while the checks' own code runs inside the student's call (`untraced`)


@contextlib.contextmanager
def untraced():
    """What runs in the block is not the student's: the trace does not record it (the self-check's
    stand-ins for the student's failing exercises, which compute with torch and autograd)."""
    UNTRACED[0] += 1
    try:
        yield
    finally:
        UNTRACED[0] -= 1


@contextlib.contextmanager
def traced():
    """Records the C functions called from Python and the modules of the Python functions that ran
    (on any thread started meanwhile too), and the torch functions called."""
    calls: set[str] = set()
    modules: set[str] = set()

    def profile(frame, event, arg):
        if UNTRACED[0]:
            return
        if event == "c_call":
            if len(calls) < MAX_NAMES:
                calls.add(getattr(arg, "__name__", "?"))
        elif event == "call" and len(modules) < MAX_NAMES:
            name = frame.f_globals.get("__name__")
            if isinstance(name, str):
                modules.add(name)

    trace = _Trace()
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        with trace:
            yield calls, modules, trace
    finally:
        sys.setprofile(None)
        threading.setprofile(None)


@contextlib.contextmanager
def quiet():
    """Student code run by a check prints nothing and warns nothing."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), \
            contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# ------------------------------------------------------------------ the student's code


def _code_objects(obj: Any) -> list[types.CodeType]:
    """The code of a function, or of every function and property of a class."""
    if isinstance(obj, type):
        members = [m.fget if isinstance(m, property) else getattr(m, "__func__", m) for m in vars(obj).values()]
        return [m.__code__ for m in members if isinstance(m, types.FunctionType)]
    code = getattr(obj, "__code__", None)
    return [code] if isinstance(code, types.CodeType) else []


def has_python_loop(obj: Callable) -> bool:
    """True when the function or class (or a comprehension/lambda inside it) contains a loop.

    A loop is a `FOR_ITER` or any jump backwards in the bytecode (`while`).
    """
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    pending = _code_objects(obj)
    while pending:
        code = pending.pop()
        for ins in dis.get_instructions(code):
            if ins.opname == "FOR_ITER" or (ins.opcode in jumps and isinstance(ins.argval, int)
                                            and ins.argval < ins.offset):
                return True
        pending += [c for c in code.co_consts if isinstance(c, types.CodeType)]
    return False


def isolate(fn: Callable, replacements: dict[str, Any]) -> Callable:
    """A copy of `fn` whose global names in `replacements` point to the reference definitions.

    While one function is graded, the other exercises it calls are the reference ones,
    so one mistake costs points once.
    """
    if not isinstance(fn, types.FunctionType) or not replacements:
        return fn
    namespace = dict(fn.__globals__)
    namespace.update({k: v for k, v in replacements.items() if k != fn.__name__})
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


REFERENCE = "<reference>"


@contextlib.contextmanager
def stand_ins(source: str | dict[str, Any]):
    """The functions and classes defined by `source` (with its imports), gone once the block ends; in the
    grader's process (the self-check), `source` may be the stand-ins themselves, by name."""
    if isinstance(source, dict):
        yield source
        return
    namespace: dict[str, Any] = {"__name__": REFERENCE}
    try:
        if source:
            exec(compile(source, REFERENCE, "exec"), namespace)  # noqa: S102 - the grader's own code
        yield {k: v for k, v in namespace.items()
               if isinstance(v, (types.FunctionType, type)) and getattr(v, "__module__", None) == REFERENCE}
    finally:
        namespace.clear()


def same(a: Any, b: Any) -> bool:
    """`b` is still what `a` was: same types, structure and values (NaN equal to NaN)."""
    if isinstance(a, torch.Tensor):
        return (type(b) is torch.Tensor and a.shape == b.shape and a.dtype == b.dtype
                and bool(torch.equal(a.nan_to_num(0.5), b.detach().nan_to_num(0.5))))
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Generator):
        return True
    try:
        return bool(a == b) or (a != a and b != b)
    except Exception:  # noqa: BLE001
        return False


def call_once(fn: Callable, arguments: list[str], args: dict[str, Any]) -> dict[str, Any]:
    """What one call did: its output (encoded) or error, and the trace of what ran."""
    fact: dict[str, Any] = {}
    with quiet(), traced() as (calls, modules, trace):
        try:
            out = fn(*(args[name] for name in arguments))
        except BaseException as error:  # noqa: BLE001 - any student error becomes a fact
            if isinstance(error, KeyboardInterrupt):
                raise
            fact["error"] = f"{type(error).__name__}: {error}".strip()[:500]
            out = None
        # read before leaving the trace: leaving it makes calls of its own
        fact["trace"] = {"calls": sorted(calls), "ops": sorted(trace.ops), "modules": sorted(modules),
                         "requires_grad": trace.requires_grad}
    if "error" not in fact:
        fact["output"] = encode(out)
    return fact


def _function(request: dict[str, Any], namespace: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The student's function (None when not defined), and the facts every observer of a function starts with."""
    fn = namespace.get(request["function"])
    fn = fn if callable(fn) else None
    return fn, {"defined": True, "has_loop": has_python_loop(fn), "calls": []} if fn is not None else {"defined": False}


# ------------------------------------------------------------------ observers


def observe_function(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """One call per case; inputs changed in place are named, `accumulates` ones reported after the call."""
    fn, facts = _function(request, namespace)
    if fn is None:
        return facts
    accumulates = request.get("accumulates", [])
    with stand_ins(request.get("stand_ins", "")) as reference:
        isolated = isolate(fn, reference)
        for case in request["cases"]:
            args, before = decode_inputs(case), decode_inputs(case)
            fact = call_once(isolated, request["arguments"], args)
            fact["mutated"] = [k for k in before if k not in accumulates and not same(before[k], args[k])]
            fact["after"] = {k: encode(args[k]) for k in accumulates}
            facts["calls"].append(fact)
    return facts


def _same_objects(a: Any, b: Any) -> bool:
    """`a` and `b` hold the very same objects, in containers of the same structure."""
    try:
        (leaves_a, spec_a), (leaves_b, spec_b) = tree_flatten(a), tree_flatten(b)
        return spec_a == spec_b and all(x is y for x, y in zip(leaves_a, leaves_b))
    except Exception:  # noqa: BLE001 - whatever the student's code put there
        return False


def observe_sequence(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """Per case, the function called once per step on the same state objects; the state after each call.

    State `in_place` is handed to each call in new containers holding the tensors the case began with
    (the caller keeps its own references): what is reported is those tensors, and whether the function
    put other objects in the containers (`rebound`)."""
    fn, facts = _function(request, namespace)
    if fn is None:
        return facts
    in_place = request.get("in_place", [])
    with stand_ins(request.get("stand_ins", "")) as reference:
        isolated = isolate(fn, reference)
        for case in request["cases"]:
            state, steps = decode_inputs(case["state"]), []
            for step in case["steps"]:
                given = {**state, **{k: tree_map(lambda v: v, state[k]) for k in in_place}}
                fact = call_once(isolated, request["arguments"], {**given, **decode_inputs(step)})
                fact["after"] = {k: encode(state[k]) for k in request["state"]}
                fact["rebound"] = [k for k in in_place if not _same_objects(given[k], state[k])]
                steps.append(fact)
                if "error" in fact:
                    break
            facts["calls"].append({"steps": steps})
    return facts


DRIVER = "<driver>"


def observe_scenario(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """Per case, the grader's driver builds the objects and calls the student's function on them.

    The driver module runs over the exercises it uses: the reference stand-ins when
    grading, the notebook's own otherwise (the self-check). Its given classes replace the
    notebook's in the student's function, which is traced together with the driver.
    """
    fn, facts = _function(request, namespace)
    if fn is None:
        return facts
    with stand_ins(request.get("stand_ins", "")) as reference:
        module: dict[str, Any] = {n: namespace[n] for n in request["uses"] if callable(namespace.get(n))}
        module.update(reference, __name__=DRIVER)
        exec(compile(request["driver"], DRIVER, "exec"), module)  # noqa: S102 - the grader's own code
        isolated = isolate(fn, {**reference, **{n: module[n] for n in request["given"]}})
        drive = module[request["entry"]]
        for case in request["cases"]:
            args = decode_inputs(case)
            facts["calls"].append(call_once(lambda *values: drive(isolated, *values), request["arguments"], args))
        module.clear()
    return facts


def raised_in(error: BaseException, exercises: Any) -> str | None:
    """The innermost of the notebook's exercises the error's traceback went through."""
    function, tb = None, error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name in exercises:
            function = tb.tb_frame.f_code.co_name
        tb = tb.tb_next
    return function


def last_error(exercises: list[str]) -> dict[str, Any] | None:
    """The error that stopped the last failing cell (IPython keeps it in `sys.last_value`),
    and the exercise it was raised in."""
    error = getattr(sys, "last_value", None)
    if not isinstance(error, BaseException) or type(error).__name__ == "VerificationRatee":
        return None
    function = raised_in(error, exercises)
    try:
        text = f"{type(error).__name__}: {error}".strip()[:300]
    except Exception:  # noqa: BLE001 - an exception whose message cannot be read
        text = type(error).__name__
    return {"error": text, "function": function}


def observe_variables(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """The variables asked for, as they are (None when missing; numpy numbers read as floats),
    and, when one is missing, the last error."""
    import numbers

    found = {}
    for name in request["names"]:
        value = namespace.get(name)
        if isinstance(value, numbers.Real) and not isinstance(value, (bool, int, torch.Tensor)):
            value = float(value)
        found[name] = encode(value)
    facts: dict[str, Any] = {"variables": found}
    if any(name not in namespace for name in request["names"]):
        facts["error"] = last_error(request.get("exercises", []))
    return facts


# the statistical kind is a function kind whose cases repeat seeds: the kernel needs nothing more
OBSERVERS = {"function": observe_function, "statistical": observe_function, "sequence": observe_sequence,
             "scenario": observe_scenario, "variables": observe_variables}


def observe(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """The facts the grader asked for, as a JSON-able dict that echoes the request's nonce."""
    return {"nonce": request["nonce"], **OBSERVERS[request["kind"]](request, namespace)}


def run(request: str, namespace: dict[str, Any]) -> None:
    """Entry point of a planted hidden check: displays the facts as a `MIME` output."""
    from IPython.display import display

    display({MIME: observe(decode_request(request), namespace)}, raw=True)
