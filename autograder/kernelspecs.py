"""The kernel specs `autograder-sandbox` and `autograder-warm`: Python kernels started by our provisioners.

nbgrader picks them with `Execute.kernel_name` (see `nbgrader_config.py`); the provisioner is named in
the spec's metadata, as jupyter_client documents (`autograder.provisioner`, `autograder.warm`).
`autograder install-kernels` (and `make`) writes them into the environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from autograder.bubblewrap import interpreter
from autograder.provisioner import PROVISIONER_NAME


def install_kernelspecs(prefix: str = sys.prefix) -> list[Path]:
    """Writes both kernel specs into `prefix` (unless they are there already); returns their folders."""
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
