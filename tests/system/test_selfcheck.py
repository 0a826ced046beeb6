"""The students' self-check (`autograder.selfcheck`): the grader's diagnosis in the student's kernel,
from the student kit (`autograder.student_kit`), which holds the checks and no solution."""

import inspect
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from autograder import selfcheck, student_kit
from autograder.verdict import Result, plain
from autograder.release import shared_cells
from conftest import REPO, TPS, assignment
from synthetic_tp import TP

# ---------------------------------------------------------------- in this process


def test_a_failing_check_is_a_few_french_lines_and_no_traceback():
    result = Result(function="backward_pass", points=0.0, possible=3, remarks=tuple(plain(f"problème {i}") for i in range(9)))
    lines = selfcheck.short_report(result)
    assert len(lines) == selfcheck.MAX_LINES and lines[0].startswith("❌ backward_pass")
    assert "6 autre(s) remarque(s)" in lines[-1]
    assert selfcheck.VerificationRatee(lines)._render_traceback_() == lines


# ---------------------------------------------------------------- the student kit


def test_the_student_kit_holds_the_checks_of_every_tp_and_no_solution(kit):
    files = sorted(p.relative_to(kit).as_posix() for p in kit.rglob("*") if p.is_file())
    for tp in TPS:
        assert f"autograder/{tp}/checks.py" in files
    assert not [f for f in files if f.endswith(".ipynb") or "sandbox" in f or "release" in f]
    assert student_kit.leaks(kit) == []


def test_the_leak_detector_finds_a_reference_copied_anywhere(tmp_path):
    """Of a course TP's reference (the detector knows the course's TPs), planted in a file of another name."""
    tp = TPS[0]
    planted = tmp_path / "site-packages" / "autograder" / "tp00"
    planted.mkdir(parents=True)
    (planted / "reference.py").write_text("")
    (planted / "notes.py").write_text(inspect.getsource(assignment(tp).reference))
    found = student_kit.leaks(tmp_path)
    assert str(planted / "reference.py") in found
    assert any(f"the reference's {tp}.{assignment(tp).exercises[-1]}" in f for f in found), found


@pytest.fixture(scope="module")
def kit_with_tp00(synthetic_root, tmp_path_factory):
    """The student kit of a package holding TP 0 beside the course's TPs (a copy of the package, TP 0 added)."""
    package = tmp_path_factory.mktemp("package") / "autograder"
    shutil.copytree(REPO / "autograder", package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(synthetic_root.package, package / TP, ignore=shutil.ignore_patterns("__pycache__"))
    return student_kit.build(tmp_path_factory.mktemp("kit") / "autograder-checks", package=package)


def test_the_student_kit_runs_the_checks_where_no_reference_exists(kit_with_tp00, tmp_path):
    kit = kit_with_tp00
    script = textwrap.dedent("""
        import importlib.util, json, pathlib, autograder
        from autograder import selfcheck, student_kit
        from autograder.tp00.checks import ASSIGNMENT
        namespace = {}
        exec("import torch\\ndef dloss(v, t):\\n    return v - t\\n"
             "def sigma(x):\\n    return torch.tanh(x)", namespace)
        print(json.dumps({
            "package": autograder.__path__,
            "reference": {tp.name: importlib.util.find_spec(f"autograder.{tp.name}.reference") is not None
                          for tp in pathlib.Path(autograder.__path__[0]).glob("tp*")},
            "sigma": selfcheck.check(ASSIGNMENT, "sigma", namespace).report(),
            "dloss": selfcheck.check(ASSIGNMENT, "dloss", namespace).report(),
        }))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(kit)})
    assert done.returncode == 0, done.stderr
    import json
    found = json.loads(done.stdout)
    assert found["package"] == [str(kit / "autograder")]
    assert found["reference"] == {tp: False for tp in [*TPS, TP]}  # every TP's checks, no reference
    assert found["sigma"].startswith("✅ sigma : 1 / 1") and "il manque le facteur 2" in found["dloss"]
    assert str(REPO) not in done.stdout


def test_without_the_kit_the_notebook_still_runs_and_says_its_checks_are_unavailable(without_grader):
    outils = shared_cells(REPO / "source", TP)["outils"]
    script = outils + '\nverifier("sigma")\n'
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=without_grader,
                          env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert "ne sont pas installées" in done.stdout and "sigma : vérification indisponible" in done.stdout
