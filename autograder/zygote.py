"""The zygote of warm kernels (`autograder.warm`): the part that runs in the sandbox, and nothing else.

It imports the heavy modules once, then forks one kernel per request read on stdin; each
fork becomes the kernel `python -m ipykernel_launcher ARGS` would be. Only the standard
library is imported here: this module is part of what a sandboxed kernel can read
(`autograder.package.kernel_files`).

    python -m autograder.zygote --sandboxed | --unsafe
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from typing import Any

INLINE_BACKEND = "module://matplotlib_inline.backend_inline"  # ipykernel's default for matplotlib
# Not the inline backend itself: imported here, before a kernel's shell exists, it would never
# hook into the kernel's display (it does so when imported by a kernel, at its first figure).
PRELOAD = ("numpy", "torch", "sklearn.datasets", "sklearn.model_selection", "sklearn.metrics",
           "matplotlib.pyplot", "ipykernel.kernelapp", "ipykernel.ipkernel", "ipykernel.debugger",
           "autograder.probe")


def _run_kernel(request: dict[str, Any]) -> None:
    """In the forked child: become the kernel that `python -m ipykernel_launcher ARGS` would be."""
    import random
    import runpy

    os.setsid()
    os.environ.clear()
    os.environ.update(request["env"])
    # ipykernel points matplotlib at the inline backend through this variable when it starts, but
    # matplotlib, imported by the zygote, read its backend before: set it as a fresh import would.
    os.environ.setdefault("MPLBACKEND", INLINE_BACKEND)
    if "matplotlib" in sys.modules:
        sys.modules["matplotlib"].rcParams["backend"] = os.environ["MPLBACKEND"]
    os.chdir(request["cwd"])
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the zygote's stdout is its pipe to the grader; stderr is the grader's
        os.dup2(devnull, fd)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    random.seed()
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed()
    sys.argv = ["ipykernel_launcher", *request["args"]]
    sys.path[0] = request["cwd"]
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


def zygote_main(sandboxed: bool) -> None:
    """Imports the heavy modules, then forks one kernel per request read on stdin."""
    import importlib

    out = sys.stdout
    try:
        for name in PRELOAD:
            importlib.import_module(name)
    except Exception as error:  # noqa: BLE001 - told to the grader, which cannot grade without it
        out.write(f"{type(error).__name__}: {error}\n")
        out.flush()
        return
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the system
    out.write("ready\n")
    out.flush()
    for line in sys.stdin:
        request = json.loads(line)
        if sandboxed:
            with contextlib.suppress(ProcessLookupError):  # what the previous kernel left, in this PID namespace only
                os.kill(-1, signal.SIGKILL)
        pid = os.fork()
        if pid == 0:
            try:
                _run_kernel(request)
            finally:
                os._exit(0)
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()


if __name__ == "__main__":
    zygote_main(sandboxed="--sandboxed" in sys.argv)
