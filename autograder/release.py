"""`make release`: write the shared and reference code into the source notebooks, then generate `release/`.

Convention for a TP named ASSIGNMENT: `source/ASSIGNMENT/*.ipynb` holds solution
cells whose nbgrader `grade_id` is the name of a function or class of
`autograder.ASSIGNMENT.reference`; each such cell is rewritten from that definition.
A cell whose `grade_id` is `outils` receives `source/outils.py`, the helpers every
notebook shares (its visible checks), so that they are written once; `__TP__` in it
becomes the TP's name. A TP that gives students code the grader also runs (a class its
scenario checks build objects with) keeps it in `autograder/ASSIGNMENT/given.py`: a cell
whose `grade_id` names one of its definitions receives that definition as it is.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import nbformat

from autograder import course, figures
from autograder.course import tp_module


def environment() -> dict[str, str]:
    """This interpreter's bin folder first on PATH: nbgrader runs `alembic` from there."""
    return {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}


BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


def solution_cell_source(fn) -> str:
    """The function's source with its body (after the docstring) between solution markers."""
    source = textwrap.dedent(inspect.getsource(fn)).rstrip("\n")
    lines = source.split("\n")
    node = ast.parse(source).body[0]
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    first = body[0].lineno - 1 - (len(body[0].decorator_list) if hasattr(body[0], "decorator_list") else 0)
    indent = lines[first][: len(lines[first]) - len(lines[first].lstrip())]
    return "\n".join(lines[:first] + [indent + BEGIN] + lines[first:] + [indent + END])


def grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


SHARED_CELLS = {"outils": "outils.py"}  # grade_id -> file of source/ written into that cell
TP_PLACEHOLDER = "__TP__"


def shared_cells(source: Path, assignment: str) -> dict[str, str]:
    """The text of each shared cell for one TP, from its file in `source/` (absent files are skipped)."""
    return {cell: (source / name).read_text(encoding="utf-8").rstrip("\n").replace(TP_PLACEHOLDER, assignment)
            for cell, name in SHARED_CELLS.items() if (source / name).exists()}


def _defined_in(module: ModuleType | None, name: str | None) -> object | None:
    definition = getattr(module, name or "", None)
    if (inspect.isfunction(definition) or inspect.isclass(definition)) and definition.__module__ == module.__name__:
        return definition
    return None


def sync_notebook(path: Path, reference: ModuleType, shared: dict[str, str] | None = None,
                  given: ModuleType | None = None) -> bool:
    """Rewrites the solution cells named after reference definitions, the cells of given code, and the
    shared cells; True if changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if definition := _defined_in(reference, grade_id(cell)):
            new = solution_cell_source(definition)
        elif definition := _defined_in(given, grade_id(cell)):
            new = textwrap.dedent(inspect.getsource(definition)).rstrip("\n")
        elif grade_id(cell) in (shared or {}):
            new = shared[grade_id(cell)]
        else:
            continue
        changed |= cell.source != new
        cell.source = new
    if changed:
        nbformat.write(nb, path)
    return changed


def reference_of(assignment: str) -> ModuleType:
    """`autograder.ASSIGNMENT.reference`, or SystemExit saying what is missing."""
    name = tp_module(assignment, "reference")
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name not in (name, f"autograder.{assignment}"):
            raise
        raise SystemExit(f"source/{assignment}/ has no reference module: create autograder/{assignment}/"
                         f"__init__.py and autograder/{assignment}/reference.py (one definition per exercise; "
                         f"see docs/adding-a-tp.md)") from None


def given_of(assignment: str) -> ModuleType | None:
    """`autograder.ASSIGNMENT.given`, the code the notebook gives, when the TP has some."""
    name = tp_module(assignment, "given")
    return importlib.import_module(name) if importlib.util.find_spec(name) else None


def release(root: Path, assignment: str) -> None:
    reference = reference_of(assignment)
    shared, given = shared_cells(root / "source", assignment), given_of(assignment)
    notebooks = sorted((root / "source" / assignment).glob("*.ipynb"))
    if not notebooks:
        raise SystemExit(f"source/{assignment}/ holds no notebook")
    for notebook in notebooks:
        if sync_notebook(notebook, reference, shared, given):
            print(f"updated solutions in {notebook.relative_to(root)}")
        problems = figures.figure_problems(nbformat.read(notebook, as_version=4))
        if problems:  # `autograder grade` would leave out cells other cells need
            raise SystemExit(f"{notebook.relative_to(root)}: a cell tagged '{figures.TAG}' must only draw: "
                             + "; ".join(problems) + " (untag it, or move what other cells read out of it)")
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", "--no-db",
                    "--log-level=ERROR"], cwd=root, check=True, env=environment())
    print(f"release/{assignment}/ regenerated")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="default: every folder of source/")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    for assignment in args.assignments or course.assignments(args.root):
        release(args.root, assignment)


if __name__ == "__main__":
    main()
