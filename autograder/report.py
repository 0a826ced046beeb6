"""Class reports: self-contained HTML pages on what a class got right and wrong, per TP and course-wide."""

from __future__ import annotations

import base64
import html
import io
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import nbformat

from autograder import gradebook, verdict
from autograder.french import number, percent
from autograder.verdict import Remark, inline_code

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

# every kind of problem a copy can have, as the class report names and explains it
PROBLEMS = {
    "copie non notée": "nbgrader n'a pas pu la noter (notebook illisible…)",
    "temps dépassé": "une cellule a dépassé le temps permis : elle a été interrompue",
    "noyau arrêté": "le noyau s'est arrêté dans cette cellule (mémoire, os._exit…) : les suivantes n'ont pas "
                    "été exécutées",
    "sortie trop longue": "une cellule a trop écrit : sa sortie est coupée et elle a été interrompue",
    "tests cachés interrompus": "une erreur a arrêté la cellule de test avant que ses tests cachés ne répondent",
    "cellule de test absente": "la copie n'a plus cette cellule de test",
    "retour non écrit": "la page de retour de l'étudiant n'a pas pu être écrite",
}
# error outputs the grader leaves in a cell (nbclient, `autograder.nbgrader_ext`), and the problem each one is
PROBLEM_ERRORS = {"CellTimeoutError": "temps dépassé", "KernelMort": "noyau arrêté",
                  "SortieTropLongue": "sortie trop longue"}
STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
         "vertical-align:top;text-align:left}ul{margin:0;padding-left:1.2em}img{display:block;margin:1em 0;"
         "max-width:100%}code{background:#f3f3f3;padding:0 2px}.wide{overflow-x:auto}")


@dataclass
class CellOutcome:
    score: float
    max_score: float
    remarks: list[Remark] = field(default_factory=list)
    label: str | None = None  # what the check calls itself (« entraînement »), when its verdict says


@dataclass
class StudentOutcome:
    student: str
    total: float | None  # None: not graded
    cells: dict[str, CellOutcome] = field(default_factory=dict)
    failure: str = ""
    problems: list[tuple[str, str]] = field(default_factory=list)  # (kind of `PROBLEMS`, where)


@dataclass
class FunctionStats:
    """How the class did on one test cell: share of full marks, mean, and the verdicts of those who lost points."""

    name: str
    rate: float
    mean: float
    max_score: float
    messages: Counter


# ------------------------------------------------------------------ reading


def _outcome(cell, score: float, max_score: float) -> CellOutcome:
    """What the verdict of a graded cell says (`autograder.verdict`), or the error that stopped the cell."""
    outputs = cell.get("outputs", [])
    results = [result for o in outputs for result in [verdict.read(o)] if result]
    remarks = [r for result in results for r in result.remarks]
    errors = [o.get("ename") for o in outputs if o.get("output_type") == "error"]
    if errors and not remarks:
        remarks = [verdict.plain(f"erreur {errors[0]}")]
    return CellOutcome(score, max_score, remarks, results[0].function if results else None)


def _autograded_notebooks(folder: Path) -> list[list]:
    """The cells of each autograded notebook of one submission (none when there are none)."""
    return [nbformat.read(path, as_version=4).cells for path in sorted(folder.glob("*.ipynb"))]


def _grade_id(cell) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _cell_problems(cells: list) -> list[tuple[str, str]]:
    """(problem, where) in the cells of one notebook: timeouts and cut outputs, the cell where the kernel
    died (not the cells it left unrun), and hidden checks stopped by an error before they could report."""
    found = []
    for index, cell in enumerate(cells):
        errors = list(dict.fromkeys(o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"))
        nbgrader = cell.get("metadata", {}).get("nbgrader", {})
        test = nbgrader.get("grade") and not nbgrader.get("solution")
        hidden = test and "BEGIN HIDDEN TESTS" in cell.get("source", "")
        name = nbgrader.get("grade_id")
        where = (f"test de {name.removeprefix('test_')}" if test else name) if name else f"cellule {index + 1}"
        found += [(PROBLEM_ERRORS[e], where) for e in errors if e in PROBLEM_ERRORS]
        if "KernelMort" in errors:
            break
        if hidden and errors and not any(e in PROBLEM_ERRORS for e in errors):
            found.append(("tests cachés interrompus", f"{where} ({errors[-1]})"))
    return found


def collect(course: Path, db_url: str, assignment: str, failures: dict[str, str],
            feedback_errors: dict[str, str] | None = None) -> list[StudentOutcome]:
    """Scores from the gradebook, verdict messages and problems from the autograded notebooks.

    `failures` ({student: error}) are submissions the grading run could not read:
    nbgrader may leave zero grades behind them, so they are reported as not graded.
    `feedback_errors` ({student: error}): graded copies whose feedback page could not be written.
    """
    scores = gradebook.cell_scores(db_url, assignment)
    maxima = gradebook.max_scores(db_url, assignment)
    totals = gradebook.submission_scores(db_url, assignment)
    outcomes = [StudentOutcome(student, None, failure=error, problems=[("copie non notée", _last_line(error))])
                for student, error in failures.items()]
    for student, cell_scores in scores.items():
        if student in failures:
            continue
        notebooks = _autograded_notebooks(course / "autograded" / student / assignment)
        by_id = {_grade_id(c): c for cells in notebooks for c in cells}
        problems = [problem for cells in notebooks for problem in _cell_problems(cells)]
        outcome = StudentOutcome(student, totals[student], problems=problems)
        for name, score in cell_scores.items():
            outcome.cells[name] = _outcome(by_id.get(name, {}), score, maxima[name])
            if name not in by_id:
                outcome.problems.append(("cellule de test absente", name.removeprefix("test_")))
        if student in (feedback_errors or {}):
            outcome.problems.append(("retour non écrit", _last_line(feedback_errors[student])))
        outcomes.append(outcome)
    return sorted(outcomes, key=lambda o: o.student)


def _last_line(error: str) -> str:
    return (error.strip().splitlines() or [""])[-1]


# ------------------------------------------------------------------ analysis


def _class_messages(lost: list[CellOutcome]) -> Counter:
    """{message: copies}: one line per mistake (a remark's sentence), whichever case, output or values each
    copy made it on; its values are shown when every copy that made it measured the same (one copy, above all),
    and its outputs are those of every copy."""
    copies: Counter = Counter()
    first: dict[str, Remark] = {}
    outputs: dict[str, list[str]] = {}
    values: dict[str, list[dict[str, str]]] = {}
    for cell in lost:
        for remark in cell.remarks:
            first.setdefault(remark.text, remark)
            outputs.setdefault(remark.text, [])
            if remark.output and remark.output not in outputs[remark.text]:
                outputs[remark.text].append(remark.output)
            if remark.values not in values.setdefault(remark.text, []):
                values[remark.text].append(remark.values)
        copies.update({remark.text for remark in cell.remarks})
    return Counter({verdict.class_text(first[t], outputs[t], values[t][0] if len(values[t]) == 1 else None): n
                    for t, n in copies.items()})


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
        label = next((c.label for c in cells if c.label), name.removeprefix("test_"))
        stats.append(FunctionStats(label, (len(cells) - len(lost)) / len(cells),
                                   statistics.mean(c.score for c in cells), cells[0].max_score, _class_messages(lost)))
    return stats


# ------------------------------------------------------------------ HTML


def _figure(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="figure" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _distribution(autos: list[float], auto_max: float, title: str = "Distribution des notes") -> list[str]:
    """Mean, median, extremes and the histogram of the automatic scores."""
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.hist(autos, bins=min(20, max(5, len(set(autos)))), range=(0, auto_max), color="#4477aa")
    ax.set(xlabel=f"note automatique (/{number(auto_max)})", ylabel="copies", title=title)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.xaxis.set_major_formatter(lambda x, _: number(x))  # « 2,5 », not « 2.5 »
    return [f"<p>Note automatique sur {number(auto_max)} : moyenne {number(statistics.mean(autos))}, "
            f"médiane {number(statistics.median(autos))}, min {number(min(autos))}, max {number(max(autos))}.</p>",
            _figure(fig)]


def _success_chart(stats: list[FunctionStats]) -> str:
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(stats) + 1))
    ax.barh([s.name for s in stats][::-1], [100 * s.rate for s in stats][::-1], color="#66aa55")
    ax.set(xlim=(0, 100), xlabel="% de copies avec tous les points", title="Réussite par fonction")
    return _figure(fig)


def _function_row(s: FunctionStats) -> str:
    messages = "".join(f"<li>{inline_code(m)} <b>({n})</b></li>" for m, n in s.messages.most_common(5))
    return (f"<tr><td>{html.escape(s.name)}</td><td>{percent(s.rate, 0)}</td>"
            f"<td>{number(s.mean)} / {number(s.max_score)}</td>"
            f"<td><ul>{messages}</ul></td></tr>")


def _function_table(stats: list[FunctionStats]) -> str:
    return ("<table><tr><th>fonction</th><th>réussite</th><th>moyenne</th>"
            "<th>messages les plus fréquents (nombre de copies)</th></tr>"
            + "".join(_function_row(s) for s in stats) + "</table>")


def _page(title: str, parts: list[str]) -> str:
    return (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>")


def _problems(outcomes: list[StudentOutcome]) -> list[str]:
    rows = [(o.student, kind, where) for o in outcomes for kind, where in o.problems]
    if not rows:
        return ["<h2>Copies en difficulté</h2><p>Aucune copie en difficulté.</p>"]
    e = html.escape
    legend = "".join(f"<li><b>{e(k)}</b> : {e(v)}</li>" for k, v in PROBLEMS.items() if k in {r[1] for r in rows})
    parts = [f"<h2>Copies en difficulté</h2><p>Ce que le correcteur relève :</p><ul>{legend}</ul>"]
    return parts + ["<table><tr><th>étudiant</th><th>problème</th><th>où</th></tr>" + "".join(
        f"<tr><td>{e(s)}</td><td>{e(k)}</td><td>{inline_code(w)}</td></tr>" for s, k, w in rows) + "</table>"]


def _score_rows(outcomes: list[StudentOutcome], names: list[str]) -> list[str]:
    e = html.escape
    labels = {n: next((o.cells[n].label for o in outcomes if n in o.cells and o.cells[n].label), n.removeprefix("test_"))
              for n in names}
    heads = "".join(f"<th>{e(labels[n]).replace('_', '_<wbr>')}</th>" for n in names)
    parts = [f'<h2>Notes par copie</h2><div class="wide"><table><tr><th>étudiant</th><th>total auto</th>{heads}</tr>']
    for o in outcomes:
        cells = "".join(f"<td>{number(o.cells[n].score)}</td>" if n in o.cells else "<td>—</td>" for n in names)
        auto = number(_auto(o)) if o.total is not None else "non notée"
        parts.append(f"<tr><td>{e(o.student)}</td><td><b>{auto}</b></td>{cells}</tr>")
    return parts + ["</table></div>"]


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


def write_report(course: Path, db_url: str, assignment: str, failures: dict[str, str], path: Path,
                 feedback_errors: dict[str, str] | None = None) -> Path:
    path.write_text(render(assignment, collect(course, db_url, assignment, failures, feedback_errors)),
                    encoding="utf-8")
    return path


# ------------------------------------------------------------------ course


HARDEST = 3  # functions shown per TP in the course report


def _course_table(sheet: gradebook.CourseSheet) -> list[str]:
    e = html.escape
    head = "".join(f"<th>{e(a)} (/{number(m)})</th>" for a, m in sheet.maxima.items())
    rows = "".join(
        f"<tr><td>{e(student)}</td>"
        + "".join(f"<td>{'—' if row[a] is None else number(row[a])}</td>" for a in sheet.maxima)
        + f"<td>{number(sheet.total(student))}</td></tr>" for student, row in sheet.scores.items())
    return [f"<h2>Notes par étudiant</h2><table><tr><th>étudiant</th>{head}<th>total (/{number(sheet.total_max)})</th>"
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
