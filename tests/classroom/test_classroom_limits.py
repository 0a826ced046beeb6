"""What a student's server may use and see: its cgroup's CPU and memory, its threads, its view.

Commands run in a terminal of the student's own server, as the student would type them;
the cgroup is read from the host.
"""

from __future__ import annotations

import re

import pytest

from hubclient import REPO
from spawner import CPU_PERIOD_US, cgroup_folders, machine_memory, threads_for

pytestmark = pytest.mark.slow

BURN_SECONDS = 1.0  # of CPU time, in each process


@pytest.fixture(scope="module")
def student(users, hub):
    student = users[hub.students[0]]
    student.start_server()
    return student


def shell(student, command: str) -> str:
    return student.run(student.server, command, timeout=300)


def test_torch_threads_follow_the_cpu_limit(student, hub):
    out = shell(student, "python -c 'import os, torch; print(\"threads\", os.environ[\"OMP_NUM_THREADS\"], "
                         "torch.get_num_threads())'")
    threads = threads_for(hub.cpu_limit)
    assert f"threads {threads} {threads}" in out, out


def test_the_server_runs_in_its_users_cgroup(student, hub):
    out = shell(student, "cat /proc/self/cgroup")
    assert f"jupyterhub/{student.name}" in out, out
    folders = cgroup_folders(student.name)
    procs = {folder: (folder / "cgroup.procs").read_text().split() for folder in folders.values()}
    assert all(procs.values()), procs
    class_limit = int((folders["memory"].parent / "memory.limit_in_bytes").read_text())  # this machine: cgroup v1
    assert class_limit == machine_memory() - (2 << 30), class_limit  # all students together: the machine less 2 GiB


def test_memory_beyond_the_limit_kills_the_process_not_the_server(student, hub):
    too_much = int(hub.mem_bytes() * 1.5) // 8
    out = shell(student, f"python -c 'import numpy; a = numpy.ones({too_much}); print(\"tout alloue\")'")
    assert "tout alloue" not in out and out.endswith("[exit 137]"), out  # SIGKILL by the cgroup's OOM killer
    assert "ok" in shell(student, "echo ok")
    student.call("GET", f"{student.server}/api/status")


def burn(processes: int) -> str:
    """A student's command: `processes` processes that each spin until they have had BURN_SECONDS of CPU
    time, however long a busy machine takes to give it; prints their CPU time and the wall time taken."""
    return ("python -c 'import multiprocessing as m, os, time\n"
            "def burn():\n"
            f"    while time.process_time() < {BURN_SECONDS}: pass\n"
            "start = time.monotonic()\n"
            f"spinning = [m.Process(target=burn) for _ in range({processes})]\n"
            "for p in spinning: p.start()\n"
            "for p in spinning: p.join()\n"
            "t = os.times()\n"
            "print(\"BURN cpu %.3f wall %.3f\" % (t.children_user + t.children_system, time.monotonic() - start))'")


def cpu_stat(user: str) -> dict[str, int]:
    folders = cgroup_folders(user)
    stat = (folders.get("cpu") or folders["unified"]) / "cpu.stat"
    return {name: int(value) for name, value in (line.split() for line in stat.read_text().splitlines())}


def test_cpu_beyond_the_limit_is_throttled(student, hub):
    """Processes that would use more cores than the limit get no more than its quota over their run.

    Asserted on what the quota guarantees whatever else the machine runs: at most `cpu_limit` cores'
    time in each period. Not on `nr_throttled`: the server's cgroup shares the machine with the other
    processes by weight, as one task, so a busy machine can give it less than its quota, and then
    nothing is throttled (this test failed so once). `nr_periods` counts only periods of a cgroup with
    a quota."""
    before = cpu_stat(student.name)
    out = shell(student, burn(threads_for(hub.cpu_limit) + 2))
    after = cpu_stat(student.name)
    found = re.search(r"BURN cpu ([\d.]+) wall ([\d.]+)", out)
    assert found and out.endswith("[exit 0]"), out
    cpu, wall = map(float, found.groups())
    period = CPU_PERIOD_US / 1e6
    assert after.get("nr_periods", 0) > before.get("nr_periods", 0), (before, after)  # the kernel enforced a quota on it
    assert cpu <= hub.cpu_limit * (wall * 1.02 + 2 * period), (out, before, after)  # a part period at each end


def test_the_server_sees_no_solution_and_no_grader_file(student, hub):
    other = next(name for name in hub.students if name != student.name)
    hidden = [REPO, REPO / "source", REPO / "autograder", hub.grader_env, hub.grader_home, hub.course_root,
              hub.hub_dir, "/root", f"/home/{other}", "/work"]
    out = shell(student, " ; ".join(f"test -e {path} && echo VISIBLE {path}" for path in hidden) + " ; true")
    assert "VISIBLE" not in out, out
    # the student kit: the checks (for the self-check), never a reference solution
    out = shell(student, "python -c 'import importlib.util as u; print(\"checks:\", u.find_spec(\"autograder.tp09.checks\")"
                         " is not None, \"reference:\", u.find_spec(\"autograder.tp09.reference\"))'"
                         " ; find / -xdev -path /proc -prune -o -name 'reference.py' -path '*tp09*' -print 2>/dev/null")
    assert "checks: True reference: None" in out and "tp09/reference.py" not in out, out


def test_the_server_can_write_its_home_and_the_exchange_only(student, hub):
    out = shell(student, f"touch ~/mine && echo HOME-OK; touch {hub.student_env}/x 2>/dev/null || echo ENV-RO; "
                         f"touch /usr/x 2>/dev/null || echo USR-RO; test -w {hub.exchange} && echo EXCHANGE-OK")
    for word in ("HOME-OK", "ENV-RO", "USR-RO", "EXCHANGE-OK"):
        assert word in out, out
