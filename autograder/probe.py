"""The kernel side of a hidden check: run the student's function, report facts, judge nothing.

At grading time the `PlantProbes` preprocessor (`autograder.nbgrader_ext`) replaces
each hidden check of the notebook by a call to `run(request, globals())`. The request
holds inputs drawn from a fresh seed, the reference code of the *other* exercises the
function may call (never of the function itself), and a nonce. `run` calls the
student's function on each input under a trace, and displays the outputs and the
trace as one output of MIME type `MIME`. The verdict is made outside the kernel, by
`JudgeProbes`, from that output only: whatever the notebook does to this module, to
torch or to comparison functions, it cannot make a wrong output right.

This module is the only part of `autograder` (with the kernel launchers) that a
sandboxed kernel can read: it holds no solution and no verdict. Everything here must
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
from torch.utils._pytree import tree_leaves

MIME = "application/vnd.autograder.probe+json"
DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
          "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "bool": torch.bool}
MAX_NAMES = 400  # distinct names kept in a trace


# ------------------------------------------------------------------ encoding


def encode_tensor(t: torch.Tensor) -> dict[str, Any]:
    t = t.detach()
    if type(t) is not torch.Tensor:  # a subclass: keep its class name and plain values
        t = t.as_subclass(torch.Tensor)
    dtype = str(t.dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        t, dtype = t.to(torch.float64), "float64"
    data = t.contiguous().cpu().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return {"dtype": dtype, "shape": list(t.shape), "data": base64.b64encode(data).decode("ascii")}


def decode_tensor(value: Any, max_elements: int = 1 << 22) -> torch.Tensor:
    """A tensor from `encode_tensor`'s output; ValueError for anything malformed (it may be forged)."""
    if not isinstance(value, dict) or value.get("dtype") not in DTYPES:
        raise ValueError("not an encoded tensor")
    shape = value.get("shape")
    if not isinstance(shape, list) or not all(isinstance(n, int) and 0 <= n for n in shape) or len(shape) > 8:
        raise ValueError("bad shape")
    count = 1
    for n in shape:
        count *= n
    if count > max_elements:
        raise ValueError("tensor too large")
    dtype = DTYPES[value["dtype"]]
    raw = base64.b64decode(value.get("data", ""), validate=True)
    if len(raw) != count * torch.empty((), dtype=dtype).element_size():
        raise ValueError("size does not match shape")
    if not raw:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone()


def encode_value(value: Any) -> dict[str, Any]:
    """A returned value: a tensor (with its class), or only the name of its type."""
    cls = type(value)
    entry: dict[str, Any] = {"class": f"{cls.__module__}.{cls.__qualname__}"}
    if isinstance(value, torch.Tensor):
        try:
            entry["tensor"] = encode_tensor(value)
        except Exception:  # noqa: BLE001 - a tensor subclass that refuses to be read
            entry["unreadable"] = True
    return entry


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
        if len(self.ops) < MAX_NAMES:
            self.ops.add(getattr(func, "__name__", None) or type(func).__name__)
        if not self.requires_grad:
            self.requires_grad = any(isinstance(t, torch.Tensor) and t.requires_grad
                                     for t in tree_leaves((args, kwargs, out)))
        return out


@contextlib.contextmanager
def traced():
    """Records the C functions called from Python (any thread started meanwhile too) and the aten ops."""
    calls: set[str] = set()

    def profile(frame, event, arg):
        if event == "c_call" and len(calls) < MAX_NAMES:
            calls.add(getattr(arg, "__name__", "?"))

    trace = _Trace()
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        with trace:
            yield calls, trace
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


# ------------------------------------------------------------------ the student's function


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
    if not isinstance(fn, types.FunctionType) or not replacements:
        return fn
    namespace = dict(fn.__globals__)
    namespace.update({k: v for k, v in replacements.items() if k != fn.__name__})
    copy = types.FunctionType(fn.__code__, namespace, fn.__name__, fn.__defaults__, fn.__closure__)
    copy.__kwdefaults__ = fn.__kwdefaults__
    return copy


@contextlib.contextmanager
def stand_ins(source: str):
    """The functions defined by `source`, gone (namespace cleared, no cycle left) once the block ends."""
    namespace: dict[str, Any] = {"torch": torch}
    try:
        if source:
            exec(compile(source, "<reference>", "exec"), namespace)  # noqa: S102 - the grader's own code
        yield {k: v for k, v in namespace.items() if isinstance(v, types.FunctionType)}
    finally:
        namespace.clear()


def _same(a: torch.Tensor, b: Any) -> bool:
    return (type(b) is torch.Tensor and a.shape == b.shape and a.dtype == b.dtype
            and bool(torch.equal(a.nan_to_num(0.5), b.detach().nan_to_num(0.5))))


def call_once(fn: Callable, arguments: list[str], accumulates: list[str], inputs: dict[str, torch.Tensor]):
    """What one call did: outputs or error, inputs changed in place, in-place results, trace."""
    args = {k: v.clone() for k, v in inputs.items()}
    fact: dict[str, Any] = {}
    with quiet(), traced() as (calls, trace):
        try:
            out = fn(*(args[name] for name in arguments))
        except BaseException as error:  # noqa: BLE001 - any student error becomes a fact
            if isinstance(error, KeyboardInterrupt):
                raise
            fact["error"] = f"{type(error).__name__}: {error}".strip()[:500]
            out = None
        # read before leaving the trace: leaving it makes calls of its own
        fact["trace"] = {"calls": sorted(calls), "ops": sorted(trace.ops), "requires_grad": trace.requires_grad}
    if "error" not in fact:
        outs = out if isinstance(out, (tuple, list)) else (out,)
        fact["outputs"] = [encode_value(v) for v in outs[:16]]
        fact["returned"] = len(outs)
    fact["mutated"] = [k for k in inputs if k not in accumulates and not _same(inputs[k], args[k])]
    fact["after"] = {k: encode_value(args[k]) for k in accumulates}
    return fact


# ------------------------------------------------------------------ requests


def observe_function(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    fn = namespace.get(request["function"])
    facts: dict[str, Any] = {"defined": callable(fn)}
    if not callable(fn):
        return facts
    facts["has_loop"] = has_python_loop(fn)
    with stand_ins(request.get("stand_ins", "")) as reference:
        isolated = isolate(fn, reference)
        facts["calls"] = [call_once(isolated, request["arguments"], request.get("accumulates", []),
                                    {k: decode_tensor(v) for k, v in case.items()})
                          for case in request["cases"]]
    return facts


def observe_variables(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name in request["names"]:
        value = namespace.get(name)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found[name] = {"class": type(value).__name__, "number": float(value)}
        else:
            found[name] = encode_value(value)
    return {"variables": found}


def observe(request: dict[str, Any], namespace: dict[str, Any]) -> dict[str, Any]:
    """The facts the grader asked for, as a JSON-able dict that echoes the request's nonce."""
    kind = request["kind"]
    facts = observe_function(request, namespace) if kind == "function" else observe_variables(request, namespace)
    return {"nonce": request["nonce"], **facts}


def run(request: str, namespace: dict[str, Any]) -> None:
    """Entry point of a planted hidden check: displays the facts as a `MIME` output."""
    from IPython.display import display

    display({MIME: observe(decode_request(request), namespace)}, raw=True)
