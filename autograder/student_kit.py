"""The checks as students get them: the `autograder` package without any reference solution.

    python -m autograder.student_kit DEST             # writes DEST/ (a pip-installable project)
    python -m autograder.student_kit DEST --install   # and installs it into this interpreter

The kit holds what `autograder.selfcheck` needs in a student's kernel — the specs,
oracles, mistake catalogues and French messages of every TP — and nothing that grades,
releases or knows a solution: no `tpNN/reference.py`, no grading, sandbox or release code.
The classroom's `student-env` and the student image install it.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from autograder.course import tp_module
from autograder.package import student_files, tp_packages

PACKAGE = Path(__file__).resolve().parent
DISTRIBUTION = "autograder-checks"

PYPROJECT = f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{DISTRIBUTION}"
version = "0.1.0"
description = "Self-checks of the course's TPs (no solutions)"
requires-python = ">=3.11"

[tool.setuptools.packages.find]
include = ["autograder*"]
"""


def files(package: Path = PACKAGE) -> list[Path]:
    """The package files the kit holds, relative to `package`: the self-check and every TP's checks, with what
    they import (`autograder.package.student_files`); never a reference solution."""
    chosen = student_files(package)
    if any(p.name == "reference.py" for p in chosen):
        raise SystemExit(f"the checks import a reference module ({[str(p) for p in chosen if p.name == 'reference.py']}): "
                         "a check's oracle is torch, never the reference (see autograder/assignment.py)")
    return chosen


def build(dest: Path, package: Path = PACKAGE) -> Path:
    """Writes the kit project into `dest` (emptied first); returns `dest`."""
    if dest.exists():
        shutil.rmtree(dest)
    for relative in files(package):
        target = dest / "autograder" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / relative, target)
    (dest / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    return dest


def install(dest: Path, python: str = sys.executable) -> None:
    """Installs the kit at `dest` into `python`'s environment (its dependencies are the course's)."""
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--disable-pip-version-check", "--force-reinstall", str(dest)], check=True)


def _body(definition) -> str:
    """The code of a reference definition after its signature and docstring."""
    source = textwrap.dedent(inspect.getsource(definition))
    tree = ast.parse(source).body[0]
    body = tree.body[1:] if ast.get_docstring(tree) is not None else tree.body
    lines = source.splitlines()
    return "\n".join(lines[body[0].lineno - 1:]).strip("\n")


def leaks(folder: Path) -> list[str]:
    """What of the reference solutions is found below `folder` (an environment, a kit): reference
    modules, and in the `autograder` packages there, solution markers or the code of any reference
    definition (instructor side: this reads the references)."""
    from autograder.course import has_grader
    found = [str(p) for p in folder.rglob("reference.py") if p.parent.parent.name == "autograder"]
    packages = [p for p in folder.rglob("autograder") if p.is_dir()]
    texts = {p: p.read_text(encoding="utf-8", errors="replace") for package in packages for p in package.rglob("*.py")}
    found += [f"{p}: solution markers" for p, text in texts.items() if "### BEGIN SOLUTION" in text]
    for tp in (p.name for p in tp_packages()):
        if not has_grader(tp):
            continue
        assignment = importlib.import_module(tp_module(tp, "checks")).ASSIGNMENT
        for name in assignment.exercises:
            body = _body(getattr(assignment.reference, name))
            found += [f"{p}: the reference's {tp}.{name}" for p, text in texts.items() if body in text]
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--install", action="store_true", help="then pip-install it into this interpreter")
    args = parser.parse_args(argv)
    build(args.dest)
    print(f"{args.dest}: {len(files())} files, TPs {', '.join(p.name for p in tp_packages())}")
    if args.install:
        install(args.dest)


if __name__ == "__main__":
    main()
