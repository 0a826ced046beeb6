"""Before student code runs: can a sandboxed kernel start here and import what the hidden checks need?

Each answer says, for the instructor, what went wrong and how to fix it. `unavailable_reason` runs one
sandbox (`autograder.bubblewrap`) by hand; `require_sandbox` refuses to go on without one
(`SandboxUnavailable`), as every sandboxed kernel's provisioner does before it starts
(`autograder.provisioner`); `kernel_problem` starts a real kernel of a kernel spec, as grading would.
"""

from __future__ import annotations

import errno
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.bubblewrap import (KERNEL_MODULES, SOCKET_PATH_MAX, bwrap, bwrap_command, interpreter,
                                   kernel_environment, running_as_root, sandbox_uid)

PROBE_IMPORTS = ("autograder.probe", "autograder.codec", "torch")  # what a hidden check needs in the kernel
SECCOMP_PROFILE = "deploy/kubernetes/seccomp/dl-from-scratch-grader.json"


def how_to_fix(reason: str | None) -> str:
    """What the instructor can do when no sandbox starts, in French, for the cause `reason` gives."""
    if reason and "pivot_root" in reason:
        return ("le profil seccomp du conteneur refuse `pivot_root`, dont bubblewrap a besoin pour isoler le code "
                f"des étudiants : lancez le correcteur avec le profil livré, {SECCOMP_PROFILE} (Kubernetes : "
                "`securityContext.seccompProfile` de type Localhost, docs/cluster-sandbox.md ; podman ou docker : "
                "`--security-opt seccomp=<ce fichier>`)")
    return ("installez bubblewrap (`apt-get install bubblewrap`) sur une machine Linux où les espaces de noms "
            "utilisateur sont permis, ou corrigez sans isolation, à vos risques : `autograder grade --unsafe` "
            "ou `nbgrader autograde --SandboxProvisioner.unsafe=True`")


class SandboxUnavailable(RuntimeError):
    """Student code would run without isolation."""


# ------------------------------------------------------------------ a sandbox, here


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
        raise SandboxUnavailable(f"refus d'exécuter le code des étudiants sans bac à sable : {reason}. "
                                 f"Pour y remédier : {how_to_fix(reason)}.")


# ------------------------------------------------------------------ a kernel that runs the hidden checks


def _import_fix() -> str:
    return (f"installez-les dans l'environnement du correcteur ({sys.prefix}) ; du paquet autograder, un noyau "
            f"ne voit que {', '.join(KERNEL_MODULES)} (KERNEL_MODULES : ce qu'importent probe.py et zygote.py, "
            "autograder/package.py)")


def _start_problem(kernel_name: str, spec, error: BaseException) -> str:
    """Why a kernel did not start, and the fix: a sandbox that cannot run, a module it cannot import,
    or a kernel spec that is out of date."""
    cause = f"le noyau « {kernel_name} » ne démarre pas ({type(error).__name__}: {error})"
    if isinstance(error, SandboxUnavailable):
        return f"{cause}.\nPour y remédier : {how_to_fix(str(error))}."
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
