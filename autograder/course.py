"""The TPs of a course, discovered from its layout rather than named in code.

A TP is a folder `source/<name>` holding at least one notebook: that is what
`nbgrader generate_assignment <name>` needs. It can be graded by `autograder grade`
once its checks exist (`autograder/<name>/checks.py`); a TP being written may have
its notebook before its checks.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path


def assignments(root: Path) -> list[str]:
    """The course's TPs, sorted: folders of `root/source` (not hidden) with at least one `.ipynb`."""
    source = root / "source"
    if not source.is_dir():
        return []
    return sorted(p.name for p in source.iterdir()
                  if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.ipynb")))


def tp_module(tp: str, part: str) -> str:
    """The module of one part of a TP — `checks`, `reference` or `given` — i.e. `autograder/<tp>/<part>.py`.
    (Not in the package's `__init__.py`: a course folder holding `autograder/tpNN/` without one makes
    `autograder` a namespace package, whose `__init__.py` never runs.)"""
    return f"autograder.{tp}.{part}"


def has_grader(name: str) -> bool:
    """Whether `autograder.<name>.checks` exists (found without importing the checks themselves)."""
    try:
        return importlib.util.find_spec(tp_module(name, "checks")) is not None
    except ModuleNotFoundError:  # no package autograder.<name>
        return False
