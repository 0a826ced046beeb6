"""Class reports: self-contained HTML pages on what a class got right and wrong, per TP and course-wide."""

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

from autograder import gradebook

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# error outputs the grader leaves in a cell, and how the report names them
PROBLEM_ERRORS = {"CellTimeoutError": "temps dépassé", "KernelMort": "noyau arrêté",
                  "SortieTropLongue": "sortie trop longue"}
STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
         "vertical-align:top;text-align:left}ul{margin:0;padding-left:1.2em}img{display:block;margin:1em 0}"
         "code{background:#f3f3f3;padding:0 2px}")


@dataclass
class CellOutcome:
    score: float
    max_score: float
    messages: list[str] = field(default_factory=list)
    problem: str | None = None  # timeout, dead kernel, output cut


@dataclass
class StudentOutcome:
    student: str
    total: float | None  # None: not graded
    cells: dict[str, CellOutcome] = field(default_factory=dict)
    failure: str = ""


@dataclass
class FunctionStats:
    """How the class did on one test cell: share of full marks, mean, and the verdicts of those who lost points."""

    name: str
    rate: float
    mean: float
    max_score: float
    messages: Counter


# ------------------------------------------------------------------ reading


def _messages(cell) -> tuple[list[str], str | None]:
    text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
    messages = [line.strip()[2:] for line in text.splitlines() if line.startswith("   - ")]
    errors = [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    problem = next((PROBLEM_ERRORS[e] for e in errors if e in PROBLEM_ERRORS), None)
    if errors and not messages:
        messages = [f"erreur {errors[0]}"]
    return messages, problem


def _autograded_cells(folder: Path) -> dict[str, dict]:
    """{grade_id: cell} over the autograded notebooks of one submission (empty when there are none)."""
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c
            for path in sorted(folder.glob("*.ipynb")) for c in nbformat.read(path, as_version=4).cells}


def collect(course: Path, db_url: str, assignment: str, failures: dict[str, str]) -> list[StudentOutcome]:
    """Scores from the gradebook, verdict messages and problems from the autograded notebooks.

    `failures` ({student: error}) are submissions the grading run could not read:
    nbgrader may leave zero grades behind them, so they are reported as not graded.
    """
    scores = gradebook.cell_scores(db_url, assignment)
    maxima = gradebook.max_scores(db_url, assignment)
    totals = gradebook.submission_scores(db_url, assignment)
    outcomes = [StudentOutcome(student, None, failure=error) for student, error in failures.items()]
    for student, cell_scores in scores.items():
        if student in failures:
            continue
        cells = _autograded_cells(course / "autograded" / student / assignment)
        outcome = StudentOutcome(student, totals[student])
        for name, score in cell_scores.items():
            messages, problem = _messages(cells.get(name, {}))
            if name not in cells:
                problem = "cellule de test absente"
            outcome.cells[name] = CellOutcome(score, maxima[name], messages, problem)
        outcomes.append(outcome)
    return sorted(outcomes, key=lambda o: o.student)


# ------------------------------------------------------------------ analysis


def _general(message: str) -> str:
    """Groups a message across copies: drops the case it was seen on `(essai : …)`, measured values, percentages."""
    message = re.sub(r"\s*\(essai : [^)]*\)", "", message)
    return re.sub(r"(?<![\w.])\d+\.\d+(e-?\d+)?%?|(?<![\w.])\d+%", "…", message)


def _cell_names(outcomes: list[StudentOutcome]) -> list[str]:
    names: list[str] = []
    for outcome in outcomes:
        names += [n for n in outcome.cells if n not in names]
    return names


def _auto(outcome: StudentOutcome) -> float:
    return sum(c.score for c in outcome.cells.values())


def function_stats(graded: list[StudentOutcome]) -> list[FunctionStats]:
    """One entry per test cell, in notebook order, over the graded copies."""
    stats = []
    for name in _cell_names(graded):
        cells = [o.cells[name] for o in graded if name in o.cells]
        lost = [c for c in cells if c.score < c.max_score]
        messages = Counter(m for c in lost for m in dict.fromkeys(_general(x) for x in c.messages))
        stats.append(FunctionStats(name.removeprefix("test_"), (len(cells) - len(lost)) / len(cells),
                                   statistics.mean(c.score for c in cells), cells[0].max_score, messages))
    return stats


# ------------------------------------------------------------------ HTML


def message_html(message: str) -> str:
    """Escaped HTML, with `code` in backticks shown as code."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(message))


def _figure(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _distribution(autos: list[float], auto_max: float, title: str = "Distribution des notes") -> list[str]:
    """Mean, median, extremes and the histogram of the automatic scores."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(autos, bins=min(20, max(5, len(set(autos)))), range=(0, auto_max), color="#4477aa")
    ax.set(xlabel=f"note automatique (/{auto_max:g})", ylabel="copies", title=title)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    return [f"<p>Note automatique sur {auto_max:g} : moyenne {statistics.mean(autos):.2f}, "
            f"médiane {statistics.median(autos):g}, min {min(autos):g}, max {max(autos):g}.</p>", _figure(fig)]


def _success_chart(stats: list[FunctionStats]) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(stats) + 1))
    ax.barh([s.name for s in stats][::-1], [100 * s.rate for s in stats][::-1], color="#66aa55")
    ax.set(xlim=(0, 100), xlabel="% de copies avec tous les points", title="Réussite par fonction")
    return _figure(fig)


def _function_row(s: FunctionStats) -> str:
    messages = "".join(f"<li>{message_html(m)} <b>({n})</b></li>" for m, n in s.messages.most_common(5))
    return (f"<tr><td>{html.escape(s.name)}</td><td>{s.rate:.0%}</td><td>{s.mean:.2f} / {s.max_score:g}</td>"
            f"<td><ul>{messages}</ul></td></tr>")


def _function_table(stats: list[FunctionStats]) -> str:
    return ("<table><tr><th>fonction</th><th>réussite</th><th>moyenne</th>"
            "<th>messages les plus fréquents (nombre de copies)</th></tr>"
            + "".join(_function_row(s) for s in stats) + "</table>")


def _page(title: str, parts: list[str]) -> str:
    return (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def _problems(outcomes: list[StudentOutcome]) -> list[str]:
    problems = [(o.student, "copie non notée", o.failure.strip().splitlines()[-1] if o.failure.strip() else "")
                for o in outcomes if o.total is None]
    problems += [(o.student, c.problem, n.removeprefix("test_")) for o in outcomes if o.total is not None
                 for n, c in o.cells.items() if c.problem]
    parts = ["<h2>Copies en difficulté (temps dépassé, noyau arrêté, sortie trop longue, copie illisible, "
             "cellule absente)</h2>"]
    if not problems:
        return parts + ["<p>Aucune.</p>"]
    e = html.escape
    return parts + ["<table><tr><th>étudiant</th><th>problème</th><th>où</th></tr>" + "".join(
        f"<tr><td>{e(s)}</td><td>{e(p)}</td><td>{e(w)}</td></tr>" for s, p, w in problems) + "</table>"]


def _score_rows(outcomes: list[StudentOutcome], names: list[str]) -> list[str]:
    e = html.escape
    parts = ["<h2>Notes par copie</h2><table><tr><th>étudiant</th>"
             + "".join(f"<th>{e(n.removeprefix('test_'))}</th>" for n in names) + "<th>auto</th></tr>"]
    for o in outcomes:
        cells = "".join(f"<td>{o.cells[n].score:g}</td>" if n in o.cells else "<td>—</td>" for n in names)
        auto = f"{_auto(o):g}" if o.total is not None else "non notée"
        parts.append(f"<tr><td>{e(o.student)}</td>{cells}<td>{auto}</td></tr>")
    return parts + ["</table>"]


def render(assignment: str, outcomes: list[StudentOutcome]) -> str:
    """The class report of one TP."""
    graded = [o for o in outcomes if o.total is not None]
    names = _cell_names(graded)
    parts = [f"<h1>Rapport de correction — {html.escape(assignment)}</h1>",
             f"<p>{len(outcomes)} copies, {len(graded)} notées, "
             f"{len(outcomes) - len(graded)} impossibles à noter.</p>"]
    if graded:
        stats = function_stats(graded)
        parts += _distribution([_auto(o) for o in graded], sum(s.max_score for s in stats))
        parts += [_success_chart(stats), "<h2>Ce que la classe n'a pas compris</h2>", _function_table(stats)]
    parts += _problems(outcomes)
    parts += _score_rows(outcomes, names)
    return _page(f"Rapport {assignment}", parts)


def write_report(course: Path, db_url: str, assignment: str, failures: dict[str, str], path: Path) -> Path:
    path.write_text(render(assignment, collect(course, db_url, assignment, failures)), encoding="utf-8")
    return path


# ------------------------------------------------------------------ course


HARDEST = 3  # functions shown per TP in the course report


def _course_table(sheet: gradebook.CourseSheet) -> list[str]:
    e = html.escape
    head = "".join(f"<th>{e(a)} (/{m:g})</th>" for a, m in sheet.maxima.items())
    rows = "".join(
        f"<tr><td>{e(student)}</td>"
        + "".join(f"<td>{'—' if row[a] is None else f'{row[a]:g}'}</td>" for a in sheet.maxima)
        + f"<td>{sheet.total(student):g}</td></tr>" for student, row in sheet.scores.items())
    return [f"<h2>Notes par étudiant</h2><table><tr><th>étudiant</th>{head}<th>total (/{sheet.total_max:g})</th>"
            f"</tr>{rows}</table>",
            "<p>— : pas de copie rendue (compte 0 dans le total ; un TP que personne n'a encore rendu "
            "n'entre pas dans le total). Les notes comprennent les points corrigés à la main.</p>"]


def _assignment_section(course: Path, db_url: str, assignment: str) -> list[str]:
    """One TP in the course report: its distribution and its hardest functions."""
    parts = [f"<h2>{html.escape(assignment)}</h2>"]
    detail = course / f"rapport-{assignment}.html"
    if detail.exists():
        parts.append(f'<p><a href="{html.escape(detail.name)}">rapport détaillé de la classe</a></p>')
    graded = [o for o in collect(course, db_url, assignment, {}) if o.total is not None]
    if not graded:
        return parts + ["<p>Aucune copie notée.</p>"]
    stats = function_stats(graded)
    parts.append(f"<p>{len(graded)} copies notées.</p>")
    parts += _distribution([_auto(o) for o in graded], sum(s.max_score for s in stats),
                           f"Distribution des notes — {assignment}")
    hardest = sorted((s for s in stats if s.rate < 1), key=lambda s: (s.rate, s.mean / s.max_score))[:HARDEST]
    parts.append("<h3>Fonctions les plus difficiles</h3>")
    if not hardest:
        return parts + ["<p>Toutes les fonctions réussies par toute la classe.</p>"]
    return parts + [_function_table(hardest)]


def render_course(course: Path, db_url: str) -> str:
    """The course report: the students' grades across TPs, then one section per assignment of the gradebook."""
    sheet = gradebook.course_sheet(db_url)
    parts = ["<h1>Rapport du cours</h1>",
             f"<p>{len(sheet.scores)} étudiants, {len(sheet.maxima)} TP : "
             f"{html.escape(', '.join(sheet.maxima)) or 'aucun'}.</p>", *_course_table(sheet)]
    for assignment in sheet.maxima:
        parts += _assignment_section(course, db_url, assignment)
    return _page("Rapport du cours", parts)


def write_course_report(course: Path, db_url: str, path: Path) -> Path:
    """`rapport-cours.html`. Read from the gradebook alone: a copy a grading run could not read counts as graded."""
    path.write_text(render_course(course, db_url), encoding="utf-8")
    return path
