"""Sandboxed kernels: every student kernel runs under bubblewrap, as an unprivileged user, with limits.

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
dedicated unprivileged uid (`SandboxProvisioner.uid`, one per grading worker);
otherwise as the instructor's uid inside a user namespace, without capabilities.

`SandboxProvisioner` (jupyter_client entry point `autograder-sandbox`) starts kernels
this way. The kernel spec of the same name (`install_kernelspecs`) names it, and the
course's `nbgrader_config.py` sets `Execute.kernel_name` to it, so every kernel that
nbgrader starts (autograde, validate) is sandboxed. Where bubblewrap cannot run,
starting a kernel fails with `SandboxUnavailable` unless `SandboxProvisioner.unsafe`
is set.
"""

from __future__ import annotations

import atexit
import errno
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Bool, Int, Unicode

from autograder import package

PROVISIONER_NAME = "autograder-sandbox"
KERNEL_MODULES = tuple(str(p) for p in package.kernel_files())  # all of `autograder` that a kernel may import
KERNEL_PATH = Path("/autograder-kernel")  # in the sandbox: them as `autograder/`, first on the kernel's path
PROBE_IMPORTS = ("autograder.probe", "autograder.codec", "torch")  # what a hidden check needs in the kernel
SANDBOX_UID_BASE = 61000  # kernels of grading worker i run as uid SANDBOX_UID_BASE + i when the grader is root
SLOT_VARIABLE = "AUTOGRADER_SANDBOX_SLOT"
BWRAP_VARIABLE = "AUTOGRADER_BWRAP"  # path of bwrap, when it is not the one on PATH
KERNEL_NAMESPACE_PID = 2  # in its PID namespace, after bwrap's reaper (pid 1)
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS")  # the thread pools of torch, numpy and their BLAS
SINGLE_THREAD = {name: "1" for name in THREAD_VARIABLES}
KEPT_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "TZ", "NBGRADER_EXECUTION", "PYTHONHASHSEED", *SINGLE_THREAD)
HOW_TO_FIX = ("install bubblewrap (`apt-get install bubblewrap`) on a Linux machine where user namespaces "
              "are allowed, or grade without isolation, at your own risk: `autograder grade --unsafe` "
              "or `nbgrader autograde --SandboxProvisioner.unsafe=True`")


class SandboxUnavailable(RuntimeError):
    """Student code would run without isolation."""


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


@functools.lru_cache(maxsize=None)
def unavailable_reason(probe: str = "import torch") -> str | None:
    """None when a sandbox starts here and runs `probe` in the grader's Python; otherwise why not."""
    if not sys.platform.startswith("linux"):
        return f"the sandbox needs Linux namespaces (this is {sys.platform})"
    if shutil.which(bwrap()) is None:
        return f"bubblewrap ({bwrap()}) is not installed"
    for tool in ("prlimit", *(["setpriv"] if running_as_root() else [])):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        uid = sandbox_uid(0)
        if uid is not None:
            os.chown(home, uid, uid)
        command = bwrap_command([interpreter(), "-c", probe], writable=[home], cwd=home,
                                env=kernel_environment({}, home), uid=uid)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"bubblewrap did not start: {error}"
    if done.returncode != 0:
        return f"bubblewrap failed: {(done.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


def require_sandbox() -> None:
    reason = unavailable_reason()
    if reason:
        raise SandboxUnavailable(f"refusing to run student code without a sandbox: {reason}. To fix: {HOW_TO_FIX}.")


# ------------------------------------------------------------------ before grading


def _import_fix() -> str:
    return (f"installez-les dans l'environnement du correcteur ({sys.prefix}) ; du paquet autograder, un noyau "
            f"ne voit que {', '.join(KERNEL_MODULES)} (KERNEL_MODULES : ce qu'importent probe.py et zygote.py, "
            "autograder/package.py)")


def _start_problem(kernel_name: str, spec, error: BaseException) -> str:
    """Why a kernel did not start, and the fix: a sandbox that cannot run, a module it cannot import,
    or a kernel spec that is out of date."""
    cause = f"le noyau « {kernel_name} » ne démarre pas ({type(error).__name__}: {error})"
    if isinstance(error, SandboxUnavailable):
        return f"{cause}.\nPour y remédier : {HOW_TO_FIX}."
    if isinstance(error, ImportError):  # a warm kernels' zygote that could not import them
        return f"{cause}.\nPour y remédier : {_import_fix()}."
    if getattr(error, "errno", None) == errno.ENAMETOOLONG:  # a socket's path (`short_temp_root` found no /tmp)
        return (f"{cause}.\nPour y remédier : donnez un dossier temporaire au chemin court (`TMPDIR=/tmp`) : "
                f"les noyaux y créent leurs sockets, dont le chemin ne peut dépasser {SOCKET_PATH_MAX} octets.")
    if os.sep in spec.argv[0] and not os.path.exists(spec.argv[0]):
        cause += f" : son kernel spec ({spec.resource_dir}) lance {spec.argv[0]}, qui n'existe plus"
    fix = ("réécrivez les kernel specs avec le Python de l'environnement qui corrige : "
           f"`{Path(sys.prefix) / 'bin' / 'autograder'} install-kernels` (ou `make`)")
    ours = Path(sys.prefix) / "share" / "jupyter" / "kernels" / kernel_name
    if Path(spec.resource_dir).resolve() != ours.resolve():
        fix += f", et supprimez {spec.resource_dir}, qui masque celui de cet environnement ({ours})"
    return f"{cause}.\nPour y remédier : {fix}."


def kernel_problem(kernel_name: str, config=None, timeout: float = 120) -> str | None:
    """None when a kernel of this spec starts, as grading would start it, and imports what the hidden checks
    need (`PROBE_IMPORTS`); otherwise, in French, what went wrong and how to fix it.

    Grading asks once, before it touches a copy: a kernel that cannot run the probes would give every
    student 0 (`nbgrader autograde` reports each hidden check as stopped, and exits 0).
    """
    from jupyter_client.kernelspec import NoSuchKernel
    from jupyter_client.manager import KernelManager
    from traitlets.config import Config

    try:
        manager = KernelManager(kernel_name=kernel_name, config=config or Config())
        spec = manager.kernel_spec
    except NoSuchKernel:
        return (f"aucun kernel spec « {kernel_name} ».\nPour y remédier : "
                f"`{Path(sys.prefix) / 'bin' / 'autograder'} install-kernels` (ou `make`).")
    client = None
    with tempfile.TemporaryDirectory() as folder:  # the kernel works in a copy of it: an empty "submission"
        try:
            manager.start_kernel(cwd=folder)
            client = manager.client()
            client.start_channels()
            client.wait_for_ready(timeout=timeout)
            reply = client.execute_interactive("import " + ", ".join(PROBE_IMPORTS), timeout=timeout,
                                               output_hook=lambda message: None)["content"]
        except Exception as error:  # noqa: BLE001 - whatever stops the kernel is the answer
            return _start_problem(kernel_name, spec, error)
        finally:
            if client is not None:
                client.stop_channels()
            if manager.has_kernel:
                manager.shutdown_kernel(now=True)
    if reply["status"] != "ok":
        return (f"le noyau « {kernel_name} » démarre mais n'importe pas ce dont les tests cachés ont besoin "
                f"({', '.join(PROBE_IMPORTS)}) : {reply.get('ename')}: {reply.get('evalue')}.\n"
                f"Pour y remédier : {_import_fix()}.")
    return None


# ------------------------------------------------------------------ per kernel

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


def _status(pid: str) -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as status:
            return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)
    except OSError:
        return {}


def host_pid(namespace_pid: int, ancestor: int, timeout: float = 10.0) -> int:
    """The pid, as we see it, of the descendant of `ancestor` that is `namespace_pid` in its PID namespace."""
    deadline = time.monotonic() + timeout
    while True:
        statuses = {pid: _status(pid) for pid in os.listdir("/proc") if pid.isdigit()}
        for pid, status in statuses.items():
            nspids = status.get("NSpid", "").split()
            if len(nspids) < 2 or nspids[-1] != str(namespace_pid):
                continue
            parent = status.get("PPid", "0")
            while parent not in ("0", "1", str(ancestor)):
                parent = statuses.get(parent, {}).get("PPid", "0")
            if parent == str(ancestor):
                return int(pid)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no process {namespace_pid} in a PID namespace under process {ancestor}")
        time.sleep(0.01)


class KernelBox:
    """Host-side folders of one kernel: `run/` (connection file, sockets) and `work/` (copy of the submission)."""

    def __init__(self, parent: Path | None, submission: Path, uid: int | None):
        self.root = Path(tempfile.mkdtemp(prefix="kernel-", dir=parent or short_temp_root()))
        self.run, self.work = self.root / "run", self.root / "work"
        self.run.mkdir()
        # a copy of the submission folder; symlinks stay links (never followed as root)
        shutil.copytree(submission, self.work, symlinks=True, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        if uid is not None:
            for path in [self.root, *self.root.rglob("*")]:
                os.lchown(path, uid, uid)
        for folder in (self.root, self.run, self.work):
            folder.chmod(0o700)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class SandboxProvisioner(LocalProvisioner):
    """Starts each kernel in its own bubblewrap sandbox (see the module docstring)."""

    unsafe = Bool(False, config=True, help="Run student kernels WITHOUT a sandbox (when bwrap cannot run).")
    uid = Int(None, allow_none=True, config=True,
              help="uid of sandboxed kernels when grading as root (default: 61000 + worker slot).")
    temp_dir = Unicode(None, allow_none=True, config=True, help="Where kernel folders are made (default: TMPDIR).")

    box: KernelBox | None = None

    def _uid(self) -> int | None:
        if not running_as_root():
            return None
        return self.uid if self.uid is not None else sandbox_uid()

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        if self.unsafe:
            self.log.warning("SandboxProvisioner.unsafe: this kernel runs student code WITHOUT a sandbox")
            return await super().pre_launch(**kwargs)
        self._require_sandbox()
        km = self.parent
        self.box = KernelBox(self._box_parent(), Path(kwargs.get("cwd") or os.getcwd()), self._uid())
        km.transport = "ipc"
        km.connection_file = str(self.box.run / f"kernel-{km.kernel_id}.json")
        km.ip = str(self.box.run / "kernel")
        kwargs["cwd"] = str(self.box.work)
        kwargs["env"] = kernel_environment(kwargs.get("env"), self.box.work)
        kwargs = await super().pre_launch(**kwargs)
        if self._uid() is not None:
            os.chown(km.connection_file, self._uid(), self._uid())
        return kwargs

    def _require_sandbox(self) -> None:
        require_sandbox()

    def _box_parent(self) -> Path | None:
        return Path(self.temp_dir) if self.temp_dir else None

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        if self.box is not None:
            cmd = bwrap_command(cmd, writable=[self.box.root], cwd=self.box.work, env=kwargs.pop("env"),
                                uid=self._uid())
            # what student code writes to its file descriptors 1 and 2 must not reach the grader's terminal
            kwargs.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return await super().launch_kernel(cmd, **kwargs)

    async def send_signal(self, signum: int) -> None:
        """An interrupt goes to the kernel only: bwrap, outside it, would die of SIGINT and take the kernel along."""
        if self.box is not None and self.process is not None and signum not in (signal.SIGKILL, signal.SIGTERM):
            try:
                os.kill(host_pid(KERNEL_NAMESPACE_PID, self.process.pid, timeout=1.0), signum)
            except (RuntimeError, ProcessLookupError):
                pass  # the kernel is gone already
            return
        await super().send_signal(signum)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart)
        if self.box is not None and not restart:
            self.box.remove()
            self.box = None


def interpreter() -> str:
    """This environment's python, named the same whichever of its names (python, python3.11) runs us, by its
    real path: a checkout that reaches the environment through a symlink must not write a path that dies with it,
    and a python called as `../.venv/bin/python` must not be run in a sandbox by a path through folders it lacks."""
    named = Path(sys.prefix).resolve() / "bin" / "python"
    return str(named) if named.exists() else sys.executable


def install_kernelspecs(prefix: str = sys.prefix) -> list[Path]:
    """Kernel specs `autograder-sandbox` and `autograder-warm`: Python kernels started by our provisioners.

    nbgrader picks them with `Execute.kernel_name` (see `nbgrader_config.py`); the
    provisioner is named in the spec's metadata, as jupyter_client documents.
    """
    from jupyter_client.kernelspec import KernelSpecManager

    written = []
    for name, display in ((PROVISIONER_NAME, "Python 3 (bac à sable)"), ("autograder-warm", "Python 3 (bac à sable, préchauffé)")):
        spec_file = Path(prefix) / "share" / "jupyter" / "kernels" / name / "kernel.json"
        spec = {"argv": [interpreter(), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": display, "language": "python", "interrupt_mode": "signal",
                "metadata": {"kernel_provisioner": {"provisioner_name": name}}}
        text = json.dumps(spec, indent=1) + "\n"
        if not spec_file.exists() or spec_file.read_text() != text:  # an installed, read-only env already has it
            spec_file.parent.mkdir(parents=True, exist_ok=True)
            spec_file.write_text(text)
        written.append(spec_file.parent)
    KernelSpecManager().get_kernel_spec(PROVISIONER_NAME)  # raises if jupyter does not find it
    return written
