"""Comparing what a student's code returned with what the oracle expects, leaf by leaf.

Outputs are compared unit by unit: a unit is one leaf of the expected outputs (a tensor,
a number), named by its path (`grads["w1"]`); a function's points are split evenly over
its units. `describe` says in French how a leaf differs, its measured numbers apart
(the `values` of a `autograder.verdict.Remark`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_map

from autograder.codec import Foreign
from autograder.specs import FunctionSpec, ScenarioSpec, SequenceSpec, Tolerance

MISSING = Foreign("(absent)")


def is_number(x: Any) -> bool:
    return type(x) in (int, float)


def as_float64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


def float64(value: Any) -> Any:
    """Inputs as the oracle takes them: float tensors in float64, structure kept."""
    def leaf(v: Any) -> Any:
        if not isinstance(v, torch.Tensor):
            return v
        return v.detach().to(torch.float64) if v.is_floating_point() else v.detach().clone()
    return tree_map(leaf, value)


def copy(value: Any) -> Any:
    return tree_map(lambda v: v.detach().clone() if isinstance(v, torch.Tensor) else v, value)


def _tensor_close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, tol: Tolerance,
                  oracle32: Any) -> bool:
    if got.is_complex() or tuple(got.shape) != tuple(want.shape):
        return False
    if not want.is_floating_point():
        return got.dtype == want.dtype and bool(torch.equal(got, want))
    g, w = as_float64(got), as_float64(want)
    finite = torch.isfinite(w)
    if not torch.equal(torch.isnan(g), torch.isnan(w)) or not torch.equal(g[~finite & ~torch.isnan(w)],
                                                                          w[~finite & ~torch.isnan(w)]):
        return False  # NaN where NaN is expected, the same infinities where they are expected
    g, w = g[finite], w[finite]
    if not w.numel():
        return True
    if dtype == torch.float64:
        allowed = tol.atol64 + tol.rtol64 * w.abs()
    else:
        allowed = tol.atol32 + tol.rtol32 * w.abs() + tol.norm_rtol32 * w.abs().max()
        if isinstance(oracle32, torch.Tensor) and oracle32.shape == want.shape:
            own = (as_float64(oracle32)[finite] - w).abs()
            if torch.isfinite(own).all():
                allowed = allowed + tol.oracle_factor * own.max()
    return bool(((g - w).abs() <= allowed).all())  # NaN where a number is expected compares False


def close(got: Any, want: Any, dtype: torch.dtype = torch.float64, tol: Tolerance = Tolerance(),
          oracle32: Any = None) -> bool:
    """`got` has the structure of `want`, and its numbers match within the tolerance for `dtype`."""
    if isinstance(want, torch.Tensor):
        return type(got) is torch.Tensor and _tensor_close(got, want, dtype, tol, oracle32)
    if isinstance(want, float):
        if not is_number(got):
            return False
        scalar = lambda x: torch.tensor(float(x), dtype=torch.float64)  # noqa: E731
        return close(scalar(got), scalar(want), dtype, tol, scalar(oracle32) if is_number(oracle32) else None)
    if isinstance(want, (list, tuple)):
        sub = oracle32 if isinstance(oracle32, (list, tuple)) and len(oracle32) == len(want) else [None] * len(want)
        return (isinstance(got, (list, tuple)) and len(got) == len(want)
                and all(close(g, w, dtype, tol, o) for g, w, o in zip(got, want, sub)))
    if isinstance(want, dict):
        sub = oracle32 if isinstance(oracle32, dict) else {}
        return (isinstance(got, dict) and got.keys() == want.keys()
                and all(close(got[k], want[k], dtype, tol, sub.get(k)) for k in want))
    return type(got) is type(want) and got == want


def _kind_of(value: Any) -> str:
    if isinstance(value, Foreign):
        return value.cls.removeprefix("builtins.")
    return {torch.Tensor: "un tenseur", float: "un nombre (float)", int: "un entier", bool: "un booléen",
            str: "une chaîne", type(None): "None", list: "une liste", tuple: "un tuple",
            dict: "un dict"}.get(type(value), type(value).__name__)


def describe(got: Any, want: Any) -> tuple[str, dict[str, str]]:
    """How `got` differs from `want`, in French, with blanks for its measured values (and those values)."""
    if got is MISSING:
        return "absent de ce que la fonction renvoie", {}
    if isinstance(want, torch.Tensor):
        if type(got) is not torch.Tensor:
            return f"un tenseur torch était attendu, obtenu {_kind_of(got)}", {}
        if tuple(got.shape) != tuple(want.shape):
            return f"forme attendue {tuple(want.shape)}, obtenue {tuple(got.shape)}", {}
        if want.is_floating_point() and not torch.isfinite(got).all() and torch.isfinite(want).all():
            return "valeurs non finies (NaN ou ±inf) là où le résultat est fini", {}
        diff = (as_float64(got) - as_float64(want)).abs()
        return "valeurs fausses (écart max {écart})", {"écart": f"{diff.nan_to_num(math.inf).max().item():.3g}"}
    if isinstance(want, float):
        if not is_number(got):
            return f"un nombre était attendu, obtenu {_kind_of(got)}", {}
        return "valeur fausse ({obtenu} au lieu de {attendu})", {"obtenu": f"{got:.6g}", "attendu": f"{want:.6g}"}
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"{_kind_of(want)} était attendu(e), obtenu {_kind_of(got)}", {}
        if len(got) != len(want):
            return f"{len(want)} éléments attendus, {len(got)} obtenus", {}
        return "éléments faux", {}
    if isinstance(want, dict):
        if not isinstance(got, dict):
            return f"un dict était attendu, obtenu {_kind_of(got)}", {}
        return f"clés attendues {sorted(want)}, obtenues {sorted(got)}", {}
    return f"{want!r} attendu, obtenu {got!r}", {}


# ------------------------------------------------------------------------ units


Path = tuple  # keys from an output to a leaf: str for a dict key, int for a list or tuple index
Compared = FunctionSpec | SequenceSpec | ScenarioSpec  # the kinds whose outputs are compared with an oracle


@dataclass(frozen=True)
class Unit:
    """One leaf of the outputs: scored, compared and diagnosed on its own."""

    index: int   # which output
    path: Path   # from that output to the leaf
    name: str    # as shown to the student: grads["w1"]


def _leaves(value: Any, path: Path = ()) -> list[Path]:
    if isinstance(value, dict) and value:
        return [p for k in value for p in _leaves(value[k], (*path, k))]
    if isinstance(value, (list, tuple)) and value and not all(is_number(v) for v in value):
        return [p for i, v in enumerate(value) for p in _leaves(v, (*path, i))]
    return [path]


def _path_name(name: str, path: Path) -> str:
    return name + "".join(f'["{k}"]' if isinstance(k, str) else f"[{k}]" for k in path)


def units(spec: Compared, expected: tuple) -> list[Unit]:
    """The leaves of the expected outputs (for a sequence: of the state after one step)."""
    found = []
    for i, name in enumerate(spec.outputs):
        value = expected[i][0] if isinstance(spec, SequenceSpec) else expected[i]
        found += [Unit(i, p, _path_name(name, p)) for p in _leaves(value)]
    return found


def at(value: Any, path: Path) -> Any:
    """The leaf of `value` at `path`, or `MISSING` where the structure differs."""
    for key in path:
        if isinstance(key, str) and isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(key, int) and isinstance(value, (list, tuple)) and 0 <= key < len(value):
            value = value[key]
        else:
            return MISSING
    return value


def unit_value(spec: Compared, outputs: tuple, unit: Unit) -> Any:
    """A unit's value in a tuple of outputs; for a sequence, the list of its values after each step."""
    if isinstance(spec, SequenceSpec):
        return [at(step, unit.path) for step in outputs[unit.index]]
    return at(outputs[unit.index], unit.path)
