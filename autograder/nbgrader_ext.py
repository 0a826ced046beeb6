"""nbgrader preprocessors of the course, configured in `nbgrader_config.py`.

Autograde runs, in this order:

1. `PlantProbes` — each hidden check becomes a call to `autograder.probe.run` with
   inputs drawn now from a fresh seed, and a nonce;
2. `ResilientExecute` — nbgrader's Execute, in a sandboxed kernel, whose output is
   bounded and whose dying kernel costs only the cells it did not run;
3. `JudgeProbes` — for each planted cell, the verdict made here from the facts the
   kernel displayed; the cell's source is put back and its outputs become the verdict
   (as data of MIME type `verdict.MIME`, beside its text) and the points. No facts, or
   facts that do not parse, give no points;
4. nbgrader's own steps, with `SaveAutoGradesAtOnce` writing the copy's grades in one transaction.
"""

from __future__ import annotations

import ast
import asyncio
import importlib
import json
import re
import secrets
from pathlib import Path

import nbformat
from nbclient.exceptions import DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbformat.v4 import new_output
from nbgrader import utils
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import Execute, NbGraderPreprocessor, SaveAutoGrades
from traitlets import Bool, Integer

from autograder import figures, preflight, verdict
from autograder.judge import failing_functions
from autograder.probe import MIME, encode_request
from autograder.specs import VariablesSpec
from autograder.verdict import Result, plain

PLAN = "autograder_probe"  # cell metadata the grader keeps for itself between the two steps
HIDDEN = re.compile(r"(### BEGIN HIDDEN TESTS\n)(.*?)(### END HIDDEN TESTS)", re.S)


def _error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


# ------------------------------------------------------------------ before grading

_kernel_problems: dict[str, str | None] = {}  # kernel name -> what stops it, checked once per process


def check_grading_kernel(**_) -> None:
    """`Autograde.pre_convert_hook` (see `nbgrader_config.py`), run before each copy is touched.

    The first time, a kernel is started as grading starts them (the configured kernel spec, its
    sandbox) and must import what the hidden checks need; if not, nbgrader stops with the cause and
    the fix, having recorded nothing. Without it, every hidden check would stop in the kernel, every
    student get 0 and nbgrader exit 0. (`SystemExit`: nbgrader logs and ignores a hook's exceptions.)
    """
    from traitlets.config import Application

    from autograder.grading import load_config

    config = load_config(Path.cwd())  # nbgrader runs converters from the course root
    if Application.initialized():  # the command line's settings (--SandboxProvisioner.unsafe=True …)
        config.merge(Application.instance().config)
    name = ResilientExecute(config=config).kernel_name or "python3"
    if name not in _kernel_problems:
        _kernel_problems[name] = preflight.kernel_problem(name, config)
    if _kernel_problems[name]:
        raise SystemExit(f"refus de corriger : {_kernel_problems[name]}\nAucune copie n'a été notée.")


# ------------------------------------------------------------------ before execution


def hidden_check(source: str) -> tuple[str, str] | None:
    """(checks module, exercise) of a hidden block `from autograder.… import grade` + `grade("name", …)`."""
    match = HIDDEN.search(source)
    if not match:
        return None
    try:
        tree = ast.parse(match.group(2))
    except SyntaxError:
        return None
    modules = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
               and n.module.startswith("autograder.") and any(a.name == "grade" for a in n.names)]
    names = [n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id == "grade" and n.args and isinstance(n.args[0], ast.Constant)
             and isinstance(n.args[0].value, str)]
    return (modules[0], names[0]) if len(modules) == 1 and len(names) == 1 else None


def assignment_of(module: str):
    """The `Assignment` a TP's checks module declares (see `autograder.assignment`)."""
    return importlib.import_module(module).ASSIGNMENT


def _is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


class PlantProbes(NbGraderPreprocessor):
    """Replaces each hidden check by a probe call on inputs drawn now (see `autograder.probe`)."""

    def preprocess_cell(self, cell, resources, index):
        cell.metadata.pop(PLAN, None)  # a submission may carry one: only ours count
        target = hidden_check(cell.source) if _is_test_cell(cell) else None
        if target is None:
            return cell, resources
        module, name = target
        seed = secrets.randbits(62)
        request = assignment_of(module).plan(name, seed)
        call = f'__import__("autograder.probe").probe.run("{encode_request(request)}", globals())\n'
        cell.metadata[PLAN] = {"module": module, "name": name, "seed": seed, "nonce": request["nonce"],
                               "source": cell.source}
        cell.source = HIDDEN.sub(lambda m: m.group(1) + call + m.group(3), cell.source, count=1)
        return cell, resources


# ------------------------------------------------------------------ execution


class ResilientExecute(Execute):
    """nbgrader's Execute with three changes for untrusted notebooks, and one for speed.

    * A dying kernel costs only the cell that killed it and the cells after it: they
      get an error output (so their tests score 0, never full marks). nbgrader's own
      Execute lets `DeadKernelError` escape and drops the whole submission.
    * A cell's output is bounded (`max_output_bytes`): past it, the rest is dropped and
      the cell is interrupted, so a `print` in a loop cannot fill the grader's memory.
    * Planted hidden checks run without being stored in the kernel's history (`In`),
      so later cells cannot print them.
    * With `figures_from_submission` (`autograder grade`), the figure cells are not run
      again when the copy has them as released: they keep the outputs of the copy as handed
      in (`autograder.figures`). Nothing graded depends on them (checked by `make release`).
    """

    max_output_bytes = Integer(2_000_000, config=True, help="Output kept per cell; past it the cell is interrupted.")
    max_probe_outputs = 4  # probe outputs a cell may display beyond the bound
    figures_from_submission = Bool(False, config=True,
                                   help="Figure cells as released keep the copy's own outputs instead of running.")

    def preprocess(self, nb, resources=None, km=None):
        self._kernel_dead = False
        self._output_bytes: dict[int, int] = {}
        self._probe_outputs: dict[int, int] = {}
        self._kept_figures = self._submitted_figures(nb, resources) if self.figures_from_submission else {}
        return super().preprocess(nb, resources, km)

    def _submitted_figures(self, nb, resources) -> dict[int, list]:
        """Outputs of the copy as handed in, by cell index, for its figure cells when all are as released."""
        about = (resources or {}).get("nbgrader") or {}
        if not {"student", "assignment", "notebook"} <= set(about):
            return {}
        coursedir = CourseDirectory(config=self.config)
        name = f"{about['notebook']}.ipynb"
        source = Path(coursedir.format_path(coursedir.source_directory, ".", about["assignment"])) / name
        sources = figures.figure_sources(source)
        submitted = Path(coursedir.format_path(coursedir.submitted_directory, about["student"], about["assignment"]))
        if not sources or not (submitted / name).is_file():
            return {}
        handed_in = nbformat.read(submitted / name, as_version=4).cells
        return figures.outputs_to_keep(nb, handed_in, sources, self.max_output_bytes)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if index in self._kept_figures:
            cell.outputs = self._kept_figures[index]
            return cell, resources
        if self._kernel_dead:
            cell.outputs = [_error_output("KernelMort", "cellule non exécutée : le noyau s'est arrêté plus haut.")]
            return cell, resources
        try:
            if PLAN in cell.metadata:
                self._check_assign_resources(resources)
                return self.execute_cell(cell, index, store_history=False), self.resources
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._kernel_dead = True
            self.log.warning("Kernel died in cell %d; the cells after it are marked as failed.", index)
            cell.outputs.append(_error_output(
                "KernelMort", "le noyau s'est arrêté pendant cette cellule (mémoire épuisée, os._exit, crash…)."))
            return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        data = msg.get("content", {}).get("data") or {}
        if MIME in data and self._probe_outputs.get(cell_index, 0) < self.max_probe_outputs:
            self._probe_outputs[cell_index] = self._probe_outputs.get(cell_index, 0) + 1
            return super().output(outs, msg, display_id, cell_index)
        used = self._output_bytes.get(cell_index, 0)
        if used > self.max_output_bytes:
            return None  # already cut and interrupted
        used += len(json.dumps(msg.get("content", {})))
        self._output_bytes[cell_index] = used
        if used <= self.max_output_bytes:
            return super().output(outs, msg, display_id, cell_index)
        self.log.warning("Cell %d printed more than %d bytes: interrupted.", cell_index, self.max_output_bytes)
        outs.append(_error_output("SortieTropLongue", f"la cellule a produit plus de {self.max_output_bytes} octets "
                                                      "de sortie : la suite est coupée et la cellule interrompue."))
        asyncio.ensure_future(self.km.interrupt_kernel())
        return None


# ------------------------------------------------------------------ after execution


def _missing_facts_message(cell) -> str:
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    if errors:
        return (f"la cellule de test s'est arrêtée avant la fin ({errors[-1].get('ename', '?')}) : "
                "les tests cachés n'ont pas pu s'exécuter, aucun point n'est attribué.")
    return ("les tests cachés n'ont rien renvoyé (cellule de test modifiée, ou module de correction remplacé "
            "par le notebook ?) : aucun point n'est attribué.")


class JudgeProbes(NbGraderPreprocessor):
    """The verdict of each planted hidden check, made here from the facts the kernel displayed.

    A failed training's verdict also lists the exercises of the notebook that failed their own
    checks, as the students' self-check does (`autograder.selfcheck`).
    """

    def preprocess(self, nb, resources):
        self._failed: list[str] = []
        return super().preprocess(nb, resources)

    def _with_failed_exercises(self, assignment, name: str, result: Result) -> Result:
        if not isinstance(assignment.specs[name], VariablesSpec):
            if not result.complete:
                self._failed.append(name)
            return result
        if result.complete or not self._failed:
            return result
        return result.adding(failing_functions(self._failed))

    def preprocess_cell(self, cell, resources, index):
        plan = cell.metadata.pop(PLAN, None)
        if plan is None:
            return cell, resources
        cell.source = plan["source"]
        assignment = assignment_of(plan["module"])
        facts = [o.data[MIME] for o in cell.outputs
                 if o.get("output_type") in ("display_data", "execute_result") and MIME in o.get("data", {})]
        facts = [f for f in facts if isinstance(f, dict) and f.get("nonce") == plan["nonce"]]
        problems = []
        if len(facts) == 1:
            result = assignment.judge_facts(plan["name"], plan["seed"], facts[0])
        else:
            result = Result(function=assignment.label(plan["name"]), points=0.0,
                            possible=assignment.points(plan["name"]), remarks=(plain(_missing_facts_message(cell)),))
            # what stopped the cell stays visible (timeout, dead kernel…); it also makes the score 0
            problems = [_error_output(o.get("ename", "Erreur"), o.get("evalue", ""))
                        for o in cell.outputs if o.get("output_type") == "error"][-1:]
        result = self._with_failed_exercises(assignment, plan["name"], result)
        shown = new_output("display_data", data={verdict.MIME: result.to_json(), "text/plain": result.report()})
        cell.outputs = [shown, *problems,
                        new_output("execute_result", data={"text/plain": repr(float(result.points))},
                                   execution_count=cell.get("execution_count"))]
        return cell, resources


# ------------------------------------------------------------------ into the gradebook


class SaveAutoGradesAtOnce(SaveAutoGrades):
    """nbgrader's SaveAutoGrades with one transaction for the whole copy instead of one per cell.

    A grading stopped while a copy's grades are written (SIGTERM, SIGKILL, a lost worker) then
    leaves all of that copy's earlier grades or all of the new ones, never some of each.
    nbgrader's per-cell methods still call `commit()` on the gradebook's session; that session
    is joined to a transaction of ours (SQLAlchemy's "joining a session into an external
    transaction"), so their commits only flush, and the copy's grades commit when ours does.
    """

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        self.notebook_id, self.assignment_id = info["notebook"], info["assignment"]
        self.student_id, self.db_url = info["student"], info["db_url"]
        self.gradebook = Gradebook(self.db_url)
        with self.gradebook, self.gradebook.engine.connect() as connection:
            with connection.begin():  # commits on the way out; an exception rolls the whole copy back
                self._join(connection)
                nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
                self.gradebook.db.flush()  # what the session holds goes into our transaction before it commits
        return nb, resources

    def _join(self, connection) -> None:
        """The gradebook's session from now on works in `connection`'s transaction, which it never commits."""
        self.gradebook.db.remove()  # the session Gradebook() opened: configure() reaches only new ones
        self.gradebook.db.configure(bind=connection, join_transaction_mode="rollback_only")
