"""How long a TP's notebook takes to run top to bottom, alone and beside a busy process.

Side by side in one run, on the same machine:
  * "course"   — the source notebook as shipped (torch limited to one thread);
  * "baseline" — the same notebook with `torch.set_num_threads(1)` removed, i.e.
                 torch's default thread pool, as in the original notebook.
Each is timed alone and while another process keeps one core busy (a shared
JupyterHub node, a parallel grader). Wall-clock time of a whole run through
nbclient, kernel start included; medians of --repeat runs.

    .venv/bin/python benchmarks/notebook_speed.py [--assignment TP ...] [--repeat 3]

--assignment (repeatable) defaults to every TP of the course (`autograder.course.assignments`);
each TP's runs go to benchmarks/results/notebook_speed-TP.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder.course import assignments

REPO = Path(__file__).resolve().parent.parent
SINGLE_THREAD = "torch.set_num_threads(1)"


def source_notebook(assignment: str) -> Path:
    return sorted((REPO / "source" / assignment).glob("*.ipynb"))[0]


def variant(notebook: Path, name: str):
    nb = nbformat.read(notebook, as_version=4)
    if name == "baseline":
        cells = [c for c in nb.cells if SINGLE_THREAD in c.source]
        assert len(cells) == 1, "the notebook should set the thread count once"
        cells[0].source = cells[0].source.replace(SINGLE_THREAD, "pass  # default thread pool")
    return nb


def run_once(nb, workdir: str) -> float:
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    start = time.perf_counter()
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": workdir}}).execute()
    return time.perf_counter() - start


@contextlib.contextmanager
def busy_process(active: bool):
    """Another process keeping one core busy while the notebook runs."""
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if active else None
    try:
        yield
    finally:
        if hog:
            hog.kill()
            hog.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", action="append", help="a TP to time (repeatable; default: every TP)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for assignment in args.assignment or assignments(REPO):
        benchmark(assignment, args.repeat, REPO / "benchmarks" / "results" / f"notebook_speed-{assignment}.json")


def benchmark(assignment: str, repeat: int, out: Path) -> None:
    notebook = source_notebook(assignment)
    times: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(repeat):  # interleaved, so that machine noise hits every variant alike
            for name in ("course", "baseline"):
                for busy in (False, True):
                    with busy_process(busy):
                        seconds = run_once(variant(notebook, name), workdir)
                    key = f"{name}, {'beside a busy process' if busy else 'alone'}"
                    times.setdefault(key, []).append(seconds)
                    print(f"{key:40} {seconds:6.1f} s", flush=True)
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{notebook.name}: median wall time of a whole run (kernel start included):")
    for key, value in medians.items():
        print(f"  {key:40} {value:6.1f} s")
    for busy in ("alone", "beside a busy process"):
        ratio = medians[f"baseline, {busy}"] / medians[f"course, {busy}"]
        print(f"  baseline / course, {busy:24} {ratio:6.1f}×")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"assignment": assignment, "runs": times, "medians": medians}, indent=2))


if __name__ == "__main__":
    main()
