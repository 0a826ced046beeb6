"""What a lab session asks of the machine: students' servers and kernels that cannot take each other's
ports, a hub restart that loses nothing, idle servers stopped, and the cgroups of stopped servers removed.

Runs last (the file name): it restarts the hub and stops students' servers.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import subprocess
from pathlib import Path

import pytest

from playwright.sync_api import expect

from hubclient import code_notebook, logged_in, responds, shot, wait_for
from spawner import cgroup_folders

pytestmark = pytest.mark.slow

PORT_BASE = 20000  # deploy/spawner.py: ClassroomSpawner.port_base


def tcp_listeners() -> list[tuple[int, int, int]]:
    """(port, owner's uid, pid) of every listening TCP socket of the machine (`ss`; uid 0 is not shown)."""
    listeners = []
    for line in subprocess.run(["ss", "-Hltnpe"], capture_output=True, text=True, check=True).stdout.splitlines():
        port = int(line.split()[3].rsplit(":", 1)[1])
        owner, pid = re.search(r"\buid:(\d+)", line), re.search(r"\bpid=(\d+)", line)
        listeners.append((port, int(owner.group(1)) if owner else 0, int(pid.group(1)) if pid else 0))
    return listeners


def command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def runtime(student) -> Path:
    return Path(pwd.getpwnam(student.name).pw_dir) / ".local/share/jupyter/runtime"


def start_kernel(student) -> str:
    """A kernel started in the student's server; returns once it has bound its five channels."""
    kernel = student.call("POST", f"{student.server}/api/kernels", json={}).json()["id"]
    wait_for(lambda: len(list(runtime(student).glob(f"kernel-{kernel}*-ipc-*"))) == 5 or tcp_bound(student), 60,
             f"the kernel of {student.name} did not bind its channels")
    return kernel


def tcp_bound(student) -> bool:
    """Whether a process of the student listens on more TCP ports than its server's and a kernel's pipe."""
    uid = pwd.getpwnam(student.name).pw_uid
    return len([port for port, owner, _ in tcp_listeners() if owner == uid]) > 2


def test_students_servers_have_ports_of_their_own_and_kernels_unix_sockets(users, hub):
    """The ports that collided in a lab session of 60: a server's (the hub's random pick, bound later by
    the server) and a kernel's five channels (picked by the server, bound later by the kernel). What a
    student's processes may still listen on is ipykernel's output pipe, which the kernel binds itself to
    a free port, retrying on a taken one (`bind_to_random_port`): one per kernel, no race."""
    students = [users[name] for name in hub.students]
    for student in students:
        student.start_server()
        start_kernel(student)
    listeners = tcp_listeners()
    for student in students:
        uid = pwd.getpwnam(student.name).pw_uid
        held = {pid: sorted(p for p, owner, q in listeners if owner == uid and q == pid)
                for _, owner, pid in listeners if owner == uid}
        server = [pid for pid, ports in held.items() if "jupyterhub-singleuser" in command_line(pid)]
        kernels = {pid: ports for pid, ports in held.items() if "classroom_kernel" in command_line(pid)}
        assert len(server) == 1 and held[server[0]] == [PORT_BASE + uid], (student.name, held)
        assert set(held) == {*server, *kernels} and all(len(p) == 1 for p in kernels.values()), (student.name, held)
        connections = [json.loads(f.read_text()) for f in runtime(student).glob("kernel-*.json")]
        assert connections and all(c["transport"] == "ipc" for c in connections), connections
        assert all(c["ip"].startswith(str(runtime(student))) for c in connections), connections


def shared_mib(pid: int) -> float:
    """What of the process's memory the machine holds once for it and others (KSM's merged pages)."""
    lines = Path(f"/proc/{pid}/ksm_stat").read_text().splitlines()  # "name: value" or "name value"
    stat = dict(line.replace(":", "").split(maxsplit=1) for line in lines)
    return int(stat["ksm_merging_pages"]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_students_kernels_hold_the_libraries_once_for_the_class(users, hub):
    """Each student's kernel has imported torch, scikit-learn and matplotlib (~220 MiB) before it answers
    (deploy/classroom_kernel.py); the machine merges the pages they filled alike, which 60 students' kernels
    each holding their own copy did not fit in this machine's memory (docs/classroom.md). Two idle kernels
    share ~110 MiB each (what the kernel's own start writes to is not shared); kernels started as plain
    ipykernel share 8-18 MiB (pages of zeros, and the like)."""
    pids = []
    for student in (users[name] for name in hub.students):
        student.start_server()
        running = student.call("GET", f"{student.server}/api/kernels").json()
        pids += kernel_pids(student, running[0]["id"] if running else start_kernel(student))
    assert len(pids) >= 2, pids
    try:
        wait_for(lambda: all(shared_mib(pid) > 64 for pid in pids), 180, "")
    except AssertionError:
        raise AssertionError(f"students' kernels did not come to share 64 MiB each with the others: "
                             f"{[round(shared_mib(pid)) for pid in pids]} MiB, "
                             f"/sys/kernel/mm/ksm/run = {Path('/sys/kernel/mm/ksm/run').read_text().strip()}") from None


def kernel_pids(student, kernel: str) -> list[int]:
    """The processes listening on the kernel's unix sockets (its command line does not name it: a shared
    kernel's is the same for every student, see deploy/classroom_kernel.py)."""
    found = set()
    for line in subprocess.run(["ss", "-Hxlp"], capture_output=True, text=True, check=True).stdout.splitlines():
        if str(runtime(student) / f"kernel-{kernel}") in line:
            found.update(int(pid) for pid in re.findall(r"\bpid=(\d+)", line))
    return sorted(found)


def notebook(text: str) -> dict:
    cell = {"cell_type": "markdown", "metadata": {}, "source": text}
    return {"type": "notebook", "format": "json",
            "content": {"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}}


def test_a_hub_restart_leaves_students_servers_and_kernels_running(users, hub, hub_process):
    student = users[hub.students[0]]
    student.start_server()
    kernel = start_kernel(student)
    # listening: start_kernel may return before, once the student has kernels of earlier tests
    before = wait_for(lambda: kernel_pids(student, kernel), 120, f"the kernel {kernel} does not listen")
    student.call("PUT", f"{student.server}/api/contents/pendant-la-seance.ipynb", json=notebook("avant"))
    hub_process.stop()
    try:
        assert not responds(f"{hub.url}/hub/api/")
        assert kernel_pids(student, kernel) == before, "the kernel died with the hub"
    finally:
        hub_process.start()  # the tests after this one need a hub, whatever happened here
    wait_for(lambda: student.session.get(f"{hub.url}/hub/api/users/{student.name}").json()
             .get("servers", {}).get("", {}).get("ready"), 60, "the new hub did not find the server again")
    kernels = [k["id"] for k in student.call("GET", f"{student.server}/api/kernels").json()]
    assert kernel in kernels and kernel_pids(student, kernel) == before
    student.call("PUT", f"{student.server}/api/contents/pendant-la-seance.ipynb", json=notebook("après"))
    saved = student.call("GET", f"{student.server}/api/contents/pendant-la-seance.ipynb").json()
    assert saved["content"]["cells"][0]["source"] == "après"


def test_a_stopped_servers_cgroup_is_removed(users, hub):
    student = users[hub.students[-1]]
    student.start_server()
    folders = cgroup_folders(student.name)
    assert all(folder.is_dir() for folder in folders.values()), folders
    answer = student.session.delete(f"{hub.url}/hub/api/users/{student.name}/server")
    assert answer.status_code in (202, 204), answer.text
    wait_for(lambda: not student.session.get(f"{hub.url}/hub/api/users/{student.name}").json().get("servers"),
             60, f"the server of {student.name} did not stop")
    wait_for(lambda: not any(folder.exists() for folder in folders.values()), 30,
             f"cgroup folders left after the server stopped: {folders}")


def test_a_student_whose_server_starts_waits_on_a_french_page(browser, users, hub):
    name = hub.students[-1]
    assert not users[name].session.get(f"{hub.url}/hub/api/users/{name}").json().get("servers")  # stopped above
    page = logged_in(browser, hub, name)
    expect(page.get_by_text("Votre serveur démarre.")).to_be_visible(timeout=30_000)
    expect(page.locator("#progress-message")).to_have_text(re.compile("Démarrage de votre serveur|Server ready"))
    shot(page, "attente-demarrage")
    page.wait_for_url(re.compile(r"/user/[^/]+/lab"), timeout=180_000)


def test_an_idle_server_is_stopped_after_the_classrooms_timeout_its_notebook_saved(browser, users, hub, hub_process):
    """A student types in a notebook in JupyterLab and leaves without saving: JupyterLab's autosave (every 120 s,
    as shipped) writes the edit. Then the hub, restarted with a timeout of 20 s (3600 s as shipped, far above
    the autosave), has jupyterhub-idle-culler stop the idle server: the edit is on disk. (The last test of the
    classroom: every server is idle from then on.)"""
    student = users[hub.students[0]]
    student.start_server()
    student.call("PUT", f"{student.server}/api/contents/avant-la-pause.ipynb", json=code_notebook("x = 1"))
    page = logged_in(browser, hub, student.name)
    # ?reset: only this notebook open, not the ones earlier tests left in the student's workspace
    page.goto(f"{hub.url}/user/{student.name}/lab/tree/avant-la-pause.ipynb?reset")
    editor = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .cm-content").first
    editor.wait_for(timeout=180_000)
    editor.click()
    page.keyboard.press("End")
    page.keyboard.type("  # tapé sans enregistrer")
    expect(editor).to_contain_text("tapé sans enregistrer")
    try:
        wait_for(lambda: "tapé sans enregistrer" in saved_source(student, "avant-la-pause.ipynb"), 240,
                 "JupyterLab's autosave did not write the edit")
    finally:
        shot(page, "autosave")
    page.close()
    folders = cgroup_folders(student.name)
    hub_process.stop()
    hub_process.start(CLASSROOM_CULL_TIMEOUT="20")
    wait_for(lambda: not student.session.get(f"{hub.url}/hub/api/users/{student.name}").json().get("servers"),
             120, f"the idle server of {student.name} was not stopped")
    wait_for(lambda: not any(folder.exists() for folder in folders.values()), 30,
             f"cgroup folders left after the server was culled: {folders}")
    on_disk = json.loads((Path(pwd.getpwnam(student.name).pw_dir) / "avant-la-pause.ipynb").read_text())
    assert "".join(on_disk["cells"][0]["source"]) == "x = 1  # tapé sans enregistrer"


def saved_source(student, path: str) -> str:
    saved = student.call("GET", f"{student.server}/api/contents/{path}").json()
    return saved["content"]["cells"][0]["source"]
