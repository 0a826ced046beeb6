"""A student's kernel on the one-machine classroom: ipykernel, with the libraries' memory shared between students
and running out of memory told in French.

Every student's kernel imports torch, scikit-learn and matplotlib: ~220 MiB of Python objects and C++
tables per kernel, the same in every kernel, which 60 students at once cannot each hold on one machine.
When the spawner asks for it (`CLASSROOM_SHARE_MEMORY=1`, see `spawner.ClassroomSpawner.share_memory`),
this launcher makes those pages identical from one student's kernel to the next, and lets the machine's
samepage merging (KSM, which the spawner turns on) keep one copy of them for the whole class:

* it re-executes itself once without address randomisation, with hash seed 0, and with nothing of its
  student in sight: an environment, a folder and arguments that are the same for everyone (what differs,
  a home folder or a user name of another length, would shift every allocation after it). The student's
  own environment, folder and arguments wait in an anonymous file and are put back before the kernel starts;
* it marks its memory mergeable (`prctl(PR_SET_MEMORY_MERGE)`, Linux >= 6.4, no privilege needed);
* it imports the course's libraries before the kernel starts, then moves what they made out of reach of
  the garbage collector (`gc.freeze`), whose passes would otherwise write to every page of them.

matplotlib therefore keeps its configuration and font cache under `/tmp/.config/matplotlib` (the server's
own /tmp under bubblewrap), not in the student's home. Where the system refuses a step (a seccomp profile
refusing `personality`, an older kernel), or without `CLASSROOM_SHARE_MEMORY=1`, it is
`python -m ipykernel_launcher`.

Out of memory, the student is told in French, in the notebook:

* a kernel may allocate `CLASSROOM_KERNEL_MEMORY` bytes (`RLIMIT_DATA`; the spawner sets it a margin below the
  server's `mem_limit`): an allocation beyond fails in the cell (`MemoryError`, torch's "can't allocate
  memory"), the kernel and its variables live on, and the cell's output says so;
* what escapes that limit (shared memory, two notebooks' kernels together) meets the cgroup's, and the
  kernel is killed: JupyterLab restarts it (with its own English dialog), and the restarted kernel, seeing
  in its server's cgroup (`CLASSROOM_CGROUP`, bound read-only) one more OOM kill since the last start of
  this kernel, which did not exit on its own, says in the first cell run why its variables are gone.

    python -m classroom_kernel -f {connection_file}
"""

from __future__ import annotations

import atexit
import ctypes
import errno
import gc
import importlib
import json
import os
import resource
import site
import sys
from pathlib import Path

ADDR_NO_RANDOMIZE = 0x0040000  # personality(2)
PR_SET_MEMORY_MERGE = 67  # prctl(2)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel points matplotlib at
# what the course's notebooks import in their first cells
PRELOAD = ("numpy", "torch", "sklearn.datasets", "sklearn.model_selection", "sklearn.metrics",
           "matplotlib.pyplot", "autograder.selfcheck")
STATE = "CLASSROOM_KERNEL_STATE"  # the descriptor of the file holding the student's environment, folder, arguments
SHARED_HOME = "/tmp"
MEMORY = "CLASSROOM_KERNEL_MEMORY"  # bytes a kernel may allocate
CGROUP = "CLASSROOM_CGROUP"  # the folder of the server's memory cgroup
STARTS = Path("/tmp")  # where a kernel notes its start (the server's own /tmp under bubblewrap)

TOO_MUCH = ("⚠ Mémoire insuffisante : cette cellule demande plus de mémoire que votre noyau ne peut en utiliser "
            "({budget}). Le noyau continue et vos variables sont intactes. Calculez sur moins de données à la fois "
            "ou libérez de grands tableaux (`del nom`), puis relancez la cellule.")
KILLED = ("⚠ Votre noyau a été arrêté puis relancé : votre serveur dépassait la mémoire qui lui est permise"
          "{limit}. Les variables du noyau sont perdues. Relancez le notebook depuis le début (Kernel → Restart "
          "Kernel and Run All Cells) et cherchez la cellule qui demande trop de mémoire (un tableau trop grand, "
          "ou plusieurs notebooks ouverts à la fois : fermez ceux dont vous n'avez pas besoin).")


def same_for_every_student(name: str) -> bool:
    """Variables the spawner gives every student alike (a home, a user name, a token are not)."""
    return (name in ("PATH", "PYTHONPATH", "LANG", "TZ", "CLASSROOM_SHARE_MEMORY") or name.startswith("LC_")
            or name.endswith("_THREADS"))


def reexecute_alike(libc) -> None:
    """Runs this launcher again as every student's kernel starts (see the module docstring); returns if refused."""
    persona = libc.personality(0xFFFFFFFF)
    if persona == -1 or libc.personality(persona | ADDR_NO_RANDOMIZE) == -1:
        return
    state = os.memfd_create("classroom-kernel-state", 0)
    os.write(state, json.dumps({"environ": dict(os.environ), "cwd": os.getcwd(), "argv": sys.argv[1:]}).encode())
    os.set_inheritable(state, True)
    environment = {name: value for name, value in os.environ.items() if same_for_every_student(name)}
    environment.update({"PYTHONHASHSEED": "0", "HOME": SHARED_HOME, "MPLBACKEND": INLINE_BACKEND,
                        STATE: f"{state:06d}"})
    os.chdir("/")
    os.execve(sys.executable, [sys.executable, "-m", "classroom_kernel"], environment)


def preload() -> None:
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - never a kernel that does not start: the notebook's own import will say
            pass
    gc.freeze()


def become_the_students_kernel() -> None:
    """After the preload: the student's environment, folder, arguments and user site-packages back."""
    descriptor = int(os.environ[STATE])
    with os.fdopen(descriptor, "rb") as file:
        file.seek(0)
        state = json.loads(file.read())
    os.environ.clear()
    os.environ.update(state["environ"])
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    os.chdir(state["cwd"])
    sys.argv[1:] = state["argv"]
    site.USER_BASE = site.USER_SITE = None  # computed again from the student's HOME
    user_site = site.getusersitepackages()
    if site.ENABLE_USER_SITE and os.path.isdir(user_site):  # before the environment's, as Python puts it
        first = next((i for i, path in enumerate(sys.path) if path.endswith("site-packages")), len(sys.path))
        sys.path.insert(first, user_site)
        site.addsitedir(user_site)  # its .pth files


def limit_memory() -> None:
    budget = os.environ.get(MEMORY)
    if budget and budget.isdigit():
        resource.setrlimit(resource.RLIMIT_DATA, (int(budget), int(budget)))


def in_gib(size: int) -> str:
    """« 1,5 Gio »"""
    return f"{size / 2**30:.1f}".replace(".", ",").removesuffix(",0") + " Gio"


def ran_out_of_memory(error: BaseException | None) -> bool:
    return (isinstance(error, MemoryError)
            or isinstance(error, RuntimeError) and "can't allocate memory" in str(error)  # torch's allocator
            or isinstance(error, OSError) and error.errno == errno.ENOMEM)


def cgroup_value(folder: Path, files: tuple[str, ...], key: str | None = None) -> int | None:
    """A number from the first of `files` the cgroup has (v2 names, then v1's); `key`: from its `key value` line."""
    for name in files:
        try:
            text = (folder / name).read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if key is None and words and words[0].isdigit():
                return int(words[0])
            if key is not None and len(words) == 2 and words[0] == key:
                return int(words[1])
    return None


def oom_kills(folder: Path) -> int | None:
    return cgroup_value(folder, ("memory.events", "memory.oom_control"), "oom_kill")


def killed_for_memory(kernel: str, folder: Path) -> bool:
    """Whether the last run of this kernel (same id: a restart) ended killed by its cgroup's OOM killer: it
    did not exit on its own (its note is still there) and the cgroup has counted an OOM kill since it started.
    Notes this run's start, removed when it exits on its own."""
    note = STARTS / f"classroom-kernel-{os.getuid()}-{kernel}.json"
    kills = oom_kills(folder)
    try:
        before = json.loads(note.read_text())["oom_kills"]
    except (OSError, ValueError, KeyError):
        before = None
    try:
        note.write_text(json.dumps({"oom_kills": kills}))
        atexit.register(note.unlink, missing_ok=True)
    except OSError:
        return False
    return kills is not None and before is not None and kills > before


def tell_about_memory(shell, kernel: str) -> None:
    """The French messages of the module docstring, in the output of the cell concerned."""
    budget = resource.getrlimit(resource.RLIMIT_DATA)[0]
    if os.environ.get(MEMORY) and budget != resource.RLIM_INFINITY:
        def after_cell(result):
            if ran_out_of_memory(result.error_in_exec):
                print("\n" + TOO_MUCH.format(budget=in_gib(budget)), file=sys.stderr)

        shell.events.register("post_run_cell", after_cell)
    folder = os.environ.get(CGROUP)
    if folder and killed_for_memory(kernel, Path(folder)):
        limit = cgroup_value(Path(folder), ("memory.max", "memory.limit_in_bytes"))
        message = KILLED.format(limit=f" ({in_gib(limit)})" if limit and limit < 1 << 50 else "")  # else: "max"

        def before_first_cell(info):
            print(message, file=sys.stderr)
            shell.events.unregister("pre_run_cell", before_first_cell)

        shell.events.register("pre_run_cell", before_first_cell)


def main() -> None:
    # as ipykernel_launcher does: a student's torch.py in the notebook's folder must not replace torch here
    # (the kernel puts the folder back on the path when it starts)
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    limit_memory()
    if os.environ.get("CLASSROOM_SHARE_MEMORY") == "1":
        libc = ctypes.CDLL(None, use_errno=True)
        if STATE in os.environ:
            libc.prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0)
            preload()
            become_the_students_kernel()
        else:
            reexecute_alike(libc)
    from ipykernel.kernelapp import IPKernelApp
    app = IPKernelApp.instance()
    app.initialize()
    tell_about_memory(app.shell, Path(app.connection_file).stem)
    app.start()


if __name__ == "__main__":
    main()
