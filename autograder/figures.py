"""Figure cells: the cells of a TP that only draw, tagged `figure` in its source notebook.

Nothing graded depends on them (the release checks it: `figure_problems`), yet drawing is
a third of a typical copy's grading time. `autograder grade` therefore does not run them
again: when every figure cell of a copy is exactly the released one, the autograded notebook
shows the outputs those cells had in the copy as handed in — the figures the student saw and
wrote about, which formgrader shows beside the written answers. A copy whose figure cells were
edited, removed or never run (a *Run All* stopped by a failing check leaves them empty) is run
whole, as `nbgrader autograde` runs every copy.

Kept outputs are reduced to what a figure needs (PNG images, text, the student's own error),
and bounded in size.
"""

from __future__ import annotations

import ast
import functools
import json
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output

TAG = "figure"
KEPT_MIME = ("image/png", "text/plain")
MAX_TEXT = 10_000  # characters of a kept text or traceback


def is_figure(cell) -> bool:
    return cell.cell_type == "code" and TAG in cell.get("metadata", {}).get("tags", [])


@functools.lru_cache(maxsize=16)
def _figure_sources(path: str, mtime: float) -> tuple[str, ...]:
    return tuple(cell.source for cell in nbformat.read(path, as_version=4).cells if is_figure(cell))


def figure_sources(source_notebook: Path) -> tuple[str, ...]:
    """The sources of the figure cells of a source notebook, in order (none if there is no such notebook)."""
    if not source_notebook.is_file():
        return ()
    return _figure_sources(str(source_notebook), source_notebook.stat().st_mtime)


def released_figure_cells(nb, sources: tuple[str, ...]) -> list[int] | None:
    """Indices of the cells of `nb` that are the figure cells, unchanged and in order; None if one is edited or gone."""
    if not sources:
        return None
    found, wanted = [], list(sources)
    for index, cell in enumerate(nb.cells):
        if wanted and cell.cell_type == "code" and cell.source == wanted[0]:
            found.append(index)
            wanted.pop(0)
    return None if wanted else found


def _short(text) -> str:
    text = "".join(text) if isinstance(text, list) else str(text)
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "\n[…]\n"


def _kept_output(output) -> NotebookNode | None:
    kind = output.get("output_type")
    if kind in ("display_data", "execute_result"):
        data = {mime: output["data"][mime] for mime in KEPT_MIME if mime in output.get("data", {})}
        if "image/png" not in data and "text/plain" not in data:
            return None
        if "text/plain" in data:
            data["text/plain"] = _short(data["text/plain"])
        return new_output("display_data", data=data)
    if kind == "stream":
        return new_output("stream", name=output.get("name") if output.get("name") == "stderr" else "stdout",
                          text=_short(output.get("text", "")))
    if kind == "error":
        return new_output("error", ename=_short(output.get("ename", "")), evalue=_short(output.get("evalue", "")),
                          traceback=[_short(output.get("traceback", []))])
    return None


def kept_outputs(cell, max_bytes: int) -> list[NotebookNode]:
    """What the autograded notebook shows of a figure cell as handed in: its figures, text and error, bounded."""
    kept, used = [], 0
    for output in cell.get("outputs", []):
        output = _kept_output(output)
        if output is None:
            continue
        used += len(json.dumps(output))
        if used > max_bytes:
            break
        kept.append(output)
    return kept


def outputs_to_keep(nb, handed_in, sources: tuple[str, ...], max_bytes: int) -> dict[int, list[NotebookNode]]:
    """For the cells of `nb` (the copy being graded), the outputs its figure cells keep from `handed_in` (the
    copy's cells as handed in), by index; {} when the copy must be run whole: a figure cell edited, moved
    away or gone, or one with nothing to show."""
    cells = released_figure_cells(nb, sources)
    if cells is None or len(handed_in) != len(nb.cells) or any(handed_in[i].source != nb.cells[i].source
                                                               for i in cells):
        return {}
    kept = {i: kept_outputs(handed_in[i], max_bytes) for i in cells}
    return kept if all(kept.values()) else {}


# ------------------------------------------------------------------ checked at release


def _bound_at_top(tree: ast.Module) -> set[str]:
    """Names a cell binds in the notebook's namespace (not the locals of its functions or comprehensions)."""
    bound, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            todo.extend(node.decorator_list)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        todo.extend(ast.iter_child_nodes(node))
    return bound


def _read_from_outside(tree: ast.Module) -> set[str]:
    """Names a cell reads that it does not bind anywhere itself (arguments and locals of its functions included)."""
    loaded, bound = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (loaded if isinstance(node.ctx, ast.Load) else bound).add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
    return loaded - bound


def figure_problems(nb) -> list[str]:
    """Why grading could not leave this notebook's figure cells out (empty when it can).

    A name a figure cell sets may be read by no other cell, before it or after it: a copy may move
    its cells, and the scores must be those of the copy run whole."""
    problems, drawn = [], {}
    for index, cell in enumerate(nb.cells):
        if is_figure(cell):
            if cell.get("metadata", {}).get("nbgrader"):
                problems.append(f"cell {index} is tagged {TAG!r} but is an nbgrader cell")
            for name in _bound_at_top(ast.parse(cell.source)):
                drawn.setdefault(name, index)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and not is_figure(cell):
            for name in sorted(_read_from_outside(ast.parse(cell.source)) & set(drawn)):
                problems.append(f"cell {index} reads {name!r}, which figure cell {drawn[name]} sets")
    return problems
