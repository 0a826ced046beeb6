"""What a student's server may use and see: its cgroup's CPU and memory, its threads, its view.

Commands run in a terminal of the student's own server, as the student would type them;
the cgroup is read from the host.
"""

from __future__ import annotations

import pytest

from hubclient import REPO
from spawner import cgroup_folders, threads_for

pytestmark = pytest.mark.slow

BURN = ("python -c 'import multiprocessing as m, time\n"
        "def burn(_):\n"
        "    end = time.time() + 3\n"
        "    while time.time() < end: pass\n"
        "m.Pool(3).map(burn, range(3))'")


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


def test_memory_beyond_the_limit_kills_the_process_not_the_server(student, hub):
    too_much = int(hub.mem_bytes() * 1.5) // 8
    out = shell(student, f"python -c 'import numpy; a = numpy.ones({too_much}); print(\"tout alloue\")'")
    assert "tout alloue" not in out and out.endswith("[exit 137]"), out  # SIGKILL by the cgroup's OOM killer
    assert "ok" in shell(student, "echo ok")
    student.call("GET", f"{student.server}/api/status")


def test_cpu_beyond_the_limit_is_throttled(student, hub):
    cpu = cgroup_folders(student.name).get("cpu") or cgroup_folders(student.name)["unified"]

    def throttled() -> int:
        stats = dict(line.split() for line in (cpu / "cpu.stat").read_text().splitlines())
        return int(stats.get("nr_throttled", 0))

    before = throttled()
    assert shell(student, BURN).endswith("[exit 0]")
    assert throttled() > before


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
