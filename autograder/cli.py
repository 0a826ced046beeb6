"""`autograder` command line: a thin layer over `autograder.grading`, `exports` and `report`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder import exports, grading, report, sandbox


def grade_command(args: argparse.Namespace) -> int:
    course = Path(args.course).resolve()
    run = grading.grade(course, args.assignment, jobs=args.jobs, students=args.student or None, force=args.force,
                      unsafe=args.unsafe)
    print(f"{len(run.graded)} copie(s) notée(s), {len(run.skipped)} inchangée(s) depuis la dernière correction"
          + (" (--force pour tout recorriger)" if run.skipped else ""))
    for outcome in run.failed:
        last = (outcome.error.strip().splitlines() or ["erreur inconnue"])[-1]
        print(f"  ÉCHEC {outcome.student} : {last}")
    url = grading.db_url(course)
    outputs = {
        "grades.csv (nbgrader)": exports.export_nbgrader_csv(url, course / "grades.csv"),
        "CSV pour Moodle": exports.export_moodle_csv(url, args.assignment, course / f"moodle-{args.assignment}.csv"),
        "rapport de classe": report.write_report(course, url, args.assignment,
                                                 {o.student: o.error for o in run.failed},
                                                 course / f"rapport-{args.assignment}.html"),
    }
    print(f"  retours HTML : {course / 'feedback'}/<étudiant>/{args.assignment}/")
    for label, path in outputs.items():
        print(f"  {label:22}: {path}")
    return 1 if run.failed else 0


def install_command(args: argparse.Namespace) -> int:
    for folder in sandbox.install_kernelspecs():
        print(f"kernel spec : {folder}")
    reason = sandbox.unavailable_reason()
    print("bac à sable : " + (f"INDISPONIBLE — {reason}" if reason else "disponible (bubblewrap)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description="Grading tools of the course kit.")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser(
        "grade", help="autograde a whole class in parallel, then feedback, exports and a class report",
        description="Run from the course root (where nbgrader_config.py is). Grades submitted/*/ASSIGNMENT "
                    "with nbgrader's Autograde, in parallel, then writes feedback, grades.csv, "
                    "moodle-ASSIGNMENT.csv and rapport-ASSIGNMENT.html.")
    grade.add_argument("assignment")
    grade.add_argument("--jobs", "-j", type=int, default=os.cpu_count(), help="parallel kernels (default: cores)")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--force", action="store_true", help="re-grade submissions that did not change")
    grade.add_argument("--course", default=".", help="course root (default: current folder)")
    grade.add_argument("--unsafe", action="store_true",
                       help="run student code WITHOUT a sandbox (only where bubblewrap cannot run)")
    grade.set_defaults(func=grade_command)
    install = commands.add_parser("install-kernels", help="install the sandboxed kernel specs nbgrader uses",
                                  description="Writes the kernel specs autograder-sandbox and autograder-warm "
                                              "into this Python environment (share/jupyter/kernels).")
    install.set_defaults(func=install_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
