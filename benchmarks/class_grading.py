"""Grading a class of one TP: plain sequential `nbgrader autograde` against `autograder grade`.

Builds one course with N submissions (the sample class, repeated, each copy run as a student
runs it before handing it in), then, in one run and alternately, grades it R times with each
command from scratch (gradebook and autograded/ removed), checks that all give identical
scores cell by cell, and prints medians, their ratio and where the time of a copy goes.
`autograder grade` also writes feedback, the CSV exports and the class report; the baseline
only autogrades.

    .venv/bin/python benchmarks/class_grading.py [--assignment TP] [--class typical|sample] [--submissions 24]
                                                 [--repeat 3] [--jobs 2 3] [--figures-too] [--unsafe-too]

--assignment defaults to the course's first TP (`autograder.course.assignments`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import nbformat

from autograder import figures, gradebook
from autograder.course import assignments
from autograder.demo import forget_grading, hand_in, nbgrader, prepare_course, sample_class, sample_module
from autograder.grading import db_url
from autograder.release import environment

REPO = Path(__file__).resolve().parent.parent


def make_class(course: Path, n: int, kind: str, assignment: str) -> None:
    prepare_course(course, assignment)
    nbgrader(course, "generate_assignment", assignment, "--force")
    sample = sample_class(assignment)
    if sample is None:
        raise SystemExit(f"{assignment} has no sample class (samples/{assignment}/students.py)")
    if kind == "typical":
        # `TYPICAL`: answers that replace sample copies which compute far longer than a student's would
        typical = sample_module(assignment).get("TYPICAL", {})
        sample.update({s: {**sample[s], **answers} for s, answers in typical.items()})
    names = list(sample)
    # as students hand them in: run, with their outputs and figures
    hand_in(course, assignment, {f"s{i:03d}_{names[i % len(names)]}": sample[names[i % len(names)]] for i in range(n)},
            run=True)


def scores(course: Path, assignment: str) -> dict[str, dict[str, float]]:
    return gradebook.cell_scores(db_url(course), assignment, "all")


def cell_seconds(course: Path, assignment: str) -> tuple[float, float]:
    """Mean per copy of the time the grading kernel spent in the notebook's cells, and in its figure cells
    (cells not run while grading, such as figures kept from the copy, count for nothing)."""
    total = figure = 0.0
    notebooks = sorted((course / "autograded").glob(f"*/{assignment}/*.ipynb"))
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            timing = cell.get("metadata", {}).get("execution", {})
            if cell.cell_type != "code" or cell.get("execution_count") is None or "shell.execute_reply" not in timing:
                continue
            seconds = (datetime.fromisoformat(timing["shell.execute_reply"])
                       - datetime.fromisoformat(timing["iopub.execute_input"])).total_seconds()
            total += seconds
            figure += seconds if figures.is_figure(cell) else 0.0
    return total / max(1, len(notebooks)), figure / max(1, len(notebooks))


def breakdown(cells: float, figure: float, timings: dict, total: float, jobs: int) -> str:
    """Where an `autograder grade` run spent its time, per copy (medians) and before and after the copies;
    `cells` and `figure` from `cell_seconds`."""
    copies = timings["graded"]
    autograde = statistics.median(c["autograde_seconds"] for c in copies)
    feedback = statistics.median(c["feedback_seconds"] for c in copies)
    per_copy = statistics.median(c["seconds"] for c in copies)
    on_copies = sum(c["seconds"] for c in copies) / jobs
    return "\n".join([
        f"    per copy (median): {per_copy:.2f} s of a worker",
        f"      notebook cells in the kernel  {cells:5.2f} s (mean; figure cells {figure:.2f} s)",
        f"      rest of nbgrader's Autograde  {autograde - cells:5.2f} s (kernel start, sanitizing, probes judged,"
        " gradebook)",
        f"      feedback page                 {feedback:5.2f} s",
        f"    copies: {on_copies:.1f} s of wall time on {jobs} workers; before the first copy (workers, zygotes,"
        f" kernel check) {timings['ready_seconds']:.1f} s;",
        f"    the rest of the {total:.1f} s (start-up, imports, gradebook, last copies, exports and reports)"
        f" {total - on_copies - timings['ready_seconds']:.1f} s"])


def timed(command: list[str], course: Path, check: bool = False) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=course, env=environment(), check=check,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default=assignments(REPO)[0], help="default: the course's first TP")
    parser.add_argument("--submissions", type=int, default=24)
    parser.add_argument("--class", dest="kind", choices=("typical", "sample"), default="typical",
                        help="typical: each copy computes ~1 s; sample: the sample class as is")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--jobs", type=int, nargs="+", default=[2])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--figures-too", action="store_true",
                        help="also time autograder grade --recompute-figures (figure cells run again)")
    parser.add_argument("--unsafe-too", action="store_true",
                        help="also time both commands without the sandbox, to see what it costs")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    nbgrader_command = [sys.executable, "-m", "nbgrader", "autograde", args.assignment, "--force"]
    commands = {"nbgrader autograde (sequential)": nbgrader_command}
    for jobs in args.jobs:
        commands[f"autograder grade --jobs {jobs}"] = [str(bin_dir / "autograder"), "grade", args.assignment, "--force",
                                                      "--jobs", str(jobs)]
    if args.figures_too:
        for jobs in args.jobs:
            commands[f"autograder grade --jobs {jobs} --recompute-figures"] = [
                *commands[f"autograder grade --jobs {jobs}"], "--recompute-figures"]
    if args.unsafe_too:
        commands["nbgrader autograde, no sandbox"] = [*nbgrader_command, "--SandboxProvisioner.unsafe=True"]
        for jobs in args.jobs:
            commands[f"autograder grade --jobs {jobs} --unsafe"] = [*commands[f"autograder grade --jobs {jobs}"],
                                                                    "--unsafe"]
    times: dict[str, list[float]] = {name: [] for name in commands}
    results, details = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        make_class(course, args.submissions, args.kind, args.assignment)
        for _ in range(args.repeat):
            for name, command in commands.items():
                forget_grading(course)
                timings = Path(tmp) / "timings.json"
                ours = command[0] != sys.executable
                seconds = timed([*command, "--timings", str(timings)] if ours else command, course)
                times[name].append(seconds)
                results[name] = scores(course, args.assignment)
                print(f"{name:36} {seconds:7.1f} s", flush=True)
                cells, figure = cell_seconds(course, args.assignment)
                details[name] = (breakdown(cells, figure, json.loads(timings.read_text()), seconds,
                                           int(command[command.index("--jobs") + 1])) if ours else
                                 f"    per copy: {seconds / args.submissions:.2f} s, of which notebook cells in the "
                                 f"kernel {cells:.2f} s (mean; figure cells {figure:.2f} s)")
    baseline, *ours = commands
    identical = all(results[baseline] == results[o] for o in ours) and len(results[baseline]) == args.submissions
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"\n{args.assignment}, {args.submissions} submissions ({args.kind} class), medians of {args.repeat} runs"
          " (breakdowns: the last run):")
    for name, value in medians.items():
        speedup = medians[baseline] / value
        print(f"  {name:36} {value:7.1f} s  ({value / args.submissions:.2f} s per submission)  {speedup:.1f}×")
        print(details[name])
    print(f"  identical scores, cell by cell: {identical}")
    out = args.out or REPO / "benchmarks" / "results" / f"class_grading_{args.kind}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"assignment": args.assignment, "runs": times, "medians": medians,
                               "identical_scores": identical}, indent=2))


if __name__ == "__main__":
    main()
