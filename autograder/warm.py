"""Warm kernels: IPython kernels forked from a process that has already imported the heavy modules.

Starting a kernel and importing torch, scikit-learn and matplotlib costs seconds per
submission. A *zygote* process imports them once (and nothing else runs in it);
each kernel is a fresh `fork()` of it, used for one notebook and then killed:

* the forked kernel has the zygote's imported modules, and no user state — the zygote
  never runs student code;
* what a submission does happens in its own process, invisible to the others;
* random generators are reseeded in every fork, as a fresh interpreter would be.

jupyter_client starts kernels through a *kernel provisioner*; `WarmProvisioner`
(entry point `autograder-warm`) asks the zygote for a fork instead of `Popen`. The
grading workers select it through the kernel spec of the same name
(`Execute.kernel_name`); everything else in nbgrader's pipeline is unchanged.

The zygote (`autograder.zygote`, all of it that runs in the sandbox) runs in a sandbox
(`autograder.bubblewrap`) whose only writable
folder is its own; each kernel works in a copy of its submission made there, and
before forking the next kernel the zygote kills every process left in its sandbox
(`kill(-1)` reaches only its own PID namespace).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.provisioning import LocalProvisioner

from autograder.bubblewrap import SINGLE_THREAD, bwrap_command, interpreter, kernel_environment, sandbox_uid
from autograder.provisioner import SandboxProvisioner, host_pid

PROVISIONER_NAME = "autograder-warm"
# ------------------------------------------------------------------ grader side


class Zygote:
    """A zygote process of this worker, sandboxed unless `unsafe`; `spawn` returns the pid of a new kernel."""

    _current: "Zygote | None" = None

    def __init__(self, python: str | None = None, sandboxed: bool = True):
        python = python or interpreter()
        self.sandboxed = sandboxed
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-zygote-"))
        self.uid = sandbox_uid() if sandboxed else None
        command = [python, "-m", "autograder.zygote", "--sandboxed" if sandboxed else "--unsafe"]
        env = {**os.environ, **SINGLE_THREAD, "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
        if sandboxed:
            if self.uid is not None:
                os.chown(self.folder, self.uid, self.uid)
            command = bwrap_command(command, writable=[self.folder], cwd=self.folder,
                                    env=kernel_environment(env, self.folder), uid=self.uid)
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.ready = False

    def wait_ready(self) -> None:
        """Waits for the preload to end (the zygote starts in the background); raises what stopped it."""
        if self.ready:
            return
        answer = self.process.stdout.readline().strip()
        if answer != "ready":
            self.close()
            failed = ImportError if answer.startswith(("ImportError", "ModuleNotFoundError")) else RuntimeError
            raise failed(f"the warm-kernel zygote did not start: {answer or 'no answer (its error is above)'}")
        self.ready = True

    @classmethod
    def current(cls, sandboxed: bool = True, wait: bool = True) -> "Zygote":
        """This process's zygote, started if needed; `wait=False` returns while it is still importing."""
        if cls._current is None or cls._current.process.poll() is not None or cls._current.sandboxed != sandboxed:
            if cls._current is not None:
                cls._current.close()
            else:
                atexit.register(lambda: cls._current and cls._current.close())
            cls._current = cls(sandboxed=sandboxed)
        if wait:
            cls._current.wait_ready()
        return cls._current

    def spawn(self, args: list[str], env: dict[str, str], cwd: str) -> int:
        self.process.stdin.write(json.dumps({"args": args, "env": env, "cwd": cwd}) + "\n")
        self.process.stdin.flush()
        pid = json.loads(self.process.stdout.readline())["pid"]
        return host_pid(pid, self.process.pid) if self.sandboxed else pid

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)


class ForkedKernel:
    """The `Popen`-like handle LocalProvisioner expects, for a process that is not our child."""

    stdin = stdout = stderr = None

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                self.returncode = -1  # the zygote reaped it: its exit status is not ours to read
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout)
            time.sleep(0.02)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ReadyClient(AsyncKernelClient):
    """jupyter_client's kernel client, but ready as soon as the kernel is.

    Once the kernel has answered `kernel_info` and IOPub has delivered a message (so it is connected),
    jupyter_client drains IOPub until it has been silent for 0.2 s: a fifth of a second lost at every
    kernel start, a copy's kernel start doubled. Silence of 10 ms is enough here: nbclient keeps only the
    messages whose parent is the request it sent, and a late startup message is no such message."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:  # what nbclient awaits
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            with contextlib.suppress(Empty):
                reply = await self.shell_channel.get_msg(timeout=1)
                if reply["msg_type"] == "kernel_info_reply":
                    with contextlib.suppress(Empty):
                        await self.iopub_channel.get_msg(timeout=0.2)
                        self._handle_kernel_info_reply(reply)
                        break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        with contextlib.suppress(Empty):
            while True:
                await self.iopub_channel.get_msg(timeout=0.01)


class WarmProvisioner(SandboxProvisioner):
    """Starts `python -m ipykernel_launcher …` kernels as forks of the worker's zygote."""

    def _require_sandbox(self) -> None:
        """The sandboxed zygote is the proof: it started in bubblewrap and imported torch (or says why not)."""
        Zygote.current()

    def _box_parent(self) -> Path | None:
        return Zygote.current().folder

    async def launch_kernel(self, cmd: list[str], **kwargs: Any):
        if cmd[1:3] != ["-m", "ipykernel_launcher"]:  # not a Python kernel of ours: start it normally
            return await super().launch_kernel(cmd, **kwargs)
        env = {k: str(v) for k, v in (kwargs.get("env") or os.environ).items()}
        cwd = str(kwargs.get("cwd") or os.getcwd())
        pid = Zygote.current(sandboxed=not self.unsafe).spawn(cmd[3:], env, cwd)
        self.process = ForkedKernel(pid)
        self.pid = self.pgid = pid
        self.cwd = cwd
        await self._sockets_bound()
        return self.connection_info

    async def _sockets_bound(self, timeout: float = 10.0) -> None:
        """Until the kernel has made its local sockets: a client that connects before retries only 100 ms later."""
        info = self.connection_info
        if info.get("transport") != "ipc":
            return
        paths = [Path(f"{info['ip']}-{info[name]}") for name in ("shell_port", "iopub_port", "control_port")]
        deadline = time.monotonic() + timeout
        while not all(path.exists() for path in paths) and time.monotonic() < deadline:
            if self.process.poll() is not None:
                return
            await asyncio.sleep(0.002)

    async def kill(self, restart: bool = False) -> None:
        """Returns once a killed fork is gone (a few ms), which jupyter_client would check every 100 ms."""
        await super().kill(restart)
        if isinstance(self.process, ForkedKernel):
            deadline = time.monotonic() + 1.0
            while self.process.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.005)

    async def send_signal(self, signum: int) -> None:
        if isinstance(self.process, ForkedKernel):  # its own process group, seen from here
            return await LocalProvisioner.send_signal(self, signum)
        return await super().send_signal(signum)


