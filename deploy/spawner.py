"""Students' single-user servers on one machine: per-user CPU and memory limits, and a narrow view.

`ClassroomSpawner` is JupyterHub's `LocalProcessSpawner` (a server runs as the user's own
account) with these additions:

* **Limits.** Each user's server and kernels share one cgroup with `mem_limit` bytes of
  memory and `cpu_limit` cores; `OMP_NUM_THREADS` (and the other thread-count variables
  torch and numpy read) is set to the CPU limit, so torch does not start more threads
  than the cores it may use. cgroup v1 (memory and cpu controllers) and v2 are handled;
  the hub must run as root.
* **Ports of its own.** A server listens on `port_base + uid`: one port per account, the same after a
  hub restart, below the ephemeral range the kernel hands out to outgoing connections, so that two
  students' servers never get the same port (`LocalProcessSpawner` picks a free random port, which
  another server can take before this one binds it). Kernels talk to their server over unix sockets in
  the student's own runtime folder (`KernelManager.transport = "ipc"`, in `jupyterhub_config.py`), not
  over five TCP ports the server picks and the kernel binds later (ipykernel still binds one port for its
  output pipe, which it picks itself, retrying on a taken one).
* **A class-wide memory limit.** The parent of the per-user cgroups may use at most the machine's
  memory minus `class_mem_reserve` (the hub, its proxy, the grader and the system keep that): when the
  students together ask for more than the machine has, the kernel's OOM killer takes a student's process
  (the largest: a kernel), never the hub or the grader.
* **Servers that outlive the hub.** With limits on, a server is stopped through its cgroup (every
  process in it gets SIGTERM, then SIGKILL), so it need not die with the hub: restarting the hub
  (`JupyterHub.cleanup_servers = False`) leaves students' servers and kernels running, and the new hub
  finds them again by their pids. Without limits there is no cgroup to find a server's processes by,
  and a server dies with the hub (bubblewrap's `--die-with-parent`).
* **Shared libraries' memory.** With `share_memory`, the spawner turns on the machine's samepage merging
  (KSM) and tells the students' kernels (`deploy/classroom_kernel.py`, their `python3` kernel) to make the
  pages torch, scikit-learn and matplotlib fill alike from one kernel to the next: the machine keeps one
  copy of them for the class instead of one per student (see classroom_kernel.py for how, and
  docs/threat-model.md for what it costs).
* **Out of memory, in French.** A student's kernel may allocate `mem_limit` less `kernel_mem_margin` (what
  the server and the libraries' code keep): beyond, the allocation fails in the cell, with a French
  message, and the kernel lives on. A kernel killed all the same (by the cgroup's limit) says why once
  restarted: the server sees its memory cgroup read-only at `/run/classroom/cgroup` (classroom_kernel.py).
* **Cleanup.** A stopped server's cgroup folders are removed.
* **View.** The server runs under bubblewrap in a user namespace and sees `/usr`, `/etc`,
  the folders of `visible` (the students' environment) read-only, and only its own home
  and the folders of `writable` (nbgrader's exchange) read-write: not the course
  checkout, not the grader's environment or home, not the hub's state, wherever and
  with whatever permissions these lie on the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import signal
import time
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner
from jupyterhub.traitlets import ByteSpecification
from traitlets import Bool, Integer, List, Unicode

from autograder.bubblewrap import THREAD_VARIABLES, system_mounts

CGROUP_MOUNT = Path("/sys/fs/cgroup")
CPU_PERIOD_US = 100_000
KSM = Path("/sys/kernel/mm/ksm")
CGROUP_IN_SANDBOX = "/run/classroom/cgroup"  # where a server sees its own memory cgroup, read-only
# ksmd scans as fast as needed to go over every mergeable page in a minute (the kernel's advisor, Linux >= 6.7,
# bounds its CPU): the pages of kernels started together are shared within about two scans
KSM_SETTINGS = {"run": "1", "advisor_mode": "scan-time", "advisor_target_scan_time": "60"}


def threads_for(cpu_limit: float) -> int:
    """Threads a student's kernel may use: the CPU limit, rounded down, at least one."""
    return max(1, int(cpu_limit))


class CgroupError(RuntimeError):
    """Limits cannot be applied: the server is not started without them."""


def _own_cgroups() -> dict[str, str]:
    """controller (or '' for cgroup v2) → this process's cgroup path, from /proc/self/cgroup."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller] = path
    return paths


def cgroup_folders(user: str, parent: str = "jupyterhub") -> dict[str, Path]:
    """The folders of `user`'s cgroup: {'memory': …, 'cpu': …} (v1) or {'unified': …} (v2)."""
    own = _own_cgroups()
    if (CGROUP_MOUNT / "cgroup.controllers").exists():  # pure cgroup v2
        return {"unified": CGROUP_MOUNT / parent / user}
    folders = {}
    for controller in ("memory", "cpu"):
        mount = CGROUP_MOUNT / controller
        if controller not in own or not mount.is_dir():
            raise CgroupError(f"no cgroup '{controller}' controller under {CGROUP_MOUNT}: limits cannot be "
                              "applied. Run the hub as root on a machine with cgroups, or set "
                              "c.Spawner.mem_limit and c.Spawner.cpu_limit to None to run without limits")
        folders[controller] = mount / own[controller].lstrip("/") / parent / user
    return folders


def enable_page_merging(folder: Path = KSM) -> str | None:
    """Turns on KSM for the processes that ask for it (as root); why not, if it cannot."""
    if not (folder / "run").exists():
        return f"{folder} does not exist: this Linux kernel has no samepage merging (CONFIG_KSM)"
    try:
        for name, value in KSM_SETTINGS.items():
            if (folder / name).exists():  # the advisor's settings: Linux >= 6.7
                (folder / name).write_text(value)
    except OSError as error:
        return f"cannot configure {folder}: {error}"
    return None


def write_limits(folders: dict[str, Path], mem_bytes: int | None, cpu_limit: float | None) -> None:
    """Creates the cgroup folders and writes the limits (as root, in the hub)."""
    quota = str(int(cpu_limit * CPU_PERIOD_US)) if cpu_limit else None
    if "unified" in folders:
        folder = folders["unified"]
        folder.parent.mkdir(exist_ok=True)
        for level in (CGROUP_MOUNT, folder.parent):  # each level hands memory and cpu down to its children
            (level / "cgroup.subtree_control").write_text("+memory +cpu")
        folder.mkdir(exist_ok=True)
        if mem_bytes:
            (folder / "memory.max").write_text(str(mem_bytes))
            (folder / "memory.swap.max").write_text("0")
        if quota:
            (folder / "cpu.max").write_text(f"{quota} {CPU_PERIOD_US}")
        return
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    if mem_bytes:
        memory = folders["memory"]
        (memory / "memory.limit_in_bytes").write_text(str(mem_bytes))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap counted too, where the kernel accounts it
            (memory / "memory.memsw.limit_in_bytes").write_text(str(mem_bytes))
    if quota:
        (folders["cpu"] / "cpu.cfs_period_us").write_text(str(CPU_PERIOD_US))
        (folders["cpu"] / "cpu.cfs_quota_us").write_text(quota)


async def remove_cgroups(folders: dict[str, Path], wait: float = 10.0) -> list[Path]:
    """Removes a stopped server's cgroup folders, waiting up to `wait` s for its last processes to be
    gone (the kernel refuses to remove a cgroup that holds any); the folders that remain."""
    deadline = time.monotonic() + wait
    left = [f for f in folders.values() if f.is_dir()]
    while left:
        for folder in list(left):
            try:
                folder.rmdir()
                left.remove(folder)
            except FileNotFoundError:
                left.remove(folder)
            except OSError:  # still busy: a process of the server is exiting
                pass
        if not left or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return left


def ephemeral_ports() -> range:
    """The ports the kernel picks for outgoing connections and for binds to port 0."""
    low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    return range(low, high + 1)


def server_port(uid: int, base: int, ephemeral: range) -> int:
    """The port of the server of the account `uid`: `base + uid`, outside `ephemeral`."""
    port = base + uid
    if not 1024 <= port < 65536 or port in ephemeral:
        raise ValueError(f"port {port} (port_base {base} + uid {uid}) is not a free-standing port: it must lie "
                         f"between 1024 and 65535 and outside the ephemeral ports {ephemeral.start}-"
                         f"{ephemeral.stop - 1} (/proc/sys/net/ipv4/ip_local_port_range). Set "
                         "c.ClassroomSpawner.port_base so that port_base + every student's uid does")
    return port


def members(folders: dict[str, Path]) -> list[int]:
    """The processes in a user's cgroup (none once it is removed)."""
    pids = set()
    for folder in folders.values():
        try:
            pids.update(int(pid) for pid in (folder / "cgroup.procs").read_text().split())
        except FileNotFoundError:
            pass
    return sorted(pids)


async def end_processes(folders: dict[str, Path], grace: float) -> None:
    """SIGTERM to every process of the cgroup (the server shuts its kernels down), SIGKILL to those left
    after `grace` seconds; returns when none is left, or after a few more seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        for pid in members(folders):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + wait
        while members(folders) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        if not members(folders):
            return


def machine_memory() -> int:
    """The machine's memory in bytes (MemTotal)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    raise CgroupError("no MemTotal in /proc/meminfo")


def write_class_limit(folders: dict[str, Path], limit: int) -> None:
    """The memory limit of the parent of the per-user cgroups (the students' servers together)."""
    if "unified" in folders:
        (folders["unified"].parent / "memory.max").write_text(str(limit))
    elif "memory" in folders:
        (folders["memory"].parent / "memory.limit_in_bytes").write_text(str(limit))


def join(folders: dict[str, Path], pid: int) -> None:
    for folder in folders.values():
        (folder / "cgroup.procs").write_text(str(pid))


def bubblewrap(home: str, visible: list[str], writable: list[str], die_with_parent: bool = True,
               cgroup: Path | None = None) -> list[str]:
    """bwrap arguments, as an unprivileged user: what a student's server sees of the machine (and of
    `cgroup`, its memory cgroup, read-only at CGROUP_IN_SANDBOX)."""
    args = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--disable-userns",
            *(["--die-with-parent"] if die_with_parent else []), *system_mounts(), "--ro-bind", "/etc", "/etc"]
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "--tmpfs", "/dev/shm", "--tmpfs", "/home"]
    for folder in visible:
        args += ["--ro-bind", folder, folder]
    for folder in [home, *writable]:
        args += ["--bind", folder, folder]
    if cgroup is not None:  # created before bubblewrap runs (make_preexec_fn)
        args += ["--ro-bind", str(cgroup), CGROUP_IN_SANDBOX]
    return [*args, "--chdir", home, "--"]


class ClassroomSpawner(LocalProcessSpawner):
    server_cmd = List(Unicode(), ["jupyterhub-singleuser"], config=True,
                      help="The single-user server command, run inside the sandbox.")
    visible = List(Unicode(), config=True, help="Folders the server sees read-only besides /usr and /etc.")
    writable = List(Unicode(), config=True, help="Folders it may write besides its home (nbgrader's exchange).")
    confine = Bool(True, config=True, help="Run the server under bubblewrap (see the module docstring).")
    cgroup_parent = Unicode("jupyterhub", config=True, help="Parent of the per-user cgroups.")
    port_base = Integer(20000, config=True, help="A user's server listens on port_base + the account's uid.")
    class_mem_reserve = ByteSpecification(2 << 30, config=True,
                                          help="Memory the students' servers together leave to the rest of the "
                                               "machine (hub, proxy, grader, system).")
    share_memory = Bool(True, config=True,
                        help="Students' kernels share their libraries' memory (KSM; see the module docstring).")
    kernel_mem_margin = ByteSpecification(512 << 20, config=True,
                                          help="Of mem_limit, what a kernel may not allocate: the server's and the "
                                               "libraries' code share (see the module docstring).")

    def get_env(self):
        env = super().get_env()
        if self.cpu_limit:
            env.update({name: str(threads_for(self.cpu_limit)) for name in THREAD_VARIABLES})
        if self.share_memory:
            env["CLASSROOM_SHARE_MEMORY"] = "1"
        if self.mem_limit and self.mem_limit > self.kernel_mem_margin:
            env["CLASSROOM_KERNEL_MEMORY"] = str(self.mem_limit - self.kernel_mem_margin)
        if self.limited:
            memory = self._memory_cgroup()
            env["CLASSROOM_CGROUP"] = CGROUP_IN_SANDBOX if self.confine else str(memory)
        return env

    def _memory_cgroup(self) -> Path:
        folders = cgroup_folders(self.user.name, self.cgroup_parent)
        return folders.get("memory") or folders["unified"]

    @property
    def limited(self) -> bool:
        return bool(self.mem_limit or self.cpu_limit)

    def _cgroups(self) -> dict[str, Path]:
        if not self.limited:
            return {}
        folders = cgroup_folders(self.user.name, self.cgroup_parent)
        write_limits(folders, self.mem_limit, self.cpu_limit)
        write_class_limit(folders, machine_memory() - self.class_mem_reserve)
        return folders

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        folders = self._cgroups()

        def preexec():
            join(folders, os.getpid())  # before dropping root: the user cannot leave this cgroup
            become_user()

        return preexec

    async def start(self):
        if self.share_memory:
            refused = enable_page_merging()
            if refused:
                self.log.warning("students' kernels will not share memory: %s", refused)
        self.port = server_port(pwd.getpwnam(self.user.name).pw_uid, self.port_base, ephemeral_ports())
        if self.confine:
            home = pwd.getpwnam(self.user.name).pw_dir
            cgroup = self._memory_cgroup() if self.limited else None
            self.cmd = [*bubblewrap(home, self.visible, self.writable, die_with_parent=not self.limited,
                                    cgroup=cgroup), *self.server_cmd]
        else:
            self.cmd = list(self.server_cmd)
        return await super().start()

    async def progress(self):
        """What the waiting page says while the server starts (JupyterHub's own: « Spawning server... »)."""
        yield {"progress": 50, "message": "Démarrage de votre serveur…"}

    async def stop(self, now=False):
        """Through the cgroup when there is one: bubblewrap does not pass signals on to the server."""
        folders = cgroup_folders(self.user.name, self.cgroup_parent) if self.limited else {}
        if folders:
            await end_processes(folders, grace=0 if now else self.term_timeout)
        await super().stop(now=now)
        if folders:
            left = await remove_cgroups(folders)
            if left:
                self.log.warning("cgroup folders of %s still busy, left in place: %s", self.user.name, left)
