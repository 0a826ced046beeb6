"""The students' feedback pages: nbgrader's GenerateFeedback with the course's French template.

`nbgrader_config.py` puts `FeedbackGrades` in place of nbgrader's `GetGrades` and adds
`TEMPLATES` to the HTML exporter's template folders, where `feedback/index.html.j2`
replaces nbgrader's page of the same name (nbgrader's API always asks for the template
called "feedback"). The preprocessor gives the template what it needs:

* per grade cell, its score and whether it is still **waiting for an instructor**: a written
  answer (a markdown grade cell) without a manual score, that the autograder could not score
  either (an answer left untouched is scored 0 automatically: "pas de réponse");
* the totals: the points already graded, and the points waiting for correction;
* the verdicts of the checks as HTML (lines that wrap, `code` in backticks), rendered from the
  verdict the grader left as data (`autograder.verdict`); and no `execute_result` in grade cells
  (the points the hidden test returned, which nbgrader would show as `Out[n]: 1.0`).
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.preprocessors import GetGrades

from autograder import verdict

TEMPLATES = Path(__file__).resolve().parent / "templates"
NBGRADER_TEMPLATES = Path(utils.__file__).resolve().parent / "server_extensions" / "formgrader" / "templates"

_AUTO_COMMENTS = {"No response.": "Pas de réponse."}  # nbgrader's automatic comments


def coalesce_streams(outputs: list) -> list:
    """Consecutive prints to the same stream as one output (one block on the page, not one per print)."""
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.output_type == "stream" and previous is not None and previous.output_type == "stream"
                and previous.get("name") == output.get("name")):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def section_name(grade_id: str) -> str:
    """The function a cell is about: its grade_id, without the `test_` of a test cell."""
    return grade_id.removeprefix("test_")


class FeedbackGrades(GetGrades):
    """nbgrader's GetGrades, plus what the French feedback template shows (see the module's docstring)."""

    def preprocess(self, nb, resources):
        self._graded = self._graded_max = self._pending = 0.0
        self._pending_cells: list[str] = []
        self._manual = False
        self._questions = 0
        nb, resources = super().preprocess(nb, resources)
        penalty = resources["nbgrader"].get("late_penalty") or 0
        resources["feedback"] = {
            "graded": max(self._graded - penalty, 0.0) if penalty else self._graded,
            "graded_max": self._graded_max,
            "pending": self._pending,
            "pending_cells": self._pending_cells,
            "manual": self._manual,  # some cell already graded by an instructor
            "total_max": self._graded_max + self._pending,
        }
        return nb, resources

    def _get_score(self, cell, resources):
        """GetGrades' score and points (one gradebook query), then whether it waits for an instructor."""
        grade = self.gradebook.find_grade(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                          self.assignment_id, self.student_id)
        cell.metadata.nbgrader["score"], cell.metadata.nbgrader["points"] = grade.score, grade.max_score
        pending = grade.manual_score is None and grade.auto_score is None
        cell.metadata.nbgrader["pending"] = pending
        cell.metadata.nbgrader["section"] = section_name(cell.metadata.nbgrader["grade_id"])
        if pending:
            self._pending += grade.max_score
            self._pending_cells.append(cell.metadata.nbgrader["grade_id"])
        else:
            self._graded += grade.score
            self._graded_max += grade.max_score
            self._manual = self._manual or grade.manual_score is not None

    def _get_comment(self, cell, resources):
        """The instructor's comment; else nbgrader's automatic one ("No response."), in French and labelled as such."""
        comment = self.gradebook.find_comment(cell.metadata["nbgrader"]["grade_id"], self.notebook_id,
                                              self.assignment_id, self.student_id)
        if comment.manual_comment:
            cell.metadata.nbgrader["comment"], cell.metadata.nbgrader["comment_by"] = comment.manual_comment, "grader"
        else:
            automatic = comment.auto_comment
            cell.metadata.nbgrader["comment"] = _AUTO_COMMENTS.get(automatic, automatic)
            cell.metadata.nbgrader["comment_by"] = "auto"

    def preprocess_cell(self, cell, resources, cell_index):
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        if cell.cell_type == "markdown" and utils.is_grade(cell):  # a written question, numbered as students read it
            self._questions += 1
            cell.metadata.nbgrader["section"] = f"Question {self._questions}"
        if cell.cell_type == "code":
            cell.outputs = coalesce_streams(cell.outputs)
        if cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell):  # a test cell
            outputs = []
            for output in cell.outputs:
                if output.output_type == "execute_result":
                    continue  # the points the hidden test returned: the heading shows the score
                result = verdict.read(output)
                if result is not None:
                    cell.metadata.nbgrader["section"] = result.function  # the check's own name (« entraînement »)
                    output = new_output("display_data", data={"text/html": result.html(), "text/plain": result.report()})
                outputs.append(output)
            cell.outputs = outputs
        return cell, resources


_HIGHLIGHTED: dict[tuple, str] = {}


def _remembered_highlight(highlight, lexer):
    """The code highlighter, remembering its HTML per process: most of a copy's code (locked cells, test
    cells, given code) is the same in every copy, and pygments builds a stylesheet at every call."""
    def remembered(source, language=None, metadata=None):
        key = (source, language, lexer, (metadata or {}).get("magics_language"))
        if key not in _HIGHLIGHTED:
            if len(_HIGHLIGHTED) > 5000:
                _HIGHLIGHTED.clear()
            _HIGHLIGHTED[key] = highlight(source, language, metadata)
        return _HIGHLIGHTED[key]
    return remembered


class FeedbackExporter(HTMLExporter):
    """nbgrader's HTML exporter, its Jinja environment (templates compiled, filters) made once per process.

    nbgrader makes an exporter per copy, and each compiled the same templates again: a fifth of a
    feedback page's time when a worker writes one page after another. (The template's code cells are
    not run through `clean_html` either: pygments' output is escaped HTML already, and is remembered.)
    """

    _environments: dict = {}

    def _create_environment(self):
        key = (tuple(self.template_paths), self.template_file, self.raw_template)
        if key not in FeedbackExporter._environments:
            FeedbackExporter._environments[key] = super()._create_environment()
        return FeedbackExporter._environments[key]

    def from_notebook_node(self, nb, resources=None, **kw):
        """HTMLExporter's page without its last pass, which parses the page whole and writes it again
        (0.2 s per page) to give images an English alternative text (the template writes a French one)
        and to make JupyterLab's cells focusable (this page has none)."""
        language = nb.metadata.get("language_info", {})
        lexer = language.get("pygments_lexer", language.get("name"))
        self.register_filter("highlight_code", _remembered_highlight(
            self.filters.get("highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)), lexer))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(notebook_metadata=self._nb_metadata,
                                                                       parent=self, resources=resources))
        return TemplateExporter.from_notebook_node(self, nb, resources, **kw)
