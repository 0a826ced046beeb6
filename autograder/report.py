"""The class report: one self-contained HTML page on what a class got right and wrong."""

from __future__ import annotations

import base64
import html
import io
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import nbformat
from nbgrader.api import Gradebook, MissingEntry

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

PROBLEM_ERRORS = {"CellTimeoutError": "temps dépassé", "KernelMort": "noyau arrêté"}


@dataclass
class CellOutcome:
    score: float
    max_score: float
    messages: list[str] = field(default_factory=list)
    problem: str | None = None  # timeout or dead kernel


@dataclass
class StudentOutcome:
    student: str
    total: float | None  # None: not graded
    cells: dict[str, CellOutcome] = field(default_factory=dict)
    failure: str = ""


def _messages(cell) -> tuple[list[str], str | None]:
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    messages = [line.strip()[2:] for line in text.splitlines() if line.startswith("   - ")]
    errors = [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    problem = next((PROBLEM_ERRORS[e] for e in errors if e in PROBLEM_ERRORS), None)
    if errors and not messages:
        messages = [f"erreur {errors[0]}"]
    return messages, problem


def collect(course: Path, db_url: str, assignment: str, failures: dict[str, str]) -> list[StudentOutcome]:
    """Scores from the gradebook, verdict messages and problems from the autograded notebooks."""
    outcomes = []
    with Gradebook(db_url) as gb:
        for student in sorted(s.id for s in gb.students):
            if student in failures:  # nbgrader may leave zero grades behind a failed submission
                outcomes.append(StudentOutcome(student, None, failure=failures[student]))
                continue
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            outcome = StudentOutcome(student, submission.score)
            for nb in submission.notebooks:
                path = course / "autograded" / student / assignment / f"{nb.name}.ipynb"
                cells = {}
                if path.exists():
                    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c
                             for c in nbformat.read(path, as_version=4).cells}
                for grade in nb.grades:
                    if grade.cell_type != "code":
                        continue
                    messages, problem = _messages(cells.get(grade.name, {}))
                    if grade.name not in cells:
                        problem = "cellule de test absente"
                    outcome.cells[grade.name] = CellOutcome(grade.score, grade.max_score, messages, problem)
            outcomes.append(outcome)
    return sorted(outcomes, key=lambda o: o.student)


def _general(message: str) -> str:
    """Groups a message across inputs: drops the '(float64, lot 5, 7→3)' part, measured values and percentages."""
    message = re.sub(r"\s*\((float|lot)[^)]*\)", "", message)
    return re.sub(r"(?<![\w.])\d+\.\d+(e-?\d+)?%?|(?<![\w.])\d+%", "…", message)


def _figure(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _cell_names(outcomes: list[StudentOutcome]) -> list[str]:
    names: list[str] = []
    for outcome in outcomes:
        names += [n for n in outcome.cells if n not in names]
    return names


def render(assignment: str, outcomes: list[StudentOutcome]) -> str:
    graded = [o for o in outcomes if o.total is not None]
    names = _cell_names(graded)
    auto_max = sum(graded[0].cells[n].max_score for n in names) if graded else 0
    autos = [sum(o.cells[n].score for n in names if n in o.cells) for o in graded]
    e = html.escape
    parts = [f"<h1>Rapport de correction — {e(assignment)}</h1>",
             f"<p>{len(outcomes)} copies, {len(graded)} notées, "
             f"{sum(1 for o in outcomes if o.total is None)} impossibles à noter.</p>"]
    if autos:
        parts.append(f"<p>Note automatique sur {auto_max:g} : moyenne {statistics.mean(autos):.2f}, "
                     f"médiane {statistics.median(autos):g}, min {min(autos):g}, max {max(autos):g}.</p>")
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.hist(autos, bins=min(20, max(5, len(set(autos)))), range=(0, auto_max), color="#4477aa")
        ax.set(xlabel=f"note automatique (/{auto_max:g})", ylabel="copies", title="Distribution des notes")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        parts.append(_figure(fig))

        rates = [sum(o.cells[n].score == o.cells[n].max_score for o in graded if n in o.cells) / len(graded)
                 for n in names]
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(names) + 1))
        labels = [n.removeprefix("test_") for n in names]
        ax.barh(labels[::-1], [100 * r for r in rates[::-1]], color="#66aa55")
        ax.set(xlim=(0, 100), xlabel="% de copies avec tous les points", title="Réussite par fonction")
        parts.append(_figure(fig))

        parts.append("<h2>Ce que la classe n'a pas compris</h2>")
        parts.append("<table><tr><th>fonction</th><th>réussite</th><th>moyenne</th>"
                     "<th>messages les plus fréquents (nombre de copies)</th></tr>")
        for name, rate in zip(names, rates):
            scores = [o.cells[name].score for o in graded if name in o.cells]
            counts = Counter(m for o in graded if name in o.cells and o.cells[name].score < o.cells[name].max_score
                             for m in dict.fromkeys(_general(x) for x in o.cells[name].messages))
            top = "".join(f"<li>{e(m)} <b>({n})</b></li>" for m, n in counts.most_common(5))
            parts.append(f"<tr><td>{e(name.removeprefix('test_'))}</td><td>{rate:.0%}</td>"
                         f"<td>{statistics.mean(scores):.2f} / {graded[0].cells[name].max_score:g}</td>"
                         f"<td><ul>{top}</ul></td></tr>")
        parts.append("</table>")

    problems = [(o.student, "copie non notée", o.failure.strip().splitlines()[-1] if o.failure.strip() else "")
                for o in outcomes if o.total is None]
    problems += [(o.student, c.problem, n.removeprefix("test_")) for o in graded for n, c in o.cells.items() if c.problem]
    parts.append("<h2>Copies en difficulté (temps dépassé, noyau arrêté, copie illisible, cellule absente)</h2>")
    if problems:
        parts.append("<table><tr><th>étudiant</th><th>problème</th><th>où</th></tr>" + "".join(
            f"<tr><td>{e(s)}</td><td>{e(p)}</td><td>{e(w)}</td></tr>" for s, p, w in problems) + "</table>")
    else:
        parts.append("<p>Aucune.</p>")

    parts.append("<h2>Notes par copie</h2><table><tr><th>étudiant</th>"
                 + "".join(f"<th>{e(n.removeprefix('test_'))}</th>" for n in names) + "<th>auto</th></tr>")
    for o in outcomes:
        cells = "".join(f"<td>{o.cells[n].score:g}</td>" if n in o.cells else "<td>—</td>" for n in names)
        auto = f"{sum(c.score for c in o.cells.values()):g}" if o.total is not None else "non notée"
        parts.append(f"<tr><td>{e(o.student)}</td>{cells}<td>{auto}</td></tr>")
    parts.append("</table>")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
             "vertical-align:top;text-align:left}ul{margin:0;padding-left:1.2em}img{display:block;margin:1em 0}")
    return (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>Rapport {e(assignment)}</title>'
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>")


def write_report(course: Path, db_url: str, assignment: str, failures: dict[str, str], path: Path) -> Path:
    path.write_text(render(assignment, collect(course, db_url, assignment, failures)), encoding="utf-8")
    return path
