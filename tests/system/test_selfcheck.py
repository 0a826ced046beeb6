"""The students' self-check (`autograder.selfcheck`): the grader's diagnosis in the student's kernel,
from the student kit (`autograder.student_kit`), which holds the checks and no solution."""

import inspect
import os
import subprocess
import sys
import textwrap

from autograder import selfcheck, student_kit
from autograder.verdict import Result, plain
from autograder.release import shared_cells
from conftest import REPO, TPS, assignment

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
    planted = tmp_path / "site-packages" / "autograder" / "tp09"
    planted.mkdir(parents=True)
    (planted / "reference.py").write_text("")
    (planted / "notes.py").write_text(inspect.getsource(assignment("tp10").reference))
    found = student_kit.leaks(tmp_path)
    assert str(planted / "reference.py") in found
    assert any("the reference's tp10.backward_pass" in f for f in found), found


def test_the_student_kit_runs_the_checks_where_no_reference_exists(kit, tmp_path):
    script = textwrap.dedent("""
        import importlib.util, json, autograder
        from autograder import selfcheck, student_kit
        from autograder.tp09.checks import ASSIGNMENT
        namespace = {}
        exec("import torch\\ndef dloss(v, t):\\n    return v - t\\n"
             "def sigma(x):\\n    return torch.tanh(x)", namespace)
        print(json.dumps({
            "package": autograder.__path__,
            "reference": [importlib.util.find_spec(f"autograder.{tp}.reference") is not None for tp in ("tp09", "tp10")],
            "sigma": selfcheck.check(ASSIGNMENT, "sigma", namespace).report(),
            "dloss": selfcheck.check(ASSIGNMENT, "dloss", namespace).report(),
        }))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(kit)})
    assert done.returncode == 0, done.stderr
    import json
    found = json.loads(done.stdout)
    assert found["package"] == [str(kit / "autograder")] and found["reference"] == [False, False]
    assert found["sigma"].startswith("✅ sigma : 1 / 1") and "il manque le facteur 2" in found["dloss"]
    assert str(REPO) not in done.stdout


def test_without_the_kit_the_notebook_still_runs_and_says_its_checks_are_unavailable(without_grader):
    outils = shared_cells(REPO / "source", "tp09")["outils"]
    script = outils + '\nverifier("sigma")\n'
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=without_grader,
                          env={**os.environ})
    assert done.returncode == 0, done.stderr
    assert "ne sont pas installées" in done.stdout and "sigma : vérification indisponible" in done.stdout
