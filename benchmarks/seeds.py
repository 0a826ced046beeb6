"""A TP's reference training over training seeds: the test accuracy for each, its mean, min and max.

    .venv/bin/python benchmarks/seeds.py tp10 [--seeds 0-9] [--set nb_epochs=30 ...]

The accuracy target of a TP holds for the mean over 10 training seeds (docs/adding-a-tp.md), not for
the notebook's own seed. This runs the TP's source notebook — its solution cells hold the reference
(`make release`) — in this process, code cell after code cell up to its `training` cell (check cells,
the `outils` cell and figures left out), once per seed, and reads the `testAccuracy` it leaves.

The training seed is found in the cells that run: the integer assigned to `graine` (`graine = 1`), or,
in a notebook without one, the single literal of `torch.Generator().manual_seed(N)`. `--set name=value`
replaces the value of a setting assigned on a line of its own (`lr = 0.05`), to try other settings
without editing the notebook.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import statistics
import sys
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
SEED_PATTERNS = (re.compile(r"^(graine\s*=\s*)(\d+)\s*$", re.M),
                 re.compile(r"(torch\.Generator\(\)\.manual_seed\()(\d+)(\))"))


def source_notebook(tp: str) -> Path:
    return sorted((REPO / "source" / tp).glob("*.ipynb"))[0]


def training_cells(tp: str) -> list[str]:
    """The code the training needs: every code cell up to the `training` one, but the checks and figures."""
    cells = []
    for cell in nbformat.read(source_notebook(tp), as_version=4).cells:
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or nbgrader.get("grade") or nbgrader.get("grade_id") == "outils" \
                or "figure" in cell.get("metadata", {}).get("tags", []):
            continue
        cells.append(cell.source)
        if nbgrader.get("grade_id") == "training":
            return cells
    raise SystemExit(f"{tp}: no `training` cell in {source_notebook(tp).name}")


def with_seed(cells: list[str], seed: int) -> list[str]:
    """The cells, the training seed replaced by `seed` (SystemExit unless exactly one is found)."""
    for pattern in SEED_PATTERNS:
        found = sum(len(pattern.findall(source)) for source in cells)
        if found == 1:
            return [pattern.sub(lambda m: m.group(1) + str(seed) + (m.group(3) if m.lastindex == 3 else ""), source)
                    for source in cells]
        if found > 1:
            raise SystemExit(f"the training seed is ambiguous: {found} matches of {pattern.pattern}")
    raise SystemExit("no training seed found: `graine = N`, or `torch.Generator().manual_seed(N)`")


def with_settings(cells: list[str], settings: dict[str, str]) -> list[str]:
    for name, value in settings.items():
        pattern = re.compile(rf"^({re.escape(name)}\s*=\s*)([^#\n]*?)(\s*(#.*)?)$", re.M)
        if sum(len(pattern.findall(source)) for source in cells) != 1:
            raise SystemExit(f"--set {name}: not assigned exactly once on a line of its own")
        cells = [pattern.sub(lambda m: m.group(1) + value + m.group(3), source) for source in cells]
    return cells


def notebook_seed(cells: list[str]) -> int:
    for pattern in SEED_PATTERNS:
        found = [int(m.group(2)) for source in cells for m in pattern.finditer(source)]
        if len(found) == 1:
            return found[0]
    raise SystemExit("no training seed found")


def test_accuracy(cells: list[str]) -> float:
    """Runs the cells in a fresh namespace, silently, and returns the `testAccuracy` they leave."""
    import matplotlib
    matplotlib.use("Agg")
    namespace = {"__name__": "__main__"}
    with contextlib.redirect_stdout(io.StringIO()):
        for source in cells:
            exec(compile(source, "<notebook>", "exec"), namespace)  # noqa: S102 - the course's own notebook
    return float(namespace["testAccuracy"])


def seed_range(text: str) -> list[int]:
    first, _, last = text.partition("-")
    return list(range(int(first), int(last or first) + 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tp", help="the TP, e.g. tp10")
    parser.add_argument("--seeds", default="0-9", help="training seeds, FIRST-LAST (default 0-9)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting of the notebook replaced (repeatable)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    cells = with_settings(training_cells(args.tp), dict(s.split("=", 1) for s in args.set))
    print(f"{args.tp}: the notebook's training seed is {notebook_seed(cells)}"
          + (f"; settings {', '.join(args.set)}" if args.set else ""))
    accuracies = []
    for seed in seed_range(args.seeds):
        start = time.perf_counter()
        accuracies.append(test_accuracy(with_seed(cells, seed)))
        print(f"  seed {seed}: {accuracies[-1]:.2%}  ({time.perf_counter() - start:.1f} s)", flush=True)
    print(f"{args.tp}: mean {statistics.mean(accuracies):.2%}, min {min(accuracies):.2%}, "
          f"max {max(accuracies):.2%} over {len(accuracies)} training seeds")


if __name__ == "__main__":
    main()
