"""`make demo`: the instructor's job on the bundled sample classes, every TP of the course.

Builds `demo-course/` (a course directory like the repository: source/ and
nbgrader_config.py) with every TP that has a sample class (`samples/<tp>/students.py`)
and checks (`autograder/<tp>/checks.py`). For each: nbgrader's generate_assignment,
the sample class run as students run it and handed in, then `autograder grade` (nbgrader's Autograde and feedback
in parallel, grades.csv, Moodle CSV, class report, and the course-wide grade sheet,
Moodle CSV and report). Prints each TP's scores, then the course's.
"""

from __future__ import annotations

import argparse
import importlib
import os
import runpy
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nbformat

from autograder import bubblewrap, cli, gradebook
from autograder.course import assignments as course_assignments, has_grader, tp_module
from autograder.french import number
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


def prepare_course(course: Path, *assignments: str, root: Path = REPO) -> None:
    """A fresh course directory holding the configuration and these TPs' source folders of `root` (the
    repository, or another course root)."""
    if course.exists():
        shutil.rmtree(course)
    (course / "source").mkdir(parents=True)
    for assignment in assignments:
        shutil.copytree(root / "source" / assignment, course / "source" / assignment)
    shutil.copy(root / "nbgrader_config.py", course / "nbgrader_config.py")


def forget_grading(course: Path) -> None:
    """Back to a course where nothing is graded yet (the assignments stay in the gradebook, the students go)."""
    from nbgrader.api import Gradebook

    for folder in ("autograded", "feedback"):
        shutil.rmtree(course / folder, ignore_errors=True)
    with Gradebook(db_url(course)) as gb:
        for student in list(gb.students):
            gb.remove_student(student.id)


def hand_in(course: Path, assignment: str, students: dict[str, dict | None], run: bool = False) -> None:
    """Writes each student's submission: the reference with their answers, or the untouched release.

    With `run`, each copy is handed in as a student hands it in after running it (`run_as_a_student`), with
    its outputs and figures; copies with the same answers are run once, different ones side by side."""
    for path in sorted((course / "release" / assignment).glob("*.ipynb")):
        release_nb = nbformat.read(path, as_version=4)
        reference = solutions(nbformat.read(course / "source" / assignment / path.name, as_version=4))
        copies = {student: release_nb if answers is None else fill(release_nb, {**reference, **answers})
                  for student, answers in students.items()}
        if run:
            texts = {student: nbformat.writes(nb) for student, nb in copies.items()}
            distinct = sorted(set(texts.values()))
            with ThreadPoolExecutor(os.cpu_count()) as pool:
                ran = dict(zip(distinct, pool.map(
                    lambda text: run_as_a_student(nbformat.reads(text, as_version=4), path.parent), distinct)))
            copies = {student: ran[text] for student, text in texts.items()}
        for student, nb in copies.items():
            write_submission(course, assignment, student, {path.name: nb})


def run_as_a_student(nb: nbformat.NotebookNode, folder: Path) -> nbformat.NotebookNode:
    """The notebook as a student hands it in after running every cell in order, in their own (unsandboxed)
    kernel: outputs, figures and the errors of the cells that failed."""
    import tempfile

    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    # local sockets (no TCP port, no warning), in a folder short enough for them (`bubblewrap.short_temp_root`)
    with tempfile.TemporaryDirectory(prefix="run-", dir=bubblewrap.short_temp_root()) as sockets:
        manager = KernelManager(kernel_name="python3", transport="ipc", ip=str(Path(sockets) / "kernel"))
        client = NotebookClient(nb, km=manager, timeout=600, allow_errors=True,
                                resources={"metadata": {"path": str(folder)}})
        try:
            client.execute(env=environment())
        finally:
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
    return nb


def sample_module(assignment: str) -> dict:
    """What `samples/<tp>/students.py` defines (`STUDENTS`, `EXPECTED`, `TYPICAL`…), or {} when it is absent."""
    path = REPO / "samples" / assignment / "students.py"
    return runpy.run_path(str(path)) if path.exists() else {}


def sample_class(assignment: str) -> dict[str, dict | None] | None:
    """The TP's sample class ({student: answers}), or None when it has none."""
    return sample_module(assignment).get("STUDENTS")


def demo_assignments() -> list[str]:
    """The TPs the demo can show: a sample class to hand in and checks to grade it."""
    return [a for a in course_assignments(REPO) if (REPO / "samples" / a / "students.py").exists() and has_grader(a)]


def score_table(course: Path, assignment: str, students: list[str]) -> str:
    """One line per student: automatic points per test cell, total, and what is left to grade by hand."""
    url = db_url(course)
    maxima = gradebook.max_scores(url, assignment)
    scores = gradebook.cell_scores(url, assignment)
    by_hand = gradebook.awaiting_manual_grade(url, assignment)
    specs = importlib.import_module(tp_module(assignment, "checks")).ASSIGNMENT if has_grader(assignment) else None
    names = [specs.label(n.removeprefix("test_")) if specs and n.removeprefix("test_") in specs.specs
             else n.removeprefix("test_") for n in maxima]
    width = [max(len(n), 5) for n in names]
    head = f"{'étudiant':10}" + "".join(f" {n:>{w}}" for n, w in zip(names, width)) + f" {'auto':>9}  écrit"
    lines = [head, "-" * len(head)]
    for student in students:
        if student not in scores:
            lines.append(f"{student:10} (non noté : voir les messages de nbgrader ci-dessus)")
            continue
        row = "".join(f" {number(scores[student].get(c, 0)):>{w}}" for c, w in zip(maxima, width))
        written = "à corriger dans formgrader" if student in by_hand else "rien à corriger"
        auto = f"{number(sum(scores[student].values()))}/{number(sum(maxima.values()))}"
        lines.append(f"{student:10}{row} {auto:>9}  {written}")
    return "\n".join(lines)


def course_table(course: Path) -> str:
    """One line per student: each TP's score (automatic and by hand) and the course total."""
    sheet = gradebook.course_sheet(db_url(course))
    columns = [f"{a} (/{number(m)})" for a, m in sheet.maxima.items()] + [f"total (/{number(sheet.total_max)})"]
    head = f"{'étudiant':10}" + "".join(f" {c:>10}" for c in columns)
    lines = [head, "-" * len(head)]
    for student, row in sheet.scores.items():
        cells = ["—" if row[a] is None else number(row[a]) for a in sheet.maxima] + [number(sheet.total(student))]
        lines.append(f"{student:10}" + "".join(f" {c:>{max(10, len(h))}}" for c, h in zip(cells, columns)))
    return "\n".join(lines)


def produced_files(course: Path, assignments: list[str]) -> list[tuple[str, Path]]:
    per_tp = [(label, path) for a in assignments for label, path in [
        (f"{a} : notebook source (instructeur)", REPO / "source" / a),
        (f"{a} : version étudiante (à distribuer)", REPO / "release" / a),
        (f"{a} : copies rendues", course / "submitted" / "<étudiant>" / a),
        (f"{a} : copies corrigées (exécutées)", course / "autograded" / "<étudiant>" / a),
        (f"{a} : retours HTML pour les étudiants", course / "feedback" / "<étudiant>" / a),
        (f"{a} : notes pour Moodle (CSV)", course / f"moodle-{a}.csv"),
        (f"{a} : rapport de classe (HTML)", course / f"rapport-{a}.html"),
    ]]
    return [("dossier de cours de la démo", course), *per_tp,
            ("carnet de notes nbgrader", course / "gradebook.db"),
            ("notes exportées (CSV nbgrader)", course / "grades.csv"),
            ("notes du cours (CSV)", course / "notes-cours.csv"),
            ("notes du cours pour Moodle (CSV)", course / "moodle-cours.csv"),
            ("rapport du cours (HTML)", course / "rapport-cours.html")]


def demo_one(course: Path, assignment: str, students: dict[str, dict | None]) -> tuple[bool, bool]:
    """Release, hand in and grade one TP; (released, every copy graded)."""
    if nbgrader(course, "generate_assignment", assignment, "--force"):
        return False, False
    hand_in(course, assignment, students, run=True)
    print(f"{len(students)} copies exécutées et déposées dans {course / 'submitted'}", flush=True)
    # nbgrader's Autograde and feedback on every copy, in parallel, then the exports and
    # reports of the TP and of the course (`autograder grade`, see autograder/grading.py).
    print(f"$ autograder grade {assignment}", flush=True)
    status = cli.main(["grade", assignment, "--course", str(course)])
    if status > 128:  # stopped by SIGINT or SIGTERM: so is the demo
        raise SystemExit(status)
    return True, status == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--course", type=Path, default=REPO / "demo-course")
    parser.add_argument("--assignment", action="append",
                        help="only this TP (repeatable; default: every TP with a sample class and checks)")
    args = parser.parse_args(argv)
    course = args.course.resolve()
    assignments = args.assignment or demo_assignments()
    classes = {a: sample_class(a) for a in assignments}
    if not assignments or None in classes.values():
        print("rien à montrer : il faut un TP avec source/<tp>/*.ipynb, samples/<tp>/students.py "
              "et autograder/<tp>/checks.py")
        return 1

    prepare_course(course, *assignments)
    all_graded = True
    for assignment, students in classes.items():
        print(f"\n===== {assignment} =====", flush=True)
        released, graded = demo_one(course, assignment, students)
        if not released:
            return 1
        all_graded &= graded
    for assignment, students in classes.items():
        print(f"\n{assignment}\n" + score_table(course, assignment, list(students)))
    print("\nCours\n" + course_table(course) + "\n")
    print("Fichiers produits :")
    for label, path in produced_files(course, assignments):
        print(f"  {label:42} {path}")
    if not all_graded:
        print("\ndes copies n'ont pas pu être notées (messages ci-dessus).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
