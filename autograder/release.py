"""`make release`: copy the reference solutions into the source notebooks, then generate `release/`.

Convention for a TP named ASSIGNMENT: `source/ASSIGNMENT/*.ipynb` holds solution
cells whose nbgrader `grade_id` is the name of a function of
`autograder.ASSIGNMENT.reference`; each such cell is rewritten from that function.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import nbformat


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


def sync_notebook(path: Path, reference: ModuleType) -> bool:
    """Rewrites the solution cells named after reference functions; True if the file changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    for cell in nb.cells:
        fn = getattr(reference, grade_id(cell) or "", None)
        if cell.cell_type == "code" and inspect.isfunction(fn) and fn.__module__ == reference.__name__:
            new = solution_cell_source(fn)
            changed |= cell.source != new
            cell.source = new
    if changed:
        nbformat.write(nb, path)
    return changed


def assignments(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "source").iterdir() if p.is_dir() and not p.name.startswith("."))


def release(root: Path, assignment: str) -> None:
    reference = importlib.import_module(f"autograder.{assignment}.reference")
    for notebook in sorted((root / "source" / assignment).glob("*.ipynb")):
        if sync_notebook(notebook, reference):
            print(f"updated solutions in {notebook.relative_to(root)}")
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force", "--no-db",
                    "--log-level=ERROR"], cwd=root, check=True, env=environment())
    print(f"release/{assignment}/ regenerated")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("assignments", nargs="*", help="default: every folder of source/")
    parser.add_argument("--root", type=Path, default=Path.cwd())
    args = parser.parse_args(argv)
    for assignment in args.assignments or assignments(args.root):
        release(args.root, assignment)


if __name__ == "__main__":
    main()
