"""deploy/classroom_kernel.py, the students' kernel on the one-machine classroom, started as the server starts it.

Whether the machine then shares the pages of two students' kernels is tested on the real hub
(tests/classroom/test_classroom_session.py).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

REPO = Path(__file__).resolve().parents[2]
ADDR_NO_RANDOMIZE = 0x0040000

# what a cell tells of the kernel it runs in
INSPECT = """\
import gc, os, sys
print(gc.get_freeze_count() > 0, 'torch' in sys.modules, sys.flags.hash_randomization, os.getcwd(),
      os.environ['HOME'], os.environ.get('ETUDIANT'), flush=True)
import matplotlib.pyplot as plt
plt.plot([1, 2]); plt.show()
"""

@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A kernel started by the launcher, as the student's server starts it, in a folder holding a torch.py."""
    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        f'{{"argv": ["{sys.executable}", "-m", "classroom_kernel", "-f", "{{connection_file}}"], '
        '"display_name": "Python 3", "language": "python"}')
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    (notebooks / "torch.py").write_text("raise SystemExit('the folder shadowed torch')\\n")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(REPO / "deploy"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ETUDIANT", "ines")  # one of the variables a student's server has of its own
    monkeypatch.chdir(notebooks)
    started = []

    def start(share: bool, manager_too: bool = False):
        monkeypatch.setenv("CLASSROOM_SHARE_MEMORY", "1" if share else "0")
        manager, client = start_new_kernel(kernel_name="python3", startup_timeout=120)
        started.append(manager)
        return (manager, client) if manager_too else (manager.provisioner.process.pid, client)

    yield start
    for manager in started:
        manager.shutdown_kernel(now=True)


def run(client, code: str) -> tuple[list[str], list[dict]]:
    texts, displays = [], []

    def keep(message):
        if message["msg_type"] == "stream":
            texts.append(message["content"]["text"])
        elif message["msg_type"] == "display_data":
            displays.append(message["content"]["data"])

    reply = client.execute_interactive(code, timeout=120, output_hook=keep)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(texts).split(), displays


def outputs(client, code: str) -> tuple[str, str, str]:
    """(status, stdout, stderr) of running `code`."""
    streams = {"stdout": [], "stderr": []}

    def keep(message):
        if message["msg_type"] == "stream":
            streams[message["content"]["name"]].append(message["content"]["text"])

    reply = client.execute_interactive(code, timeout=120, output_hook=keep)
    return reply["content"]["status"], "".join(streams["stdout"]), "".join(streams["stderr"])


def ksm_stat(pid: int) -> dict[str, str]:
    lines = Path(f"/proc/{pid}/ksm_stat").read_text().splitlines()  # "name: value" or "name value"
    return dict(line.replace(":", "").split(maxsplit=1) for line in lines)


def test_a_shared_kernel_has_the_same_layout_as_every_other_and_the_libraries_loaded(kernel, tmp_path):
    notebooks = tmp_path / "notebooks"
    pid, client = kernel(share=True)
    assert int(Path(f"/proc/{pid}/personality").read_text(), 16) & ADDR_NO_RANDOMIZE
    assert ksm_stat(pid)["ksm_merge_any"] == "yes"
    words, displays = run(client, INSPECT)
    # libraries preloaded and frozen, hash seed fixed; the student's folder and environment back
    assert words == ["True", "True", "0", str(notebooks), str(notebooks.parent), "ines"]
    assert "image/png" in displays[0], "the figure is not shown inline"
    # preloaded before the notebook's folder was on the path: the torch.py lying there does not replace it
    assert run(client, "import torch; print(torch.__file__)")[0][0].endswith("site-packages/torch/__init__.py")


def test_without_sharing_it_is_ipykernel_as_usual(kernel, tmp_path):
    notebooks = tmp_path / "notebooks"
    pid, client = kernel(share=False)
    assert not int(Path(f"/proc/{pid}/personality").read_text(), 16) & ADDR_NO_RANDOMIZE
    assert ksm_stat(pid)["ksm_merge_any"] == "no"
    words, displays = run(client, INSPECT)
    assert words == ["False", "False", "1", str(notebooks), str(notebooks.parent), "ines"]
    assert "image/png" in displays[0]


def test_an_allocation_beyond_the_kernels_memory_fails_in_the_cell_in_french_and_the_kernel_lives_on(
        kernel, monkeypatch):
    monkeypatch.setenv("CLASSROOM_KERNEL_MEMORY", str(1 << 30))
    _, client = kernel(share=True)
    assert outputs(client, "x = 42")[0] == "ok"
    for too_much in ("import numpy; a = numpy.ones(1 << 28)",  # 2 GiB at once
                     "import torch; t = torch.empty(1 << 31, dtype=torch.uint8)",
                     "blocs = []\nwhile True: blocs.append(bytearray(1 << 24))"):  # 16 MiB at a time, written
        status, _, errors = outputs(client, too_much)
        assert status == "error" and "Mémoire insuffisante" in errors and "(1 Gio)" in errors, errors
    assert outputs(client, "print(x, len(blocs) > 20)")[:2] == ("ok", "42 True\n")
    status, _, errors = outputs(client, "raise RuntimeError('autre chose')")
    assert status == "error" and "Mémoire" not in errors


def test_a_kernel_killed_for_memory_says_so_once_restarted_and_only_then(kernel, monkeypatch, tmp_path):
    cgroup = tmp_path / "cgroup"  # the files of a cgroup v2 memory controller
    cgroup.mkdir()
    (cgroup / "memory.max").write_text(f"{2 << 30}\n")
    events = cgroup / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 3\noom 0\noom_kill 0\n")
    monkeypatch.setenv("CLASSROOM_CGROUP", str(cgroup))
    manager, client = kernel(share=False, manager_too=True)
    assert outputs(client, "x = 1")[2] == ""

    def restarted(**how):
        manager.restart_kernel(**how)
        client.wait_for_ready(timeout=120)
        return [outputs(client, "x = 1")[2] for _ in range(2)]

    events.write_text("low 0\nhigh 0\nmax 3\noom 0\noom_kill 1\n")
    os.kill(manager.provisioner.process.pid, signal.SIGKILL)  # as the OOM killer does
    first, second = restarted(now=True)
    assert "Votre noyau a été arrêté puis relancé" in first and "(2 Gio)" in first, first
    assert second == ""  # once
    events.write_text("low 0\nhigh 0\nmax 3\noom 0\noom_kill 2\n")  # another notebook's kernel, say
    assert restarted(now=False) == ["", ""]  # this one was restarted by its student: it exited on its own
    os.kill(manager.provisioner.process.pid, signal.SIGKILL)  # killed, but not for memory
    assert restarted(now=True) == ["", ""]
