"""A bounded, pickle-free encoding of the values that cross between the grader and a kernel.

Requests carry inputs to the kernel; facts carry outputs back, and those are written by
code the grader does not trust. Only plain values are encoded — None, bool, int, float
(NaN and ±inf included), short strings, lists, tuples, dicts with string keys — with
tensors and seeded generators as leaves. Anything else crosses as its class name only
(`Foreign`). Decoding checks every limit (depth, items, elements, string length) and
raises `ValueError` on anything malformed: a forged fact can give a wrong value, never
an exception elsewhere or an unbounded allocation.

This module is read by sandboxed kernels (see `autograder.package`): it holds no
solution and no verdict.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import torch

DTYPES = {"float64": torch.float64, "float32": torch.float32, "float16": torch.float16,
          "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32, "int16": torch.int16,
          "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool}
MAX_DEPTH = 6           # nesting of containers
MAX_ITEMS = 256         # elements of one container
MAX_STRING = 200        # characters of a string (longer ones are cut when encoding)
MAX_ELEMENTS = 1 << 22  # elements of one tensor
MAX_INT = 1 << 63


@dataclass(frozen=True)
class Seed:
    """A `torch.Generator` seeded with `seed`: built afresh in the kernel each time it is decoded."""

    seed: int


@dataclass(frozen=True)
class Foreign:
    """A value that is not plain: only its class name crossed (and whether it is a tensor subclass)."""

    cls: str
    tensor_subclass: bool = False

    def __repr__(self) -> str:
        return self.cls


# ------------------------------------------------------------------ tensors


def encode_tensor(t: torch.Tensor) -> dict[str, Any]:
    t = t.detach()
    if type(t) is not torch.Tensor:  # a subclass: keep its plain values
        t = t.as_subclass(torch.Tensor)
    dtype = str(t.dtype).removeprefix("torch.")
    if dtype not in DTYPES:
        t, dtype = t.to(torch.float64), "float64"
    # a fresh dense copy: `contiguous()` keeps the zero strides of an expanded size-1 tensor, which `view` refuses
    data = t.cpu().clone(memory_format=torch.contiguous_format).reshape(-1).view(torch.uint8).numpy().tobytes() \
        if t.numel() else b""
    return {"dtype": dtype, "shape": list(t.shape), "data": base64.b64encode(data).decode("ascii")}


def decode_tensor(value: Any, max_elements: int = MAX_ELEMENTS) -> torch.Tensor:
    """A tensor from `encode_tensor`'s output; ValueError for anything malformed (it may be forged)."""
    if not isinstance(value, dict) or value.get("dtype") not in DTYPES:
        raise ValueError("not an encoded tensor")
    shape = value.get("shape")
    if not isinstance(shape, list) or len(shape) > 8 or not all(type(n) is int and 0 <= n for n in shape):
        raise ValueError("bad shape")
    count = math.prod(shape)
    if count > max_elements:
        raise ValueError("tensor too large")
    dtype = DTYPES[value["dtype"]]
    data = value.get("data", "")
    if not isinstance(data, str):
        raise ValueError("bad tensor data")
    raw = base64.b64decode(data, validate=True)
    if len(raw) != count * torch.empty((), dtype=dtype).element_size():
        raise ValueError("size does not match shape")
    if not raw:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone()


# ------------------------------------------------------------------ values


def _float(x: float) -> Any:
    return x if math.isfinite(x) else repr(x)  # 'nan', 'inf', '-inf': JSON has no such numbers


def encode(value: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON-able description of `value`; containers past the limits are cut, odd values named only."""
    if value is None:
        return {"none": True}
    if type(value) is bool:
        return {"bool": value}
    if type(value) is int and -MAX_INT <= value < MAX_INT:
        return {"int": value}
    if type(value) is float:
        return {"float": _float(value)}
    if type(value) is str:
        return {"str": value[:MAX_STRING]}
    if isinstance(value, torch.Tensor):
        cls = type(value)
        entry: dict[str, Any] = {}
        try:
            entry["tensor"] = encode_tensor(value)
        except Exception:  # noqa: BLE001 - a tensor subclass that refuses to be read
            entry["unreadable"] = True
        if cls is not torch.Tensor:
            entry["class"] = f"{cls.__module__}.{cls.__qualname__}"
        return entry
    if isinstance(value, Seed):
        return {"seed": value.seed}
    if type(value) in (list, tuple) and depth < MAX_DEPTH:
        return {type(value).__name__: [encode(v, depth + 1) for v in value[:MAX_ITEMS]], "length": len(value)}
    if type(value) is dict and depth < MAX_DEPTH and all(type(k) is str for k in value):
        items = list(value.items())[:MAX_ITEMS]
        return {"dict": [[k[:MAX_STRING], encode(v, depth + 1)] for k, v in items], "length": len(value)}
    cls = type(value)
    return {"class": f"{cls.__module__}.{cls.__qualname__}"}


def _items(entry: dict, key: str) -> list | None:
    """The encoded items; None for a container that was cut when encoded (too long to compare)."""
    items, length = entry[key], entry.get("length")
    if not isinstance(items, list) or len(items) > MAX_ITEMS or type(length) is not int:
        raise ValueError(f"malformed {key}")
    if length != len(items):
        if len(items) != MAX_ITEMS or length < MAX_ITEMS:
            raise ValueError(f"malformed {key}")
        return None
    return items


def decode(entry: Any, depth: int = 0, generators: bool = False) -> Any:
    """The value `encode` described; `Seed` leaves become generators when `generators` (kernel side)."""
    if not isinstance(entry, dict) or len(entry) > 3:
        raise ValueError("malformed value")
    if depth > MAX_DEPTH:
        raise ValueError("too deep")
    if entry.get("none") is True:
        return None
    if "bool" in entry and type(entry["bool"]) is bool:
        return entry["bool"]
    if "int" in entry and type(entry["int"]) is int and -MAX_INT <= entry["int"] < MAX_INT:
        return entry["int"]
    if "float" in entry:
        x = entry["float"]
        if type(x) in (int, float):
            return float(x)
        if x in ("nan", "inf", "-inf"):
            return float(x)
        raise ValueError("malformed float")
    if "str" in entry and type(entry["str"]) is str and len(entry["str"]) <= MAX_STRING:
        return entry["str"]
    if "seed" in entry and type(entry["seed"]) is int and 0 <= entry["seed"] < MAX_INT:
        return torch.Generator().manual_seed(entry["seed"]) if generators else Seed(entry["seed"])
    if "tensor" in entry or "unreadable" in entry:
        cls = entry.get("class")
        if cls is not None:
            if not isinstance(cls, str):
                raise ValueError("malformed class")
            return Foreign(cls[:MAX_STRING], tensor_subclass=True)
        return decode_tensor(entry["tensor"])
    if "list" in entry or "tuple" in entry:
        key = "list" if "list" in entry else "tuple"
        items = _items(entry, key)
        if items is None:
            return Foreign(f"{key} de {entry['length']} éléments")
        values = [decode(v, depth + 1, generators) for v in items]
        return values if key == "list" else tuple(values)
    if "dict" in entry:
        pairs = _items(entry, "dict")
        if pairs is None:
            return Foreign(f"dict de {entry['length']} clés")
        if not all(isinstance(p, list) and len(p) == 2 and type(p[0]) is str for p in pairs):
            raise ValueError("malformed dict")
        return {k: decode(v, depth + 1, generators) for k, v in pairs}
    if isinstance(entry.get("class"), str) and len(entry) == 1:
        return Foreign(entry["class"][:MAX_STRING])
    raise ValueError("malformed value")


def encode_inputs(inputs: dict[str, Any]) -> dict[str, Any]:
    return {name: encode(value) for name, value in inputs.items()}


def decode_inputs(encoded: Any, generators: bool = True) -> dict[str, Any]:
    if not isinstance(encoded, dict):
        raise ValueError("inputs are not a mapping")
    return {str(name): decode(value, generators=generators) for name, value in encoded.items()}
