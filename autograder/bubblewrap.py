"""The sandbox policy: what a student kernel sees and may do under bubblewrap, as an unprivileged user, with limits.

A kernel started for grading sees:

* the system (`/usr`), the Python installation and the course's virtualenv, read-only;
* of the `autograder` package, only the modules a kernel needs (`KERNEL_MODULES`), those of the
  grader that starts it, first on its path (`KERNEL_PATH`) wherever the grader's package comes from
  (installed, editable, a course's own copy); every other copy it could see is masked by them: no
  reference solution, no checks;
* a private copy of its own submission folder (its working directory) and a private,
  size-limited `/tmp` — the only places it can write;
* the folder of its connection file, where it binds its ZeroMQ sockets: the grader
  talks to it over IPC (unix sockets), since it has no network at all.

It runs in its own PID, network, IPC and UTS namespaces, with an emptied environment
and resource limits (`Limits`). When the grader runs as root, the kernel runs as a
dedicated unprivileged uid (`sandbox_uid`, one per grading worker);
otherwise as the instructor's uid inside a user namespace, without capabilities.

This module builds the command (`bwrap_command`) and the environment (`kernel_environment`);
`autograder.provisioner` starts kernels with them, `autograder.warm` its zygotes, and
`autograder.preflight` checks that they can run here.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from autograder import package

KERNEL_MODULES = tuple(str(p) for p in package.kernel_files())  # all of `autograder` that a kernel may import
KERNEL_PATH = Path("/autograder-kernel")  # in the sandbox: them as `autograder/`, first on the kernel's path
SANDBOX_UID_BASE = 61000  # kernels of grading worker i run as uid SANDBOX_UID_BASE + i when the grader is root
SLOT_VARIABLE = "AUTOGRADER_SANDBOX_SLOT"
BWRAP_VARIABLE = "AUTOGRADER_BWRAP"  # path of bwrap, when it is not the one on PATH
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")  # the thread pools of torch, numpy and their BLAS
SINGLE_THREAD = {name: "1" for name in THREAD_VARIABLES}
KEPT_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "NBGRADER_EXECUTION", "PYTHONHASHSEED", *SINGLE_THREAD)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox (setrlimit via prlimit, and the size of its /tmp)."""

    memory: int = 3 << 30        # RLIMIT_DATA: heap and anonymous mappings, per process
    cpu_seconds: int = 900       # RLIMIT_CPU, per process; each cell also has nbgrader's wall-clock timeout
    processes: int = 256         # RLIMIT_NPROC: processes and threads of the sandbox's uid
    file_size: int = 64 << 20    # RLIMIT_FSIZE: largest file it can write
    open_files: int = 1024       # RLIMIT_NOFILE
    tmp_size: int = 256 << 20    # size of its private /tmp

    def prlimit(self) -> list[str]:
        pairs = {"data": self.memory, "cpu": self.cpu_seconds, "nproc": self.processes,
                 "fsize": self.file_size, "nofile": self.open_files, "core": 0}
        return ["prlimit", *(f"--{name}={value}:{value}" for name, value in pairs.items()), "--"]


# ------------------------------------------------------------------ what the kernel sees


def _package_dir() -> Path:
    return Path(__file__).resolve().parent


@functools.lru_cache(maxsize=None)
def kernel_package() -> Path:
    """A copy of the modules of `autograder` a kernel may import, mounted over the real package."""
    folder = Path(tempfile.mkdtemp(prefix="autograder-kernel-package-"))
    atexit.register(shutil.rmtree, folder, True)
    for name in KERNEL_MODULES:
        shutil.copy2(_package_dir() / name, folder / name)
    folder.chmod(0o755)
    return folder


def _package_copies() -> list[Path]:
    """The grader's `autograder` package, and any other one the kernel could see in the read-only trees."""
    trees = _read_only_trees()
    found = {Path(entry).resolve() / "autograder" for entry in sys.path if entry}
    return sorted({_package_dir()} | {p for p in found if p.is_dir() and any(p.is_relative_to(t) for t in trees)})


def _read_only_trees() -> list[Path]:
    """The Python installation and the virtualenv (site-packages), read-only."""
    trees = {Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve(), Path(sys.executable).parent.resolve()}
    return sorted(trees)


def system_mounts() -> list[str]:
    """/usr read-only, and the top-level folders that are links into it (or folders) as they are."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    return args


SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/fonts", "/etc/localtime", "/etc/alternatives")


class _Mounts:
    """bwrap mount arguments, creating each parent directory readable (bwrap makes them 0700)."""

    def __init__(self):
        self.args: list[str] = []
        self.made: set[Path] = {Path("/")}

    def _parents(self, target: Path) -> None:
        for parent in reversed(target.parents):
            if parent not in self.made:
                self.args += ["--perms", "0755", "--dir", str(parent)]
                self.made.add(parent)

    def bind(self, source: Path, target: Path | None = None, *, writable: bool = False) -> None:
        target = target or source
        self._parents(target)
        self.args += ["--bind" if writable else "--ro-bind", str(source), str(target)]
        self.made.add(target)


def bwrap() -> str:
    return os.environ.get(BWRAP_VARIABLE, "bwrap")


def running_as_root() -> bool:
    return os.geteuid() == 0


def sandbox_uid(slot: int | None = None) -> int | None:
    """The uid kernels run as: a dedicated one per grading worker when we are root, else ours."""
    if not running_as_root():
        return None
    slot = int(os.environ.get(SLOT_VARIABLE, "0")) if slot is None else slot
    return SANDBOX_UID_BASE + slot


def bwrap_command(argv: list[str], *, writable: list[Path], cwd: Path, env: dict[str, str],
                  uid: int | None, limits: Limits = Limits()) -> list[str]:
    """`argv` wrapped in bubblewrap (+ setpriv when root) + prlimit."""
    if uid is None:  # unprivileged bwrap: a user namespace, and no further one inside
        namespaces = ["--unshare-all", "--unshare-user", "--disable-userns"]
    else:            # bwrap as root mounts for real; setpriv then becomes `uid` and drops every capability
        namespaces = ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    mounts = _Mounts()
    for path in SYSTEM_FILES:
        if os.path.exists(path):
            mounts.bind(Path(path))
    for tree in _read_only_trees():
        mounts.bind(tree)
    for copy in _package_copies():
        mounts.bind(kernel_package(), copy)
    mounts.bind(kernel_package(), KERNEL_PATH / "autograder")
    for folder in writable:
        mounts.bind(folder, writable=True)
    args = [bwrap(), *namespaces, "--die-with-parent", "--hostname", "bac-a-sable", "--clearenv",
            *system_mounts(), "--proc", "/proc", "--dev", "/dev",
            "--size", str(limits.tmp_size), "--perms", "1777", "--tmpfs", "/dev/shm",
            "--size", str(limits.tmp_size), "--perms", "1777", "--tmpfs", "/tmp", *mounts.args]
    for key, value in env.items():
        args += ["--setenv", key, value]
    args += ["--chdir", str(cwd)]
    if uid is not None:
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                 "setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                 "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    return [*args, "--", *limits.prlimit(), *argv]


def kernel_environment(env: dict[str, str] | None, home: Path) -> dict[str, str]:
    """What the kernel's environment keeps of ours: no tokens, no paths of the course."""
    env = env if env is not None else dict(os.environ)
    kept = {k: str(env[k]) for k in KEPT_VARIABLES if k in env}
    return {**SINGLE_THREAD, **kept, "PATH": f"{Path(interpreter()).parent}:/usr/bin:/bin", "HOME": str(home),
            "PYTHONPATH": str(KERNEL_PATH), "TMPDIR": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib",
            "IPYTHONDIR": "/tmp/ipython", "PYDEVD_DISABLE_FILE_VALIDATION": "1"}


def interpreter() -> str:
    """This environment's python, named the same whichever of its names (python, python3.11) runs us, by its
    real path: a checkout that reaches the environment through a symlink must not write a path that dies with it,
    and a python called as `../.venv/bin/python` must not be run in a sandbox by a path through folders it lacks."""
    named = Path(sys.prefix).resolve() / "bin" / "python"
    return str(named) if named.exists() else sys.executable


# ------------------------------------------------------------------ where a kernel's sockets go

# A kernel binds its ZeroMQ sockets in <temporary folder>/autograder-…/autograder-zygote-…/kernel-…/run/
# under `autograder grade` (<temporary folder>/kernel-…/run/ under plain nbgrader), and a unix socket's
# path may not exceed 107 bytes.
SOCKET_PATH_MAX = 107
SOCKET_PATH_BELOW_TEMP = len("/autograder-12345678/autograder-zygote-12345678/kernel-12345678/run/kernel-99")


def short_temp_root() -> str:
    """The temporary folder ($TMPDIR…) when kernels' socket paths fit below it; otherwise /tmp (or the like)."""
    chosen = tempfile.gettempdir()
    if len(os.fsencode(chosen)) + SOCKET_PATH_BELOW_TEMP <= SOCKET_PATH_MAX:
        return chosen
    return next((f for f in ("/tmp", "/var/tmp", "/dev/shm") if os.access(f, os.W_OK | os.X_OK)), chosen)
