"""`autograder` command line: a thin layer over `autograder.grading`, `exports` and `report`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path

from autograder import grading, kernelspecs, preflight


def grade_command(args: argparse.Namespace) -> int:
    course = Path(args.course).resolve()
    try:
        run = grading.grade(course, args.assignment, jobs=args.jobs, students=args.student or None,
                            force=args.force, unsafe=args.unsafe, recompute_figures=args.recompute_figures,
                            while_last_copies=_import_outputs)
    except grading.Stopped as stop:
        print(stopped_message(stop, args.assignment), file=sys.stderr)
        return 128 + stop.signum
    from autograder import exports, report

    if args.timings:
        Path(args.timings).write_text(json.dumps(dataclasses.asdict(run), indent=1))

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
                                                 course / f"rapport-{args.assignment}.html",
                                                 {o.student: o.error for o in run.graded if o.success and o.error}),
    }
    print(f"  retours HTML : {course / 'feedback'}/<étudiant>/{args.assignment}/")
    print_outputs({**outputs, **course_outputs(course)})
    return 1 if run.failed else 0


def _import_outputs() -> None:
    """What writes the exports and reports (matplotlib, nbgrader's API: a second), loaded while the last copies
    are graded, when a core is free, rather than after them."""
    from autograder import exports, report  # noqa: F401


def stopped_message(stop: grading.Stopped, assignment: str) -> str:
    if not stop.finished and not stop.interrupted:
        return f"correction arrêtée ({stop}) avant la première copie : rien n'a été noté."
    return (f"correction arrêtée ({stop}) : {len(stop.finished)} copie(s) notée(s), {len(stop.interrupted)} "
            "encore à noter (rien n'est enregistré pour elles, une copie déjà notée avant garde ses notes).\n"
            f"`autograder grade {assignment}` reprend avec celles qui restent, puis écrit exports et rapports.")


def course_outputs(course: Path) -> dict[str, Path]:
    """The course-wide files, every TP of the gradebook at once: grade sheet, Moodle import, report."""
    from autograder import exports, report

    url = grading.db_url(course)
    return {
        "notes du cours (CSV)": exports.export_course_csv(url, course / "notes-cours.csv"),
        "Moodle, tout le cours": exports.export_course_moodle_csv(url, course / "moodle-cours.csv"),
        "rapport du cours": report.write_course_report(course, url, course / "rapport-cours.html"),
    }


def print_outputs(outputs: dict[str, Path]) -> None:
    for label, path in outputs.items():
        print(f"  {label:22}: {path}")


def course_report_command(args: argparse.Namespace) -> int:
    course = Path(args.course).resolve()
    if not (course / "gradebook.db").exists():
        print(f"pas de carnet de notes dans {course} : lancez d'abord `autograder grade TP`")
        return 1
    print_outputs(course_outputs(course))
    return 0


def install_command(args: argparse.Namespace) -> int:
    for folder in kernelspecs.install_kernelspecs():
        print(f"kernel spec : {folder}")
    reason = preflight.unavailable_reason()
    print("bac à sable : " + (f"INDISPONIBLE — {reason}" if reason else "disponible (bubblewrap)"))
    return 0


def new_tp_command(args: argparse.Namespace) -> int:
    from autograder.scaffold import new_tp

    root = Path(args.course).resolve()
    for path in new_tp(root, args.tp):
        print(f"  {path.relative_to(root)}")
    print(f"{args.tp} : un TP d'exemple (un exercice, `exemple`) à remplacer par le vôtre ; puis `make release` "
          f"et `make test` (docs/adding-a-tp.md)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description="Grading tools of the course kit.")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser(
        "grade", help="autograde a whole class in parallel, then feedback, exports and a class report",
        description="Run from the course root (where nbgrader_config.py is). Grades submitted/*/ASSIGNMENT "
                    "with nbgrader's Autograde, in parallel, then writes feedback, grades.csv, "
                    "moodle-ASSIGNMENT.csv and rapport-ASSIGNMENT.html, and the course-wide notes-cours.csv, "
                    "moodle-cours.csv and rapport-cours.html (every TP of the gradebook).")
    grade.add_argument("assignment")
    grade.add_argument("--jobs", "-j", type=int, default=os.cpu_count(), help="parallel kernels (default: cores)")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--force", action="store_true", help="re-grade submissions that did not change")
    grade.add_argument("--course", default=".", help="course root (default: current folder)")
    grade.add_argument("--unsafe", action="store_true",
                       help="run student code WITHOUT a sandbox (only where bubblewrap cannot run)")
    grade.add_argument("--recompute-figures", action="store_true",
                       help="run the figure cells again instead of keeping those of the copy as handed in "
                            "(docs/grading.md, 'Figures')")
    grade.add_argument("--timings", metavar="FILE", help="write where each copy's time went (JSON), for benchmarks")
    grade.set_defaults(func=grade_command)
    course_report = commands.add_parser(
        "course-report", help="write the course-wide grade sheet, Moodle CSV and report from the gradebook",
        description="Writes notes-cours.csv, moodle-cours.csv and rapport-cours.html in the course root, "
                    "from the gradebook (every TP graded so far), without grading anything.")
    course_report.add_argument("--course", default=".", help="course root (default: current folder)")
    course_report.set_defaults(func=course_report_command)
    install = commands.add_parser("install-kernels", help="install the sandboxed kernel specs nbgrader uses",
                                  description="Writes the kernel specs autograder-sandbox and autograder-warm "
                                              "into this Python environment (share/jupyter/kernels).")
    install.set_defaults(func=install_command)
    scaffold = commands.add_parser(
        "new-tp", help="write the files of a new TP (a one-exercise example that passes the contract)",
        description="Writes source/TP/TP.ipynb, autograder/TP/{reference,checks}.py, samples/TP/students.py and "
                    "tests/TP/TP_catalogue.py: a small TP to replace with yours (docs/adding-a-tp.md).")
    scaffold.add_argument("tp", help="the TP's name, tpNN")
    scaffold.add_argument("--course", default=".", help="course root (default: current folder)")
    scaffold.set_defaults(func=new_tp_command)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
