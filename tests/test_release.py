"""source/ → make release → release/: one source of truth, nothing secret handed out."""

import importlib
import re
import shutil
import tomllib
from pathlib import Path

import nbformat
import yaml

from autograder.release import release, solution_cell_source
from autograder.tp09 import reference
from conftest import REPO, RELEASE_NB, SOURCE_NB


def test_release_regenerates_the_committed_files_byte_for_byte(tmp_path):
    (tmp_path / "source").mkdir()
    shutil.copytree(REPO / "source" / "tp09", tmp_path / "source" / "tp09")
    shutil.copy(REPO / "nbgrader_config.py", tmp_path)
    release(tmp_path, "tp09")
    for committed in (SOURCE_NB, RELEASE_NB):
        fresh = tmp_path / committed.relative_to(REPO)
        assert fresh.read_bytes() == committed.read_bytes(), f"{committed} is stale: run `make release`"


def test_source_solution_cells_are_the_reference_functions(source_nb):
    cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in source_nb.cells}
    for name in ("sigma", "dsigma", "loss", "dloss", "forward_step", "forward_pass", "backward_step", "backward_pass"):
        assert cells[name] == solution_cell_source(getattr(reference, name))


def test_a_changed_reference_rewrites_the_solution_cell(tmp_path, monkeypatch):
    from autograder.release import grade_id, sync_notebook
    copy = tmp_path / "nb.ipynb"
    shutil.copy(SOURCE_NB, copy)
    assert not sync_notebook(copy, reference)
    changed = tmp_path / "changed_reference.py"
    changed.write_text(Path(reference.__file__).read_text().replace("return torch.tanh(x)\n", "return x.tanh()\n"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sync_notebook(copy, importlib.import_module("changed_reference"))
    cells = {grade_id(c): c.source for c in nbformat.read(copy, as_version=4).cells}
    assert cells["sigma"].endswith("    ### BEGIN SOLUTION\n    return x.tanh()\n    ### END SOLUTION")


def test_committed_notebooks_have_no_outputs(source_nb, release_nb):
    for nb in (source_nb, release_nb):
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")


def test_release_holds_no_solution_no_hidden_test_and_no_grader(release_nb):
    text = RELEASE_NB.read_text()
    for secret in ("BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "autograder", "return torch.tanh(x)"):
        assert secret not in text
    stubs = [c.source for c in release_nb.cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert all("# VOTRE CODE ICI" in s or "VOTRE RÉPONSE ICI" in s for s in stubs)


def test_every_exercise_and_the_training_have_a_graded_test_cell(source_nb):
    tests = {c.metadata.nbgrader.grade_id: c for c in source_nb.cells
             if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    assert set(tests) == {f"test_{n}" for n in ("sigma", "dsigma", "loss", "dloss", "forward_step", "forward_pass",
                                                 "backward_step", "backward_pass", "training")}
    for grade_id, cell in tests.items():
        assert cell.metadata.nbgrader.points > 0 and cell.metadata.nbgrader.locked
        assert re.search(r'### BEGIN HIDDEN TESTS\n.*\ngrade\("\w+", globals\(\)\)\n### END HIDDEN TESTS', cell.source)


def _names(requirements):
    aliases = {"pytorch": "torch"}
    names = {aliases.get(n, n) for n in (re.split(r"[<>=!~ ]", r, maxsplit=1)[0].strip().lower() for r in requirements)}
    return names - {"python", "cpuonly"}


def test_environment_yml_names_the_runtime_dependencies_of_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = [d for d in environment["dependencies"] if isinstance(d, str)]
    assert _names(conda) == _names(project["dependencies"])
    assert "python=3.11" in conda
