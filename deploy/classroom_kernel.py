"""A student's kernel on the one-machine classroom: ipykernel, with the libraries' memory shared between students.

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

    python -m classroom_kernel -f {connection_file}
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import os
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


def main() -> None:
    # as ipykernel_launcher does: a student's torch.py in the notebook's folder must not replace torch here
    # (the kernel puts the folder back on the path when it starts)
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    if os.environ.get("CLASSROOM_SHARE_MEMORY") == "1":
        libc = ctypes.CDLL(None, use_errno=True)
        if STATE in os.environ:
            libc.prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0)
            preload()
            become_the_students_kernel()
        else:
            reexecute_alike(libc)
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
