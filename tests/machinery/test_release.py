"""`make release` as machinery: solution cells follow the reference, shared cells follow source/outils.py,
a folder without a reference is refused with what to do; and the conda environment follows pyproject."""

import re
import tomllib

import nbformat
import pytest
import yaml
from nbformat.v4 import new_code_cell, new_notebook

from autograder.release import grade_id, release, shared_cells, sync_notebook
from conftest import REPO


def _notebook(path, *cells):
    nbformat.write(new_notebook(cells=list(cells)), path)
    return path


def _cell(grade, source, solution=True):
    return new_code_cell(source, metadata={"nbgrader": {"grade_id": grade, "solution": solution, "grade": False,
                                                        "locked": not solution, "schema_version": 3}})


def test_solution_and_shared_cells_are_rewritten_and_the_rest_is_left_alone(tmp_path, monkeypatch):
    (tmp_path / "synthetic_release_ref.py").write_text(
        "import torch\n\n\ndef double(x):\n    r\"\"\"$2x$.\"\"\"\n    return 2 * x\n\n\n"
        "class Couche:\n    \"\"\"Une couche.\"\"\"\n\n    def __init__(self):\n        self.w = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    reference = importlib.import_module("synthetic_release_ref")
    path = _notebook(tmp_path / "nb.ipynb", _cell("double", "def double(x):\n    pass"), _cell("Couche", "class Couche:\n    pass"),
                     _cell("outils", "ancien", solution=False), _cell("libre", "x = 1"))
    assert sync_notebook(path, reference, {"outils": "def verifier():\n    pass"})
    cells = {grade_id(c): c.source for c in nbformat.read(path, as_version=4).cells}
    assert cells["double"].endswith("    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION")
    assert "### BEGIN SOLUTION\n    def __init__" in cells["Couche"]
    assert cells["outils"] == "def verifier():\n    pass" and cells["libre"] == "x = 1"
    assert not sync_notebook(path, reference, {"outils": "def verifier():\n    pass"})  # nothing left to change


def test_the_shared_helpers_come_from_one_file_and_name_their_tp():
    text = (REPO / "source" / "outils.py").read_text().rstrip("\n")
    assert "__TP__" in text
    assert shared_cells(REPO / "source", "tp42") == {"outils": text.replace("__TP__", "tp42")}


def test_a_tp_folder_without_a_reference_is_refused_with_what_to_do(tmp_path):
    (tmp_path / "source" / "tp98").mkdir(parents=True)
    _notebook(tmp_path / "source" / "tp98" / "tp98.ipynb", _cell("f", "def f():\n    pass"))
    with pytest.raises(SystemExit, match=r"autograder/tp98/__init__.py and autograder/tp98/reference.py"):
        release(tmp_path, "tp98")


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


