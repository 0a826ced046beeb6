"""`make demo`: the instructor's job on the bundled sample class of TP 9.

Builds `demo-course/` (a course directory like the repository: source/ and
nbgrader_config.py), hands in the sample class, then runs nbgrader:
generate_assignment, then `autograder grade` (nbgrader's Autograde and feedback in
parallel, grades.csv, Moodle CSV, class report), and prints the scores.
"""

from __future__ import annotations

import argparse
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

from autograder import cli
from autograder.grading import db_url
from autograder.release import environment
from autograder.submissions import fill, solutions, write_submission

REPO = Path(__file__).resolve().parent.parent


def nbgrader(course: Path, *args: str) -> int:
    """Runs one nbgrader command in the course directory; returns its exit code."""
    print(f"$ nbgrader {' '.join(args)}", flush=True)
    args = args if any(a.startswith("--log-level") for a in args) else (*args, "--log-level=WARN")
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course,
                          env=environment()).returncode


def prepare_course(course: Path, assignment: str) -> None:
    if course.exists():
        shutil.rmtree(course)
    (course / "source").mkdir(parents=True)
    shutil.copytree(REPO / "source" / assignment, course / "source" / assignment)
    shutil.copy(REPO / "nbgrader_config.py", course / "nbgrader_config.py")


def hand_in(course: Path, assignment: str, students: dict[str, dict | None]) -> None:
    """Writes each student's submission: the reference with their answers, or the untouched release."""
    for path in sorted((course / "release" / assignment).glob("*.ipynb")):
        release_nb = nbformat.read(path, as_version=4)
        reference = solutions(nbformat.read(course / "source" / assignment / path.name, as_version=4))
        for student, answers in students.items():
            nb = release_nb if answers is None else fill(release_nb, {**reference, **answers})
            write_submission(course, assignment, student, {path.name: nb})


def score_table(course: Path, assignment: str) -> str:
    """One line per student: automatic points per test cell, total, and what is left to grade by hand."""
    with Gradebook(db_url(course)) as gb:
        cells = [c for nb in gb.find_assignment(assignment).notebooks for c in nb.grade_cells if c.cell_type == "code"]
        names = [c.name.removeprefix("test_") for c in cells]
        width = [max(len(n), 5) for n in names]
        head = f"{'étudiant':10}" + "".join(f" {n:>{w}}" for n, w in zip(names, width)) + f" {'auto':>9}  écrit"
        lines = [head, "-" * len(head)]
        for student in sorted(s.id for s in gb.students):
            try:
                sub = gb.find_submission(assignment, student)
            except Exception:  # noqa: BLE001 - no submission or grading failed: say so
                lines.append(f"{student:10} (non noté : voir les messages de nbgrader ci-dessus)")
                continue
            grades = {g.name: g for nb in sub.notebooks for g in nb.grades}
            row = "".join(f" {grades[c.name].score:>{w}g}" for c, w in zip(cells, width))
            auto = sum(grades[c.name].score for c in cells)
            manual = [g for g in grades.values() if g.needs_manual_grade]
            written = "à corriger dans formgrader" if manual else "rien à corriger"
            lines.append(f"{student:10}{row} {auto:>5g}/{sum(c.max_score for c in cells):g}  {written}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=REPO / "demo-course")
    parser.add_argument("--assignment", default="tp09")
    args = parser.parse_args(argv)
    course, assignment = args.course.resolve(), args.assignment
    students = runpy.run_path(str(REPO / "samples" / assignment / "students.py"))["STUDENTS"]

    prepare_course(course, assignment)
    if nbgrader(course, "generate_assignment", assignment, "--force"):
        return 1
    hand_in(course, assignment, students)
    print(f"{len(students)} copies déposées dans {course / 'submitted'}", flush=True)
    # nbgrader's Autograde and feedback on every copy, in parallel, then grades.csv,
    # the Moodle CSV and the class report (`autograder grade`, see autograder/grading.py).
    print(f"$ autograder grade {assignment}", flush=True)
    autograde_status = cli.main(["grade", assignment, "--course", str(course)])
    print("\n" + score_table(course, assignment) + "\n")
    print("Fichiers produits :")
    for label, path in [
        ("notebook source (instructeur)", REPO / "source" / assignment),
        ("version étudiante (à distribuer)", REPO / "release" / assignment),
        ("dossier de cours de la démo", course),
        ("copies rendues", course / "submitted" / "<étudiant>" / assignment),
        ("copies corrigées (exécutées)", course / "autograded" / "<étudiant>" / assignment),
        ("retours HTML pour les étudiants", course / "feedback" / "<étudiant>" / assignment),
        ("carnet de notes nbgrader", course / "gradebook.db"),
        ("notes exportées (CSV nbgrader)", course / "grades.csv"),
        ("notes pour Moodle (CSV)", course / f"moodle-{assignment}.csv"),
        ("rapport de classe (HTML)", course / f"rapport-{assignment}.html"),
    ]:
        print(f"  {label:34} {path}")
    if autograde_status:
        print("\ndes copies n'ont pas pu être notées (messages ci-dessus).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
