"""A student's kernel on the one-machine classroom: ipykernel, with the libraries' memory shared between students.

Every student's kernel imports torch, scikit-learn and matplotlib: ~220 MiB of Python objects and C++
tables per kernel, the same in every kernel, which 60 students at once cannot each hold on one machine.
When the spawner asks for it (`CLASSROOM_SHARE_MEMORY=1`, see `spawner.ClassroomSpawner.share_memory`),
this launcher makes those pages identical from one kernel to the next, and lets the machine's kernel
samepage merging (KSM, which the spawner turns on) keep one copy of them for the whole class:

* it re-executes itself once with address randomisation off and a fixed hash seed, so that the same
  imports build the same bytes at the same addresses in every kernel;
* it marks its memory mergeable (`prctl(PR_SET_MEMORY_MERGE)`, Linux >= 6.4, no privilege needed);
* it imports the course's libraries before the kernel starts, then moves what they made out of reach of
  the garbage collector (`gc.freeze`), whose passes would otherwise write to every page of them.

Otherwise, or where the system refuses a step (an older kernel, a seccomp profile refusing `personality`),
it is `python -m ipykernel_launcher`: a kernel that shares less, never one that fails.

    python -m classroom_kernel -f {connection_file}
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import os
import sys
from pathlib import Path

ADDR_NO_RANDOMIZE = 0x0040000  # personality(2)
PR_SET_MEMORY_MERGE = 67  # prctl(2)
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # what ipykernel points matplotlib at
# what the course's notebooks import in their first cells
PRELOAD = ("numpy", "torch", "sklearn.datasets", "sklearn.model_selection", "sklearn.metrics",
           "matplotlib.pyplot", "autograder.selfcheck")


def reexecute_with_the_same_layout(libc) -> None:
    """Runs this launcher again without address randomisation and with hash seed 0, unless done already."""
    persona = libc.personality(0xFFFFFFFF)
    if persona == -1 or (persona & ADDR_NO_RANDOMIZE and os.environ.get("PYTHONHASHSEED") == "0"):
        return
    if libc.personality(persona | ADDR_NO_RANDOMIZE) == -1:
        return
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def preload() -> None:
    # set before matplotlib reads it, as ipykernel would set it when it starts
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass  # the notebook's own import will say what is missing
    gc.freeze()


def main() -> None:
    # as ipykernel_launcher does: a student's torch.py in the notebook's folder must not replace torch here
    # (the kernel puts the folder back on the path when it starts)
    if sys.path[0] == "" or Path(sys.path[0]) == Path.cwd():
        del sys.path[0]
    if os.environ.get("CLASSROOM_SHARE_MEMORY") == "1":
        libc = ctypes.CDLL(None, use_errno=True)
        reexecute_with_the_same_layout(libc)
        libc.prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0)
        preload()
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
