"""Which modules of `autograder` go where, worked out from what imports what (one source of truth).

Two places get only part of the package:

* a sandboxed kernel (`autograder.bubblewrap`): what a hidden check and a warm kernel run there,
  i.e. `probe` and `zygote` and what they import — no verdict, no checks, no solution;
* the students' environments (`autograder.student_kit`): what the self-check and every TP's
  checks import — no reference solution, no grading, sandbox or release code.

Each is the package's `__init__.py` plus the modules its entry points import from `autograder`,
directly or not, found in their source (imports inside functions included): a module that starts
to import another one carries it along, and nothing is kept in a list by hand.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
KERNEL_ENTRIES = ("probe.py", "zygote.py")
STUDENT_ENTRIES = ("selfcheck.py",)  # and every TP's checks and given code (`student_files`)


def _imported(path: Path, package: Path) -> set[Path]:
    """The modules of the package that the module at `path` imports anywhere in its source."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == package.name and len(parts) > 1:
                module = package.joinpath(*parts[1:]).with_suffix(".py")
                if module.is_file():
                    found.add(module)
    return found


def closure(entries: list[Path], package: Path = PACKAGE) -> list[Path]:
    """`entries`, `__init__.py` and every module of the package they import, directly or not, relative to it."""
    seen, pending = set(), [package / "__init__.py", *entries]
    while pending:
        path = pending.pop()
        if path not in seen:
            seen.add(path)
            pending += _imported(path, package)
    return sorted(p.relative_to(package) for p in seen)


def kernel_files(package: Path = PACKAGE) -> list[Path]:
    """What a sandboxed kernel may read of the package."""
    return closure([package / name for name in KERNEL_ENTRIES], package)


def tp_packages(package: Path = PACKAGE) -> list[Path]:
    """The TP packages (`tpNN/` with a `checks.py`) of `package`."""
    return sorted(p for p in package.iterdir() if p.is_dir() and p.name.startswith("tp") and (p / "checks.py").exists())


def student_files(package: Path = PACKAGE) -> list[Path]:
    """What the students' environments hold of the package: the self-check, and every TP's checks and given code
    with what they import (never a `reference.py`: `student_kit` refuses to build a kit that would)."""
    entries = [package / name for name in STUDENT_ENTRIES]
    for tp in tp_packages(package):
        entries += [tp / name for name in ("__init__.py", "checks.py", "given.py") if (tp / name).exists()]
    return closure(entries, package)
