"""Warm kernels are forks of a zygote: already warm, yet each one starts clean and alone."""

import json

import nbformat
import pytest
from jupyter_client.provisioning.factory import KernelProvisionerFactory
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from autograder.warm import PROVISIONER_NAME, Zygote

pytestmark = pytest.mark.slow

PROBE = """
import json, os, random, sys
warm = "torch" in sys.modules
import numpy, torch
state = {"warm": warm, "leak": hasattr(torch, "leak"), "env": "LEAK" in os.environ,
         "random": random.random(), "numpy": float(numpy.random.rand()), "threads": torch.get_num_threads(),
         "pid": os.getpid(), "files": os.listdir(".")}
torch.leak = 1
os.environ["LEAK"] = "1"
print(json.dumps(state))
"""


def probe(tmp_path):
    nb = new_notebook(cells=[new_code_cell(PROBE)])
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    return json.loads(nb.cells[0].outputs[0].text)


@pytest.fixture()
def warm_kernels(monkeypatch):
    monkeypatch.setattr(KernelProvisionerFactory.instance(), "default_provisioner_name", PROVISIONER_NAME)
    yield Zygote.current()
    Zygote.current().close()


def test_each_warm_kernel_is_a_fresh_fork(warm_kernels, tmp_path):
    (tmp_path / "donnees.csv").write_text("1,2\n")
    first, second = probe(tmp_path), probe(tmp_path)
    assert first["warm"] and second["warm"]  # torch was imported before the notebook ran
    assert not second["leak"] and not second["env"]  # nothing the first submission did is visible
    assert first["random"] != second["random"] and first["numpy"] != second["numpy"]  # reseeded
    assert first["threads"] == second["threads"] == 1
    assert first["pid"] != second["pid"]
    assert first["files"] == second["files"] == ["donnees.csv"]  # each works in a copy of its submission folder


def test_a_killed_warm_kernel_is_seen_dead(warm_kernels, tmp_path):
    nb = new_notebook(cells=[new_code_cell("import os\nos._exit(3)"), new_code_cell("print('jamais')")])
    nbformat.validate(nb)
    from autograder.nbgrader_ext import ResilientExecute
    executed, _ = ResilientExecute(timeout=30).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    assert [o.ename for c in executed.cells for o in c.outputs] == ["KernelMort", "KernelMort"]
