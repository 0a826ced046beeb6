"""The students' self-check (`autograder.selfcheck`): the grader's diagnosis in the student's kernel,
from the student kit (`autograder.student_kit`), which holds the checks and no solution."""

import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap

import nbformat
import pytest

from autograder import selfcheck, student_kit
from autograder.specs import VariablesSpec
from autograder.verdict import Result, plain
from autograder.release import shared_cells
from autograder.submissions import fill, solutions
from conftest import (REPO, TPS, assignment, release_path, run_notebook, source_path, student_namespace,
                      tp_params)

TRACEBACK = re.compile(r"Traceback|File \"|\bline \d+|-{10,}")


def catalogue(tp):
    return importlib.import_module(f"{tp}_catalogue")


def _exercise_names(tp):
    return [n for n, s in assignment(tp).specs.items() if not isinstance(s, VariablesSpec)]


# ---------------------------------------------------------------- in this process


@pytest.mark.parametrize("tp", tp_params())
def test_the_reference_passes_its_self_checks_on_fresh_inputs(tp):
    namespace = student_namespace(tp)
    for name in _exercise_names(tp):
        assert selfcheck.check(assignment(tp), name, namespace).complete, name


@pytest.mark.parametrize("tp", tp_params())
def test_a_function_whose_helper_fails_is_told_to_fix_the_helper_first(tp):
    graded = assignment(tp)
    for name in _exercise_names(tp):
        used = graded.callees(name)
        if not used:
            continue
        broken = student_namespace(tp, f"def {used[0]}(*args, **kwargs):\n    raise NotImplementedError()")
        result = selfcheck.check(graded, name, broken)
        assert not result.complete and result.points == 0
        assert result.messages == [f"`{name}` utilise votre `{used[0]}`, qui ne passe pas sa vérification : "
                                   "corrigez-la d'abord."]
        assert graded.check(name, broken).passed  # the grader itself stands the reference in


def test_a_failing_check_is_a_few_french_lines_and_no_traceback():
    result = Result(function="backward_pass", points=0.0, possible=3, remarks=tuple(plain(f"problème {i}") for i in range(9)))
    lines = selfcheck.short_report(result)
    assert len(lines) == selfcheck.MAX_LINES and lines[0].startswith("❌ backward_pass")
    assert "6 autre(s) remarque(s)" in lines[-1]
    assert selfcheck.VerificationRatee(lines)._render_traceback_() == lines


# ---------------------------------------------------------------- a student's notebook, in a real kernel


def _trial_notebook(tp, mistakes):
    """The release notebook as a student fills it: every answer right but these mistakes."""
    answers = {**solutions(nbformat.read(source_path(tp), as_version=4)),
               **{name: source for name, source, _ in mistakes}}
    return fill(nbformat.read(release_path(tp), as_version=4), answers)


def _shown(cell):
    """What a student reads under a cell: its text outputs and rendered errors."""
    text = []
    for output in cell.outputs:
        if output.output_type == "stream":
            text.append(output.text)
        elif output.output_type == "error":
            text.append("\n".join(output.traceback))
        elif "text/plain" in output.get("data", {}):
            text.append(output.data["text/plain"])
    return "\n".join(text).strip("\n")


def _verified(cell):
    match = re.match(r'verifier\("(\w+)"\)', cell.source)
    return match.group(1) if match else None


def _read_checks(tp, nb, mistakes, training):
    """Every check cell of a run: what it shows is as it should be; returns the masked mistakes."""
    graded, wrong = assignment(tp), {name: fragment for name, _, fragment in mistakes}
    seen, masked = set(), []
    for cell in nb.cells:
        name = _verified(cell) if cell.cell_type == "code" else None
        if name is None:
            continue
        seen.add(name)
        shown, failed = _shown(cell), any(o.output_type == "error" for o in cell.outputs)
        assert len(shown.splitlines()) <= selfcheck.MAX_LINES and not TRACEBACK.search(shown), shown
        if isinstance(graded.specs[name], VariablesSpec):
            assert failed and training in shown, shown
        elif set(graded.callees(name)) & set(wrong):  # said once, where it is: « fix the other one first »
            assert failed and f"`{name}` utilise votre `" in shown, shown
            masked += [m for m in mistakes if m[0] == name]
        elif name in wrong:
            assert failed and shown.startswith(f"❌ {name} :") and wrong[name] in shown, shown
        else:
            assert not failed and shown.startswith(f"✅ {name} :"), shown
    assert seen == set(graded.specs)
    return masked


@pytest.mark.slow
@pytest.mark.parametrize("tp", tp_params())
def test_a_student_with_three_typical_mistakes_reads_each_diagnosis_once(tp, student_env):
    """Run in a student's environment (the kit, no reference): each mistake gets the grader's
    French diagnosis in a few lines; a function that uses a wrong one says so instead, and once
    the student has fixed what it named, its own mistake is diagnosed."""
    mistakes = catalogue(tp).TRIAL
    nb = run_notebook(_trial_notebook(tp, mistakes), student_env, allow_errors=True)
    masked = _read_checks(tp, nb, mistakes, catalogue(tp).TRIAL_TRAINING)
    crash = getattr(catalogue(tp), "TRIAL_CRASH", None)
    if crash:  # the training cell itself names the function that raised, before its traceback
        training = next(c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "training")
        assert crash in "".join(o.get("text", "") for o in training.outputs if o.output_type == "stream")
    if masked:
        failing = "fonctions qui ne passent pas leur vérification : " + ", ".join(f"`{m[0]}`" for m in masked)
        _read_checks(tp, run_notebook(_trial_notebook(tp, masked), student_env, allow_errors=True), masked, failing)


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
