"""What a sandboxed kernel and the student kit get of the package, worked out from imports (`autograder.package`)."""

from pathlib import Path

from autograder import package


def test_a_kernel_gets_only_what_runs_there():
    assert [str(p) for p in package.kernel_files()] == ["__init__.py", "codec.py", "probe.py", "zygote.py"]


def test_the_student_kit_gets_the_checks_and_what_they_import_never_a_reference_or_the_grader():
    files = {str(p) for p in package.student_files()}
    assert {"selfcheck.py", "judge.py", "verdict.py", "tp09/checks.py", "tp11/given.py"} <= files
    assert not {f for f in files if f.endswith("reference.py")}
    assert not files & {"bubblewrap.py", "preflight.py", "provisioner.py", "kernelspecs.py", "warm.py", "zygote.py", "grading.py", "release.py", "nbgrader_ext.py", "demo.py"}


def test_a_module_imported_anywhere_is_carried_along(tmp_path: Path):
    root = tmp_path / "autograder"
    (root / "tp01").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "probe.py").write_text("def f():\n    from autograder.codec import encode\n")
    (root / "codec.py").write_text("import autograder.limits\n")
    (root / "limits.py").write_text("")
    (root / "zygote.py").write_text("import os\n")
    (root / "selfcheck.py").write_text("from autograder import probe\n")
    (root / "tp01" / "__init__.py").write_text("")
    (root / "tp01" / "checks.py").write_text("from autograder.tp01 import given\n")
    (root / "tp01" / "given.py").write_text("")
    (root / "tp01" / "reference.py").write_text("")
    assert [str(p) for p in package.kernel_files(root)] == ["__init__.py", "codec.py", "limits.py", "probe.py",
                                                            "zygote.py"]
    assert "tp01/reference.py" not in {str(p) for p in package.student_files(root)}
    (root / "tp01" / "checks.py").write_text("from autograder.tp01 import given, reference\n")
    assert "tp01/reference.py" in {str(p) for p in package.student_files(root)}  # and student_kit.files refuses it
