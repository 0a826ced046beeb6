"""Capacity figures for a JupyterHub deployment: a student's memory, the grader's time per copy.

Measured here, on this machine, and written to benchmarks/results/capacity.json:

  (a) a student's server
      * the kernel of a student working through a TP, in a plain `python3` kernel (no
        sandbox), the notebook run top to bottom in a temporary copy: its RSS and PSS
        (from /proc/PID/smaps_rollup) sampled during the run, the peak RSS (the kernel's
        VmHWM), the peak PSS, and the RSS once every cell has run (the state it keeps);
        two notebooks: the instructor's source (solutions and hidden checks, which load
        the checks module) and a student's finished copy (the release filled with the
        reference answers, as the sample class's `alice`);
      * an idle JupyterLab server process (`jupyter lab`, no kernel), a few seconds after
        it answers, once /lab has been served;
  (b) grading: `autograder grade TP --force --jobs N` on the typical class of
      benchmarks/class_grading.py (its helpers build the class and reset it between runs):
      wall seconds and core-seconds (user + system CPU of the whole grading process tree:
      each process's CPU time, sampled every 0.25 s, summed; a slight underestimate, and
      never below the rusage of the reaped children) per submission, and the peak memory
      (sum of RSS and of PSS over the grading process tree, same samples).

Every measure is repeated --repeat times (interleaved); the JSON keeps every run and the
medians.

    .venv/bin/python benchmarks/capacity.py [--assignment TP] [--repeat 3] [--submissions 24] [--jobs 1 2]
                                            [--skip-grading]

--assignment defaults to the course's first TP (`autograder.course.assignments`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
import class_grading  # noqa: E402 - the class-grading benchmark's helpers, reused as they are

from autograder.course import assignments  # noqa: E402
from autograder.demo import forget_grading  # noqa: E402
from autograder.submissions import fill, solutions  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


# ------------------------------------------------------------------ /proc


def memory(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) of one process in bytes, from smaps_rollup; None if it is gone."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return (rss, pss) if rss is not None and pss is not None else None


def high_water_rss(pid: int) -> int | None:
    """VmHWM: the peak RSS the kernel itself recorded for the process."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


TICKS = os.sysconf("SC_CLK_TCK")


def process_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, own user + system CPU seconds), as /proc shows them now."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state) of proc(5)
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICKS)
    return table


def descendants(root: int, table: dict[int, tuple[int, float]] | None = None) -> list[int]:
    """`root` and every process below it (by parent pid)."""
    table = process_table() if table is None else table
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class Sampler:
    """A thread that samples a process tree every `interval` seconds.

    Keeps the peaks of the tree's summed RSS and PSS, and each process's last seen CPU time
    (user + system): their sum is the tree's CPU, short of what a process used after its last
    sample (at most `interval` per process). Unlike the rusage of reaped children, it also counts
    processes that are killed and never reaped by us (sandboxed kernels, zygotes).
    """

    def __init__(self, root, interval: float, include_root: bool = True):
        self.root, self.interval = root, interval  # root: a pid, or a callable giving one (or None)
        self.include_root = include_root
        self.peak_rss = self.peak_pss = self.samples = 0
        self.cpu: dict[tuple[int, float], float] = {}  # (pid, start) -> last seen CPU seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def cpu_seconds(self) -> float:
        return sum(self.cpu.values())

    def _run(self) -> None:
        while not self._stop.is_set():
            root = self.root() if callable(self.root) else self.root
            if root:
                table = process_table()
                pids = descendants(root, table)
                pids = pids if self.include_root else pids[1:]
                pids = [pid for pid in pids if pid in table]
                for pid in pids:
                    self.cpu[(pid, start_time(pid))] = table[pid][1]
                values = [m for m in map(memory, pids) if m]
                if values:
                    self.peak_rss = max(self.peak_rss, sum(r for r, _ in values))
                    self.peak_pss = max(self.peak_pss, sum(p for _, p in values))
                    self.samples += 1
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def start_time(pid: int) -> float:
    """Start time of a process (field 22 of /proc/PID/stat): tells a reused pid apart."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
        return int(stat[stat.rindex(")") + 2:].split()[19]) / TICKS
    except (FileNotFoundError, ProcessLookupError):
        return -1.0


# ------------------------------------------------------------------ (a) a student's server


def source_notebook(assignment: str) -> Path:
    return sorted((REPO / "source" / assignment).glob("*.ipynb"))[0]


def student_copy(assignment: str):
    """The release notebook filled with the reference answers: what a student who finished runs."""
    path = source_notebook(assignment)
    release = REPO / "release" / assignment / path.name
    return fill(nbformat.read(release, as_version=4), solutions(nbformat.read(path, as_version=4)))


def kernel_run(nb, workdir: Path) -> dict:
    """Runs `nb` in a plain python3 kernel (cwd: workdir), sampling the kernel process."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    pid: dict[str, int] = {}
    after: dict[str, int] = {}
    last_code = max(i for i, c in enumerate(nb.cells) if c.cell_type == "code")

    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})

    def started(**_):
        pid["kernel"] = client.km.provisioner.pid
        m = memory(pid["kernel"])
        if m:
            after["started_rss"], after["started_pss"] = m

    def executed(cell, cell_index, **_):
        if cell_index == last_code:  # the kernel is still up: what it keeps once the TP is done
            after["hwm"] = high_water_rss(pid["kernel"]) or 0
            after["rss"], after["pss"] = memory(pid["kernel"]) or (0, 0)

    client.on_notebook_start = started
    client.on_cell_executed = executed
    start = time.perf_counter()
    with Sampler(lambda: pid.get("kernel"), 0.1) as sampler:
        client.execute()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "samples": sampler.samples,
            "started_rss_mib": after.get("started_rss", 0) / MIB,
            "started_pss_mib": after.get("started_pss", 0) / MIB,
            "peak_rss_mib": max(after["hwm"], sampler.peak_rss) / MIB,
            "peak_rss_sampled_mib": sampler.peak_rss / MIB,
            "peak_pss_mib": max(sampler.peak_pss, after["pss"]) / MIB,
            "after_run_rss_mib": after["rss"] / MIB, "after_run_pss_mib": after["pss"] / MIB}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyterlab_idle(workdir: Path, settle: float = 3.0) -> dict:
    """RSS and PSS of an idle `jupyter lab` process, once it has served /lab."""
    port, token = free_port(), "capacity"
    command = [str(Path(sys.executable).parent / "jupyter"), "lab", "--no-browser", f"--port={port}",
               f"--ServerApp.token={token}", f"--ServerApp.root_dir={workdir}", "--ServerApp.ip=127.0.0.1"]
    if os.geteuid() == 0:
        command.append("--allow-root")
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "JUPYTER_RUNTIME_DIR": str(workdir / ".runtime")})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("jupyter lab did not answer within 60 s") from None
                time.sleep(0.3)
        for path in ("/lab", "/api/kernelspecs", "/lab/api/settings", "/api/contents"):  # what a browser asks first
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}?token={token}", timeout=30).read()
            except urllib.error.HTTPError:
                pass
        time.sleep(settle)
        rss, pss = memory(server.pid)
        return {"rss_mib": rss / MIB, "pss_mib": pss / MIB}
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure_student(repeat: int, assignment: str) -> dict:
    source = source_notebook(assignment)
    notebooks = {"source notebook (solutions + hidden checks)": nbformat.read(source, as_version=4),
                 "student's finished copy (release + reference answers)": student_copy(assignment)}
    runs: dict[str, list[dict]] = {name: [] for name in notebooks}
    lab: list[dict] = []
    for _ in range(repeat):
        for name, nb in notebooks.items():
            with tempfile.TemporaryDirectory() as tmp:  # a fresh copy of the TP folder each time
                shutil.copytree(source.parent, Path(tmp) / assignment)
                run = kernel_run(nb, Path(tmp) / assignment)
            runs[name].append(run)
            print(f"  kernel, {name:55} peak RSS {run['peak_rss_mib']:6.0f} MiB  peak PSS {run['peak_pss_mib']:6.0f} MiB"
                  f"  after {run['after_run_rss_mib']:6.0f} MiB  ({run['seconds']:.1f} s)", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            lab.append(jupyterlab_idle(Path(tmp)))
        print(f"  jupyter lab, idle{'':50} RSS {lab[-1]['rss_mib']:6.0f} MiB  PSS {lab[-1]['pss_mib']:6.0f} MiB",
              flush=True)
    medians = {name: {key: statistics.median(r[key] for r in values) for key in values[0]}
               for name, values in runs.items()}
    medians["jupyter lab server, idle"] = {key: statistics.median(r[key] for r in lab) for key in lab[0]}
    return {"runs": {**runs, "jupyter lab server, idle": lab}, "medians": medians}


# ------------------------------------------------------------------ (b) grading


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure_grading(repeat: int, submissions: int, jobs_list: list[int], assignment: str) -> dict:
    autograder = str(Path(sys.executable).parent / "autograder")
    runs: dict[str, list[dict]] = {f"--jobs {jobs}": [] for jobs in jobs_list}
    with tempfile.TemporaryDirectory() as tmp:
        course = Path(tmp) / "course"
        print(f"  building a typical class of {submissions} submissions …", flush=True)
        class_grading.make_class(course, submissions, "typical", assignment)
        for _ in range(repeat):
            for jobs in jobs_list:
                forget_grading(course)
                reaped = children_cpu()
                # the grader is this process's only child meanwhile: sample the tree below us
                with Sampler(os.getpid(), 0.25, include_root=False) as sampler:
                    seconds = class_grading.timed([autograder, "grade", assignment, "--force", "--jobs",
                                                   str(jobs)], course)
                reaped = children_cpu() - reaped
                cpu = max(sampler.cpu_seconds, reaped)
                graded = len(class_grading.scores(course, assignment))
                run = {"wall_s": seconds, "core_s": cpu, "core_s_sampled": sampler.cpu_seconds,
                       "core_s_reaped_children": reaped, "graded": graded,
                       "wall_s_per_submission": seconds / submissions, "core_s_per_submission": cpu / submissions,
                       "peak_tree_rss_mib": sampler.peak_rss / MIB,
                       "peak_tree_pss_mib": sampler.peak_pss / MIB}
                runs[f"--jobs {jobs}"].append(run)
                print(f"  autograder grade --jobs {jobs}: {seconds:6.1f} s wall, {cpu:6.1f} core-s, "
                      f"{graded}/{submissions} graded, peak tree RSS {run['peak_tree_rss_mib']:5.0f} MiB, "
                      f"PSS {run['peak_tree_pss_mib']:5.0f} MiB", flush=True)
    medians = {name: {key: statistics.median(r[key] for r in values) for key in values[0]}
               for name, values in runs.items()}
    return {"assignment": assignment, "submissions": submissions, "class": "typical", "runs": runs,
            "medians": medians}


# ------------------------------------------------------------------ report


def table(results: dict) -> str:
    lines = []
    student = results["student"]["medians"]
    lines.append(f"Student side ({results['assignment']}), medians of {results['repeat']} runs (MiB):")
    lines.append(f"  {'':55} {'start':>6} {'peak RSS':>9} {'peak PSS':>9} {'RSS after':>10} {'run s':>6}")
    for name, m in student.items():
        if "peak_rss_mib" in m:
            lines.append(f"  kernel, {name[:47]:47} {m['started_rss_mib']:6.0f} {m['peak_rss_mib']:9.0f} "
                         f"{m['peak_pss_mib']:9.0f} {m['after_run_rss_mib']:10.0f} {m['seconds']:6.1f}")
        else:
            lines.append(f"  {name:55} {'':6} {m['rss_mib']:9.0f} {m['pss_mib']:9.0f}   (idle RSS / PSS)")
    if "grading" in results:
        g = results["grading"]
        lines.append(f"\nGrading {g['submissions']} submissions ({g['class']} class), medians of "
                     f"{results['grading_repeat']} runs:")
        lines.append(f"  {'':12} {'wall s':>7} {'s/copy':>7} {'core-s':>7} {'core-s/copy':>12} "
                     f"{'peak RSS':>9} {'peak PSS':>9}")
        for name, m in g["medians"].items():
            lines.append(f"  {name:12} {m['wall_s']:7.1f} {m['wall_s_per_submission']:7.2f} {m['core_s']:7.1f} "
                         f"{m['core_s_per_submission']:12.2f} {m['peak_tree_rss_mib']:9.0f} {m['peak_tree_pss_mib']:9.0f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", default=assignments(REPO)[0], help="default: the course's first TP")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--grading-repeat", type=int, default=None, help="default: --repeat")
    parser.add_argument("--submissions", type=int, default=24)
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--skip-grading", action="store_true")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "capacity.json")
    args = parser.parse_args()
    start = time.perf_counter()
    results = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
               "machine": {"cores": os.cpu_count(), "memory_gib": round(os.sysconf("SC_PAGE_SIZE")
                                                                      * os.sysconf("SC_PHYS_PAGES") / 1024**3, 1),
                           "platform": platform.platform(), "python": platform.python_version()},
               "assignment": args.assignment, "repeat": args.repeat}
    print("(a) a student's server", flush=True)
    results["student"] = measure_student(args.repeat, args.assignment)
    if not args.skip_grading:
        results["grading_repeat"] = args.grading_repeat or args.repeat
        print("(b) grading", flush=True)
        results["grading"] = measure_grading(results["grading_repeat"], args.submissions, args.jobs, args.assignment)
    results["benchmark_seconds"] = time.perf_counter() - start
    print("\n" + table(results))
    print(f"\n(benchmark took {results['benchmark_seconds'] / 60:.1f} min)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
