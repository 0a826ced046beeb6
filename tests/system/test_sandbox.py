"""The sandbox of grading kernels, seen from inside a real kernel, from nbgrader validate, and where it cannot start."""

import json
import socket
import subprocess
import sys

import nbformat
import pytest
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from nbgrader.api import Gradebook

from autograder import bubblewrap, preflight
from autograder.grading import db_url
from autograder.demo import hand_in
from autograder.provisioner import PROVISIONER_NAME
from autograder.release import environment
from conftest import REPO
from synthetic_tp import TP

pytestmark = pytest.mark.slow

INSIDE = """
import json, os, resource, socket
facts = {"uid": os.getuid(), "hostname": socket.gethostname(), "files": sorted(os.listdir(".")),
         "root": sorted(os.listdir("/")), "repo": sorted(os.listdir(REPO)),
         "package": sorted(os.listdir(os.path.join(REPO, "autograder"))), "env": sorted(os.environ),
         "memory": resource.getrlimit(resource.RLIMIT_DATA)[0], "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0]}
def attempt(action):
    try:
        action()
        return "ok"
    except Exception as error:
        return type(error).__name__
facts["write_here"] = attempt(lambda: open("mine.txt", "w").write("x"))
facts["write_tmp"] = attempt(lambda: open("/tmp/mine.txt", "w").write("x"))
facts["write_usr"] = attempt(lambda: open("/usr/mine.txt", "w").write("x"))
facts["connect"] = attempt(lambda: socket.create_connection(("127.0.0.1", PORT), timeout=2))
print(json.dumps(facts))
"""


def run_inside(folder, port):
    source = INSIDE.replace("REPO", repr(str(REPO))).replace("PORT", str(port))
    nb = new_notebook(cells=[new_code_cell(source)])
    NotebookClient(nb, timeout=60, kernel_name=PROVISIONER_NAME,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return json.loads(nb.cells[0].outputs[0].text)


@pytest.fixture()
def listener():
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.1)
    yield server
    server.close()


def test_a_grading_kernel_sees_only_its_own_folder(tmp_path, listener, monkeypatch):
    (tmp_path / "copie.ipynb").write_text("{}")
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "secret")
    facts = run_inside(tmp_path, listener.getsockname()[1])
    assert facts["hostname"] == "bac-a-sable"
    assert facts["files"] == ["copie.ipynb"]                       # a copy of its submission folder
    assert facts["repo"] == [".venv", "autograder"]                # no source/, release/, tests/, course
    assert facts["package"] == sorted(bubblewrap.KERNEL_MODULES)      # no reference, no checks
    assert "INSTRUCTOR_TOKEN" not in facts["env"]
    assert (facts["write_here"], facts["write_tmp"]) == ("ok", "ok") and facts["write_usr"] != "ok"
    assert facts["connect"] != "ok"
    with pytest.raises(TimeoutError):
        listener.accept()
    assert facts["memory"] == bubblewrap.Limits().memory and facts["nproc"] == bubblewrap.Limits().processes
    if bubblewrap.running_as_root():
        assert facts["uid"] == bubblewrap.SANDBOX_UID_BASE
    assert not (tmp_path / "mine.txt").exists()  # the submission folder itself is never written


def test_the_grader_talks_to_the_kernel_over_ipc():
    km = KernelManager(kernel_name=PROVISIONER_NAME)
    km.start_kernel()
    try:
        client = km.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        assert km.get_connection_info()["transport"] == "ipc"
        client.stop_channels()
    finally:
        km.shutdown_kernel(now=True)


VALIDATE = "import socket\nassert socket.gethostname() == 'bac-a-sable', 'pas dans le bac à sable'"


def test_nbgrader_validate_runs_the_notebook_in_the_sandbox(tmp_path):
    def validate(folder, config: bool):
        folder.mkdir()
        if config:
            (folder / "nbgrader_config.py").write_text((REPO / "nbgrader_config.py").read_text())
        test_cell = new_code_cell(VALIDATE, metadata={"nbgrader": {
            "grade": True, "solution": False, "locked": True, "grade_id": "test_bac", "points": 1, "schema_version": 3}})
        nbformat.write(new_notebook(cells=[test_cell], metadata={"kernelspec": {
            "name": "python3", "display_name": "Python 3", "language": "python"}}), folder / "copie.ipynb")
        return subprocess.run([sys.executable, "-m", "nbgrader", "validate", "copie.ipynb"], cwd=folder,
                              env=environment(), capture_output=True, text=True).stdout
    assert "Success" in validate(tmp_path / "course", config=True)
    assert "pas dans le bac à sable" in validate(tmp_path / "elsewhere", config=False)  # the check can fail


@pytest.fixture(scope="module")
def small_class(synthetic, tmp_path_factory):
    course = synthetic.released_course(tmp_path_factory.mktemp("unsafe") / "course")
    hand_in(course, TP, {"ref": {}})
    return course


def _without_bwrap():
    return {**environment(), bubblewrap.BWRAP_VARIABLE: "/nonexistent/bwrap"}


def test_without_a_sandbox_grading_refuses_and_says_what_to_do(small_class):
    graded = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", TP, "--course", str(small_class)],
                            env=_without_bwrap(), capture_output=True, text=True)
    assert graded.returncode != 0
    assert "refus de corriger sans bac à sable" in graded.stderr and "--unsafe" in graded.stderr
    plain = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", TP, "--force"], cwd=small_class,
                           env=_without_bwrap(), capture_output=True, text=True)
    assert "refus d'exécuter le code des étudiants sans bac à sable" in plain.stdout + plain.stderr
    assert not list((small_class / "autograded").rglob("*.ipynb"))  # no copy graded without isolation


def test_unsafe_grades_without_a_sandbox_when_asked_to(synthetic, small_class):
    graded = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", TP, "--course", str(small_class),
                             "--unsafe", "--force"], env=_without_bwrap(), capture_output=True, text=True)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    with Gradebook(db_url(small_class)) as gb:
        assert gb.find_submission(TP, "ref").score == synthetic.full_marks()


def test_a_seccomp_profile_that_refuses_pivot_root_is_named_as_the_cause_to_fix():
    container = preflight.how_to_fix("bubblewrap failed: bwrap: pivot_root: Operation not permitted")
    assert preflight.SECCOMP_PROFILE in container and "--unsafe" not in container
    assert (REPO / preflight.SECCOMP_PROFILE).is_file()
    assert "apt-get install bubblewrap" in preflight.how_to_fix("bubblewrap (bwrap) is not installed")
