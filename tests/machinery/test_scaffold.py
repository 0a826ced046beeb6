"""`autograder new-tp`: the files of a new TP, which pass the contract as they are, released by `make release`."""

import subprocess
import sys

import pytest

from autograder import scaffold
from autograder.release import environment
from conftest import REPO

pytestmark = pytest.mark.slow


def repository_copy(root):
    """The repository's files as a fresh clone has them (tracked, and new ones not ignored), in `root`."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes((REPO / name).read_bytes())
    return root


def run(args, root):
    done = subprocess.run([sys.executable, *args], cwd=root, env={**environment(), "PYTHONPATH": str(root)},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_a_new_tp_passes_the_contract_once_released(tmp_path):
    root = repository_copy(tmp_path)
    out = run(["-m", "autograder.cli", "new-tp", "tp99"], root)
    assert "source/tp99/tp99.ipynb" in out and "tests/tp99/tp99_catalogue.py" in out
    run(["-m", "autograder.release", "tp99"], root)
    # the contract's checks that need no kernel; the new TP's grading end to end: tests/machinery/test_new_tp.py
    out = run(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/contract", "-m", "tp99 and not slow"], root)
    assert " passed" in out and "failed" not in out and "error" not in out, out


def test_a_new_tp_is_refused_a_bad_name_or_an_existing_tp(tmp_path):
    with pytest.raises(SystemExit, match="tpNN"):
        scaffold.new_tp(tmp_path, "convolutions")
    scaffold.new_tp(tmp_path, "tp99")
    before = (tmp_path / "autograder" / "tp99" / "checks.py").read_text()
    with pytest.raises(SystemExit, match="nothing written"):
        scaffold.new_tp(tmp_path, "tp99")
    assert (tmp_path / "autograder" / "tp99" / "checks.py").read_text() == before
