"""A JupyterHub classroom for the course on one machine: settings, installation, accounts.

Run as root (it creates accounts and system folders):

    python deploy/classroom.py install   # environments, proxy, accounts, course, exchange (idempotent)
    python deploy/classroom.py logins    # how to log in
    python deploy/classroom.py serve     # the hub, in the foreground (`make hub`)
    python deploy/classroom.py reset     # fresh homes, exchange, course and hub state (tests)

`deploy/jupyterhub_config.py` reads the same settings (`Classroom.from_environment`).
What lives where (prefix `/opt/dl-from-scratch` by default):

* `student-env/`: the students' Python, from environment.yml, with the student kit (the checks of
  every TP for their self-check, **without** the reference solutions: `autograder.student_kit`);
  world-readable. Its `etc/jupyter/nbgrader_config.py` is the global nbgrader config.
* `grader-env/`: the same plus `autograder` (which holds the reference solutions) and
  bubblewrap's kernel specs; readable by root and the grader accounts (group `autograder`) only.
* `proxy/`: configurable-http-proxy from npm. `hub/<course>/`: the hub's database, cookie secret,
  and `passwords` (root only).
* `/home/grader-<course>/<course>/`: the course directory (source/, nbgrader_config.py,
  gradebook), in the grader account's home (0700). The formgrader service runs there.
* `/srv/nbgrader/exchange`: nbgrader's exchange, writable by everyone (nbgrader's own rules
  keep students out of each other's submissions).
"""

from __future__ import annotations

import argparse
import filecmp
import grp
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DEPLOY = REPO / "deploy"
STUDENT_PYTHON = "/usr/bin/python3.11"  # a system interpreter every account can run
COURSE_ID = "dl-from-scratch"  # nbgrader_config.py's
GRADERS_GROUP = "autograder"    # the only accounts that may read grader-env (the `autograder` package)
CONDA_TO_PIP = {"pytorch": "torch", "python": None, "cpuonly": None}  # environment.yml names → pip


def _yes(value: str) -> bool:
    return value.strip().lower() not in ("0", "false", "no", "non", "off")


def _names(value: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in value.split(",") if name.strip())


@dataclass(frozen=True)
class Classroom:
    course: str = COURSE_ID
    prefix: Path = Path("/opt/dl-from-scratch")
    exchange: Path = Path("/srv/nbgrader/exchange")
    instructors: tuple[str, ...] = ("prof",)
    students: tuple[str, ...] = ("etudiant1", "etudiant2")
    cpu_limit: float = 1.0          # cores per student server (and OMP_NUM_THREADS)
    mem_limit: str = "2G"           # per student server, kernels included
    port: int = 8000
    service_port: int = 9999
    cull_timeout: int = 3600        # s without activity before a student's server is stopped (0: never)
    live: bool = True               # « la séance en direct »: self-checks reported to the instructors' page
    share_memory: bool = True       # students' kernels share their libraries' memory (classroom_kernel.py)

    @classmethod
    def from_environment(cls, env=os.environ) -> Classroom:
        """Defaults, overridden by CLASSROOM_* variables (the test and `make hub` use them)."""
        values = {}
        for name, kind in [("course", str), ("prefix", Path), ("exchange", Path), ("instructors", _names),
                           ("students", _names), ("cpu_limit", float), ("mem_limit", str), ("port", int),
                           ("service_port", int), ("cull_timeout", int), ("live", _yes),
                           ("share_memory", _yes)]:
            variable = f"CLASSROOM_{name.upper()}"
            if env.get(variable):
                values[name] = kind(env[variable])
        return cls(**values)

    @property
    def grader(self) -> str:
        return f"grader-{self.course}"

    @property
    def student_env(self) -> Path:
        return self.prefix / "student-env"

    @property
    def grader_env(self) -> Path:
        return self.prefix / "grader-env"

    @property
    def hub_dir(self) -> Path:
        return self.prefix / "hub" / self.course

    @property
    def proxy(self) -> Path:
        return self.prefix / "proxy" / "node_modules" / ".bin" / "configurable-http-proxy"

    @property
    def grader_home(self) -> Path:
        return Path("/home") / self.grader

    @property
    def course_root(self) -> Path:
        return self.grader_home / self.course

    @property
    def passwords_file(self) -> Path:
        return self.hub_dir / "passwords.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def accounts(self) -> tuple[str, ...]:
        return (*self.instructors, *self.students)

    def mem_bytes(self) -> int:
        units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
        text = self.mem_limit.strip().upper()
        return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


# ------------------------------------------------------------------ installation


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(command), flush=True)
    return subprocess.run(command, check=True, **kwargs)


def student_requirements() -> list[str]:
    """The pip requirements of environment.yml (the students' kernel environment)."""
    requirements = []
    for dependency in yaml.safe_load((REPO / "environment.yml").read_text())["dependencies"]:
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)(.*)", dependency.replace(" ", "")).groups()
        if re.fullmatch(r"=[^=].*", version):  # conda's single `=` pin
            version = "=" + version
        pip_name = CONDA_TO_PIP.get(name, name)
        if pip_name:
            requirements.append(pip_name + version)
    return requirements


def hub_version() -> str:
    import jupyterhub
    return jupyterhub.__version__


def build_env(env: Path, packages: list[str]) -> None:
    if not (env / "bin" / "python").exists():
        run(STUDENT_PYTHON, "-m", "venv", str(env))
    run(str(env / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", *packages)


def install_env_config(env: Path) -> None:
    """The environment's own (sys-prefix) Jupyter config: deploy/nbgrader_config.py, terminals, lab.

    Terminals run a non-login bash: a login shell would reset PATH from /etc/profile and lose
    the environment's bin/ (`python`, `nbgrader`, `autograder`) that the hub put first.
    """
    target = env / "etc" / "jupyter"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(DEPLOY / "nbgrader_config.py", target / "nbgrader_config.py")
    terminals = {"ServerApp": {"terminado_settings": {"shell_command": ["/bin/bash"]}}}
    (target / "jupyter_server_config.json").write_text(json.dumps(terminals, indent=1))
    # no "get notified about Jupyter news?" prompt: nothing to fetch from a classroom
    lab_settings = env / "share" / "jupyter" / "lab" / "settings"
    lab_settings.mkdir(parents=True, exist_ok=True)
    overrides = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false"}}
    (lab_settings / "overrides.json").write_text(json.dumps(overrides, indent=1))


def install_student_kernel(env: Path) -> None:
    """The notebooks' `python3` kernel becomes deploy/classroom_kernel.py (the same ipykernel, launched so
    that students' kernels can share their libraries' memory)."""
    site = next((env / "lib").glob("python3*/site-packages"))
    shutil.copy(DEPLOY / "classroom_kernel.py", site / "classroom_kernel.py")
    spec_file = env / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    spec = json.loads(spec_file.read_text())
    spec["argv"] = [str(env / "bin" / "python"), "-m", "classroom_kernel", "-f", "{connection_file}"]
    spec_file.write_text(json.dumps(spec, indent=1))


def install_student_kit(env: Path) -> None:
    """The checks of every TP, without the reference solutions, for the students' self-check."""
    from autograder import student_kit
    with tempfile.TemporaryDirectory() as folder:
        kit = student_kit.build(Path(folder) / "autograder-checks")
        student_kit.install(kit, str(env / "bin" / "python"))
    leaked = sorted(str(p) for p in env.rglob("reference.py") if p.parent.parent.name == "autograder")
    if leaked:
        raise SystemExit(f"reference solutions in the students' environment: {leaked}")


def disable_instructor_tools(env: Path) -> None:
    """Students get the Assignments list and Validate, not formgrader or Create Assignment."""
    jupyter = str(env / "bin" / "jupyter")
    run(jupyter, "server", "extension", "disable", "--sys-prefix", "nbgrader.server_extensions.formgrader")
    for plugin in ("formgrader", "create-assignment"):
        run(jupyter, "labextension", "disable", "--level=sys_prefix", f"@jupyter/nbgrader:{plugin}")
        run(jupyter, "labextension", "lock", "--level=sys_prefix", f"@jupyter/nbgrader:{plugin}")


def install_envs(room: Classroom) -> None:
    stamp = room.prefix / ".envs-installed"
    base = [*student_requirements(), f"jupyterhub=={hub_version()}"]
    wanted = json.dumps({"requirements": base, "code": _fingerprint(REPO / "autograder", DEPLOY)})
    if stamp.exists() and stamp.read_text() == wanted:
        return
    build_env(room.student_env, base)
    install_student_kit(room.student_env)
    install_student_kernel(room.student_env)
    install_env_config(room.student_env)
    disable_instructor_tools(room.student_env)
    room.student_env.chmod(0o755)
    build_env(room.grader_env, base)
    # a copy (not an editable install): the grader account never needs to read this checkout
    run(str(room.grader_env / "bin" / "pip"), "install", "--quiet", "--no-deps", "--force-reinstall",
        "--disable-pip-version-check", str(REPO))
    run(str(room.grader_env / "bin" / "python"), "-c",  # as root: the environment is root's to write
        "from autograder.kernelspecs import install_kernelspecs; install_kernelspecs()")
    install_env_config(room.grader_env)
    # the grader environment (reference solutions inside) is for the grader accounts only
    os.chown(room.grader_env, 0, grp.getgrnam(GRADERS_GROUP).gr_gid)
    room.grader_env.chmod(0o750)
    # the grader account grades: check that its kernels get a sandbox (the kernel specs are written)
    run("runuser", "-u", room.grader, "--", str(room.grader_env / "bin" / "autograder"), "install-kernels",
        cwd="/")
    stamp.write_text(wanted)


def _fingerprint(*folders: Path) -> str:
    """Of the Python files below `folders`: the package copied into grader-env, the configs copied into both."""
    digest = hashlib.sha256()
    for path in sorted(p for folder in folders for p in folder.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def install_proxy(room: Classroom) -> None:
    if room.proxy.exists():
        return
    folder = room.proxy.parent.parent.parent
    folder.mkdir(parents=True, exist_ok=True)
    run("npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder),
        "configurable-http-proxy@4")


def ensure_account(name: str, passwords: dict[str, str], *, login: bool = True) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        # a shell even for the grader account (no password): terminals of the formgrader run it
        run("useradd", "--create-home", "--shell", "/bin/bash", name)
    home = Path(pwd.getpwnam(name).pw_dir)
    home.mkdir(exist_ok=True)
    shutil.chown(home, name, name)
    home.chmod(0o700)
    if login:
        passwords.setdefault(name, secrets.token_urlsafe(9))
        subprocess.run(["chpasswd"], input=f"{name}:{passwords[name]}\n", text=True, check=True)


def install_accounts(room: Classroom) -> None:
    room.hub_dir.mkdir(parents=True, exist_ok=True)
    room.hub_dir.chmod(0o700)
    passwords = json.loads(room.passwords_file.read_text()) if room.passwords_file.exists() else {}
    for name in room.accounts:
        ensure_account(name, passwords)
    ensure_account(room.grader, passwords, login=False)
    run("groupadd", "--force", GRADERS_GROUP)  # the grader accounts of every course served here
    run("usermod", "--append", "--groups", GRADERS_GROUP, room.grader)
    room.passwords_file.write_text(json.dumps(passwords, indent=1))
    room.passwords_file.chmod(0o600)


def install_course(room: Classroom) -> None:
    """The course directory in the grader's home: source/ (each TP, the shared files) and nbgrader_config.py.

    What is there already is the instructors' and stays as it is (a note says when the
    repository's version differs); `reset` starts from the repository's.
    """
    owner = pwd.getpwnam(room.grader)
    (room.course_root / "source").mkdir(parents=True, exist_ok=True)
    for item in sorted((REPO / "source").iterdir()):
        target = room.course_root / "source" / item.name
        if not target.exists() and item.is_dir():
            shutil.copytree(item, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        elif not target.exists():  # files every TP shares (source/outils.py, written into the notebooks)
            shutil.copy2(item, target)
        elif _differs(item, target):
            print(f"kept {target}: it differs from {item}", flush=True)
    course_config = room.course_root / "nbgrader_config.py"
    ours = (REPO / "nbgrader_config.py").read_text()
    if room.course != COURSE_ID:  # the kit served under another course id (the classroom test's `dl-test`)
        ours += f"\n# deploy/classroom.py: this course's id\nc.CourseDirectory.course_id = {room.course!r}\n"
    if not course_config.exists():
        course_config.write_text(ours)
    elif course_config.read_text() != ours:
        print(f"kept {course_config}: it differs from the repository's", flush=True)
    user_config = room.grader_home / ".jupyter" / "nbgrader_config.py"
    user_config.parent.mkdir(exist_ok=True)
    user_config.write_text("c = get_config()  # noqa: F821 - written by deploy/classroom.py\n"
                           f"c.CourseDirectory.root = {str(room.course_root)!r}\n"
                           f"c.CourseDirectory.course_id = {room.course!r}\n")
    for path in [room.grader_home / ".jupyter", *room.grader_home.joinpath(".jupyter").rglob("*"),
                 room.course_root, *room.course_root.rglob("*")]:
        os.chown(path, owner.pw_uid, owner.pw_gid)


def _differs(ours: Path, theirs: Path) -> bool:
    if ours.is_file() or theirs.is_file():
        return not (ours.is_file() and theirs.is_file() and filecmp.cmp(ours, theirs, shallow=False))
    compared = filecmp.dircmp(ours, theirs, ignore=[".ipynb_checkpoints"])
    return bool(compared.diff_files or compared.left_only or compared.right_only)


def install_exchange(room: Classroom) -> None:
    room.exchange.mkdir(parents=True, exist_ok=True)
    room.exchange.chmod(0o777)  # nbgrader's exchange: every account writes its inbound there


def install(room: Classroom) -> None:
    if os.geteuid() != 0:
        sys.exit("deploy/classroom.py install must run as root: it creates accounts and system folders.")
    room.prefix.mkdir(parents=True, exist_ok=True)
    room.prefix.chmod(0o755)
    install_proxy(room)
    install_accounts(room)
    install_envs(room)
    install_course(room)
    install_exchange(room)


def reset(room: Classroom) -> None:
    """Fresh homes, course, exchange and hub database: what the classroom test starts from."""
    for name in (*room.accounts, room.grader):
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)
        try:
            home = Path(pwd.getpwnam(name).pw_dir)
        except KeyError:
            continue
        shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(room.exchange / room.course, ignore_errors=True)
    for name in ("jupyterhub.sqlite", "jupyterhub_cookie_secret"):
        (room.hub_dir / name).unlink(missing_ok=True)
    install(room)


def logins(room: Classroom) -> str:
    passwords = json.loads(room.passwords_file.read_text())
    lines = [f"JupyterHub: {room.url}/hub/login", ""]
    for name in room.instructors:
        lines.append(f"  instructor  {name:12} password {passwords[name]}   (formgrader: "
                     f"{room.url}/services/{room.course}/formgrader)")
    for name in room.students:
        lines.append(f"  student     {name:12} password {passwords[name]}")
    from autograder.course import assignments  # the course's TPs, as `make release` and `make demo` find them
    lines += ["", f"Grade in the formgrader's terminal ({room.url}/services/{room.course}/lab), as {room.grader}:",
              *(f"  autograder grade {tp}" for tp in assignments(REPO))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["install", "reset", "logins", "serve"])
    action = parser.parse_args(argv).action
    room = Classroom.from_environment()
    if action == "install":
        install(room)
        print(f"classroom installed under {room.prefix}; `make hub` starts it", flush=True)
        return 0
    if action == "reset":
        reset(room)
    print(logins(room), flush=True)
    if action == "serve":  # the hub in the foreground, in its state folder
        os.chdir(room.hub_dir)
        hub = Path(sys.executable).parent / "jupyterhub"
        os.execv(hub, [str(hub), "-f", str(DEPLOY / "jupyterhub_config.py")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
