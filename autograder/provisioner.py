"""`SandboxProvisioner`: the jupyter_client kernel provisioner that starts each kernel in its own sandbox.

It is the entry point `autograder-sandbox` (group `jupyter_client.kernel_provisioners`). The kernel spec
of the same name (`autograder.kernelspecs`) names it, and the course's `nbgrader_config.py` sets
`Execute.kernel_name` to it, so every kernel that nbgrader starts (autograde, validate) is sandboxed as
`autograder.bubblewrap` describes: in a `KernelBox` of its own, talking to the grader over IPC. Where
bubblewrap cannot run, starting a kernel fails with `SandboxUnavailable` (`autograder.preflight`) unless
`SandboxProvisioner.unsafe` is set.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from jupyter_client.provisioning import LocalProvisioner
from traitlets import Bool, Int, Unicode

from autograder.bubblewrap import bwrap_command, kernel_environment, running_as_root, sandbox_uid, short_temp_root
from autograder.preflight import require_sandbox

PROVISIONER_NAME = "autograder-sandbox"
KERNEL_NAMESPACE_PID = 2  # in its PID namespace, after bwrap's reaper (pid 1)


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
