"""A lab session's first minutes on the one-machine classroom: N students log in at once, start their
servers, then all run « Run All » of a TP at once (root).

    .venv/bin/python benchmarks/storm.py [--students 60] [--tp tp09]     # `make benchmark-storm`

It serves a course of its own (`storm`: accounts `storm-prof`, `storm-a1`, `storm-ab2`…, port 28000, real PAM
accounts and passwords) with `deploy/jupyterhub_config.py` as shipped, after `deploy/classroom.py
reset` (the environments of `make classroom` are reused). Each student, in a thread of its own, logs in
through the hub's login form, makes an API token, asks for its server and waits for it; once every server
is ready or failed, each puts the TP's release notebook filled with the reference answers in its home,
starts a kernel in its server and runs every code cell in order through the kernel's websocket, as
JupyterLab's Run All does, stopping at the first error. It prints p50/p95/max of the time to a ready server
and to a finished Run All (from the storm's start), every failure with its cause, the lowest available
memory of the machine, each student's peak memory (its cgroup's), and writes the figures to
`benchmarks/results/storm-<time>.json`. Then it stops the hub and the students' processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "classroom"))

from hubclient import HubProcess, User, reset, stop_servers, wait_for  # noqa: E402
from autograder.submissions import fill, solutions  # noqa: E402
from classroom import Classroom  # noqa: E402 - deploy/, put on the path by hubclient
from spawner import cgroup_folders  # noqa: E402

RESULTS = REPO / "benchmarks" / "results"


@dataclass
class Student:
    name: str
    ready_s: float | None = None
    run_all_s: float | None = None
    cells: int = 0
    failure: str = ""
    peak_mib: float | None = None
    anonymous_mib: float | None = None
    user: User | None = field(default=None, repr=False)


def environment(students: int) -> dict[str, str]:
    # names of different lengths, as real logins are: a kernel's memory is shared only if the student's
    # name does not shift its layout (deploy/classroom_kernel.py)
    names = ",".join(f"storm-{'abcdefgh'[:k % 9]}{k}" for k in range(1, students + 1))
    return {"CLASSROOM_COURSE": "storm", "CLASSROOM_INSTRUCTORS": "storm-prof", "CLASSROOM_STUDENTS": names,
            "CLASSROOM_PORT": "28000", "CLASSROOM_SERVICE_PORT": "28999", "CLASSROOM_CULL_TIMEOUT": "0"}


def filled_notebook(tp: str) -> dict:
    release = nbformat.read(next((REPO / "release" / tp).glob("*.ipynb")), as_version=4)
    source = nbformat.read(next((REPO / "source" / tp).glob("*.ipynb")), as_version=4)
    return fill(release, solutions(source))


def start_server(room: Classroom, student: Student, start: float, timeout: float) -> None:
    try:
        student.user = User(room, student.name)
        answer = student.user.session.post(f"{room.url}/hub/api/users/{student.name}/server")
        if answer.status_code not in (201, 202):
            raise RuntimeError(f"server refused: {answer.status_code} {answer.text[:200]}")
        wait_for(lambda: student.user.session.get(f"{room.url}/hub/api/users/{student.name}").json()
                 .get("servers", {}).get("", {}).get("ready"), timeout, "not ready in time")
        student.ready_s = time.monotonic() - start
    except Exception as error:  # noqa: BLE001 - a benchmark reports every failure, whatever it is
        student.failure = f"server: {type(error).__name__}: {error}"[:300]


async def run_cells(student: Student, kernel: str, cells: list[str], timeout: float) -> None:
    from tornado.httpclient import HTTPRequest
    from tornado.websocket import websocket_connect

    url = f"{student.user.server.replace('http', 'ws', 1)}/api/kernels/{kernel}/channels"
    # JupyterLab waits for a kernel that boots slowly (60 at once on 2 cores): so does this client, not 20 s
    connection = await websocket_connect(HTTPRequest(url, headers={
        "Authorization": student.user.session.headers["Authorization"]}, connect_timeout=timeout,
        request_timeout=timeout))
    session = uuid.uuid4().hex
    deadline = time.monotonic() + timeout
    for number, code in enumerate(cells, 1):
        msg_id = uuid.uuid4().hex
        connection.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": session, "username": student.name,
                       "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": True}}))
        while True:
            message = await asyncio.wait_for(connection.read_message(), max(1.0, deadline - time.monotonic()))
            if message is None:
                raise RuntimeError(f"the kernel's websocket closed at cell {number}")
            reply = json.loads(message)
            if reply.get("parent_header", {}).get("msg_id") == msg_id and reply["msg_type"] == "execute_reply":
                break
        if reply["content"]["status"] != "ok":
            raise RuntimeError(f"cell {number}: {reply['content'].get('ename')}: {reply['content'].get('evalue')}")
        student.cells = number
    connection.close()


def run_all(room: Classroom, student: Student, notebook: dict, start: float, timeout: float) -> None:
    if student.failure:
        return
    try:
        server, call = student.user.server, student.user.call
        call("PUT", f"{server}/api/contents/storm.ipynb", json={"type": "notebook", "format": "json",
                                                                 "content": notebook})
        kernel = call("POST", f"{server}/api/kernels", json={}).json()["id"]
        cells = [c["source"] for c in notebook["cells"] if c["cell_type"] == "code"]
        asyncio.run(run_cells(student, kernel, cells, timeout))
        student.run_all_s = time.monotonic() - start
    except Exception as error:  # noqa: BLE001
        student.failure = f"run all: {type(error).__name__}: {error}"[:300]


def available_mib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def ksm_saved_mib() -> float:
    """Memory the machine saves by samepage merging now (pages that point to a page shared with others)."""
    path = Path("/sys/kernel/mm/ksm/pages_sharing")
    return int(path.read_text()) * os.sysconf("SC_PAGE_SIZE") / 2**20 if path.exists() else 0.0


def anonymous_mib(name: str) -> float | None:
    """The student's processes' own memory now (not the files they share with everyone's: torch's libraries)."""
    folders = cgroup_folders(name)
    for path, key in ((folders.get("memory", Path("/nonexistent")) / "memory.stat", "total_rss"),
                      (folders.get("unified", Path("/nonexistent")) / "memory.stat", "anon")):
        if path.exists():
            stats = dict(line.split() for line in path.read_text().splitlines())
            return int(stats[key]) / 2**20
    return None


def peak_mib(name: str) -> float | None:
    folders = cgroup_folders(name)
    for path in (folders.get("memory", Path("/nonexistent")) / "memory.max_usage_in_bytes",
                 folders.get("unified", Path("/nonexistent")) / "memory.peak"):
        if path.exists():
            return int(path.read_text()) / 2**20
    return None


def quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    return {"p50": statistics.median(ordered), "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": ordered[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=60)
    parser.add_argument("--tp", default="tp09")
    parser.add_argument("--timeout", type=float, default=900, help="seconds for each phase, per student")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("the storm creates accounts and runs a hub: run it as root")
    variables = environment(args.students)
    os.environ.update(variables)
    room = Classroom.from_environment()
    reset(variables)
    RESULTS.mkdir(parents=True, exist_ok=True)
    hub = HubProcess(room, RESULTS / "storm-jupyterhub.log", variables)
    students = [Student(name) for name in room.students]
    lowest, saved, sampling = [available_mib()], [0.0], threading.Event()

    def sample() -> None:
        while not sampling.wait(0.5):
            lowest.append(min(lowest[-1], available_mib()))
            saved.append(ksm_saved_mib())

    try:
        hub.start()
        threading.Thread(target=sample, daemon=True).start()
        notebook = filled_notebook(args.tp)
        with ThreadPoolExecutor(max_workers=len(students)) as pool:
            start = time.monotonic()
            list(pool.map(lambda s: start_server(room, s, start, args.timeout), students))
            print(f"servers: {sum(s.ready_s is not None for s in students)}/{len(students)} ready", flush=True)
            start = time.monotonic()
            list(pool.map(lambda s: run_all(room, s, notebook, start, args.timeout), students))
        for s in students:
            s.peak_mib, s.anonymous_mib = peak_mib(s.name), anonymous_mib(s.name)
        saved_at_end = ksm_saved_mib()
    finally:
        sampling.set()
        if hub.process is not None:
            hub.stop()
        stop_servers(room)
        hub.log.close()
    figures = {
        "students": len(students), "tp": args.tp, "cores": os.cpu_count(),
        "ready_s": quantiles([s.ready_s for s in students if s.ready_s is not None]),
        "run_all_s": quantiles([s.run_all_s for s in students if s.run_all_s is not None]),
        "peak_mib_per_student": quantiles([s.peak_mib for s in students if s.peak_mib is not None]),
        "anonymous_mib_per_student": quantiles([s.anonymous_mib for s in students if s.anonymous_mib is not None]),
        "lowest_available_mib": min(lowest),
        "shared_pages_saved_mib": {"max": max(saved), "end": saved_at_end},
        "failures": {s.name: s.failure for s in students if s.failure},
        "per_student": [{k: v for k, v in asdict(s).items() if k != "user"} for s in students],
    }
    path = RESULTS / f"storm-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=1))
    fmt = lambda q: " ".join(f"{k} {v:.1f}" if v is not None else f"{k} —" for k, v in q.items())  # noqa: E731
    print(f"{len(students)} students, {args.tp}, {os.cpu_count()} cores")
    print(f"  server ready (s):        {fmt(figures['ready_s'])}")
    print(f"  Run All finished (s):    {fmt(figures['run_all_s'])}")
    print(f"  peak memory (MiB/each):  {fmt(figures['peak_mib_per_student'])}  (its cgroup's, shared files included)")
    print(f"  own memory (MiB/each):   {fmt(figures['anonymous_mib_per_student'])}  (after Run All, kernels alive)")
    print(f"  lowest available memory: {figures['lowest_available_mib']:.0f} MiB")
    print(f"  saved by shared pages:   {max(saved):.0f} MiB at most, {saved_at_end:.0f} MiB at the end (KSM)")
    print(f"  failures: {len(figures['failures'])}")
    for name, failure in figures["failures"].items():
        print(f"    {name}: {failure}")
    print(f"figures: {path}")
    return 1 if figures["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
