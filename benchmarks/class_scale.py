"""How `autograder grade` scales with the class: one TP, classes of several sizes, several job counts.

For each size, one course of typical copies (`class_grading.make_class`: the sample class
repeated, run as students run it); each is graded from scratch with each `--jobs` value, in
turn, `--repeat` times. Prints the wall time, the time per copy and, per job count, the time
per copy of each size relative to the smallest class (1.00 everywhere = linear growth).

    .venv/bin/python benchmarks/class_scale.py [--assignment TP] [--sizes 24 96 240] [--jobs 1 2] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from class_grading import REPO, make_class, timed

from autograder.course import assignments
from autograder.demo import forget_grading


def grade_seconds(course: Path, assignment: str, jobs: int) -> float:
    forget_grading(course)
    return timed([str(Path(sys.executable).parent / "autograder"), "grade", assignment, "--force", "--jobs", str(jobs)],
                 course, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default=assignments(REPO)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[24, 96, 240])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "class_scale.json")
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            course = Path(tmp) / f"class-{size}"
            make_class(course, size, "typical", args.assignment)
            results[str(size)] = {str(jobs): [] for jobs in args.jobs}
            for _ in range(args.repeat):
                for jobs in args.jobs:
                    seconds = grade_seconds(course, args.assignment, jobs)
                    results[str(size)][str(jobs)].append(seconds)
                    print(f"{size:4d} copies, --jobs {jobs}: {seconds:7.1f} s ({seconds / size:.2f} s per copy)",
                          flush=True)
    print(f"\n{args.assignment}, typical copies, median of {args.repeat} run(s) each:")
    print("copies  " + "  ".join(f"--jobs {j}: wall, per copy, vs {args.sizes[0]}" for j in args.jobs))
    for size in args.sizes:
        cells = []
        for jobs in args.jobs:
            wall = statistics.median(results[str(size)][str(jobs)])
            first = statistics.median(results[str(args.sizes[0])][str(jobs)]) / args.sizes[0]
            cells.append(f"{wall:7.1f} s {wall / size:5.2f} s {wall / size / first:5.2f}")
        print(f"{size:6d}  " + "     ".join(cells))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"assignment": args.assignment, "seconds": results}, indent=2))


if __name__ == "__main__":
    main()
