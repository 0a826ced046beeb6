"""The cluster's two images, run as the cluster runs them, short of Kubernetes (`make test-images`).

Root only, with podman, after `make images` (deploy/kubernetes/images/build). The containers are given
what the cluster's manifests give them, read from those manifests:

* the grader image as deploy/kubernetes/grader.yaml runs it: the init container seeds the course
  volume, then the grader container (its user, the runtime's default capabilities plus the
  manifest's, AppArmor unconfined, the shipped Localhost seccomp profile, the ConfigMap's global
  nbgrader config, no network but loopback) grades a TP's sample class with `autograder grade`, each
  kernel in bubblewrap, and gets what `make demo` gets; under the runtime's default seccomp profile
  grading refuses, says why and how to fix it, and records nothing; with its own args it serves the
  formgrader as the hub's service `dl-from-scratch`;
* the student image as z2jh's spawner starts it: `jupyterhub-singleuser` as the image's user, spawned
  by a real JupyterHub: JupyterLab answers with nbgrader's student extensions and not the formgrader, the
  kit holds the checks and no solution, a TP's release notebook runs top to bottom with its self-check.

The sample class and its expected scores are those of `make demo` (samples/<tp>/students.py, and the
rule tests/contract/test_contract.py applies to them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from autograder.demo import sample_module
from conftest import REPO
from contract.test_contract import expected_scores

TP = os.environ.get("IMAGES_TP", "tp09")
TAG = os.environ.get("TAG", "local")
STUDENT_IMAGE = f"localhost/dl-from-scratch-student:{TAG}"
GRADER_IMAGE = f"localhost/dl-from-scratch-grader:{TAG}"
KUBE = REPO / "deploy" / "kubernetes"
# This machine refuses podman's default rlimits ("error setting rlimit … operation not permitted").
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096"]
# The capabilities containerd and CRI-O give a container by default (podman's own default is shorter);
# a manifest's `capabilities.add` comes on top. Same list as tests/system/test_seccomp_profile.py.
RUNTIME_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
                        "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE"]
# podman's default seccomp profile (Debian package golang-github-containers-common), CRI-O's too
CONTAINERS_DEFAULT_PROFILE = Path("/usr/share/containers/seccomp.json")


def podman(*args: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert done.returncode == 0, f"podman {' '.join(args[:3])} …: {done.stdout[-3000:]}{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="session", autouse=True)
def images():
    if os.geteuid() != 0:
        pytest.fail("make test-images runs containers with podman as root: run it as root")
    if shutil.which("podman") is None:
        pytest.fail("podman is missing: apt-get install podman (or `make images`, which installs it)")
    missing = [image for image in (STUDENT_IMAGE, GRADER_IMAGE)
               if podman("image", "exists", image, check=False).returncode != 0]
    if missing:
        pytest.fail(f"{', '.join(missing)}: not built; run `make images` first")


# ---------------------------------------------------------------- the grader pod, from grader.yaml


def grader_pod() -> dict:
    docs = [d for d in yaml.safe_load_all((KUBE / "grader.yaml").read_text()) if d]
    configmap = next(d for d in docs if d["kind"] == "ConfigMap")
    template = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]
    return {"spec": template["spec"], "annotations": template["metadata"].get("annotations", {}),
            "configmap": configmap["data"]}


def security_args(container: dict, pod: dict, seccomp: str | Path | None = "manifest") -> list[str]:
    """podman's flags for what a container's securityContext (and its pod's) asks of the runtime.

    `seccomp`: "manifest" for the profile the manifest names (a Localhost one is the repository's file,
    deploy/kubernetes/seccomp/, as the nodes get it), or a profile file standing for the runtime's default."""
    context = container.get("securityContext", {})
    user = f"{context.get('runAsUser', 0)}:{context.get('runAsGroup', context.get('runAsUser', 0))}"
    args = ["--user", user, "--cap-drop", "all"]
    capabilities = context.get("capabilities", {})
    assert "drop" not in capabilities or capabilities["drop"] == ["ALL"], capabilities
    if capabilities.get("drop") != ["ALL"]:
        for capability in [*RUNTIME_CAPABILITIES, *capabilities.get("add", [])]:
            args += ["--cap-add", capability]
    if context.get("allowPrivilegeEscalation") is False:
        args += ["--security-opt", "no-new-privileges"]
    assert not context.get("privileged"), "a privileged container: not what grader.yaml runs"
    apparmor = pod["annotations"].get(f"container.apparmor.security.beta.kubernetes.io/{container['name']}")
    if apparmor == "unconfined":
        args += ["--security-opt", "apparmor=unconfined"]
    if seccomp == "manifest":
        profile = context.get("seccompProfile") or pod["spec"].get("securityContext", {}).get("seccompProfile")
        if profile["type"] == "Localhost":
            shipped = KUBE / "seccomp" / Path(profile["localhostProfile"]).name
            assert shipped.is_file(), f"grader.yaml names {profile['localhostProfile']}, not in {shipped.parent}"
            args += ["--security-opt", f"seccomp={shipped}"]
        else:
            assert profile["type"] == "RuntimeDefault", profile  # podman's default profile
    elif seccomp is not None:
        args += ["--security-opt", f"seccomp={seccomp}"]
    return args


def env_args(container: dict) -> list[str]:
    """The container's plain environment variables (not those a Secret gives: no hub here)."""
    return [f"--env={e['name']}={e['value']}" for e in container.get("env", []) if "value" in e]


def runtime_default_without_pivot_root(folder: Path) -> Path:
    """What containerd's and Docker's default profiles are to bubblewrap: podman's (containers/common's)
    default profile, which allows pivot_root as CRI-O's does, with pivot_root taken out. It is the one call
    of bubblewrap's their defaults refuse to a container granted CAP_SYS_ADMIN (docs/cluster-sandbox.md)."""
    assert CONTAINERS_DEFAULT_PROFILE.is_file(), f"{CONTAINERS_DEFAULT_PROFILE} is missing (Debian: containers-common)"
    profile = json.loads(CONTAINERS_DEFAULT_PROFILE.read_text())
    assert any("pivot_root" in rule["names"] and rule["action"] == "SCMP_ACT_ALLOW" for rule in profile["syscalls"])
    for rule in profile["syscalls"]:
        rule["names"] = [name for name in rule["names"] if name != "pivot_root"]
    profile["syscalls"] = [rule for rule in profile["syscalls"] if rule["names"]]
    profile.update(defaultErrno="EPERM", defaultErrnoRet=1)  # as theirs (containers/common answers ENOSYS)
    path = folder / "runtime-default-without-pivot_root.json"
    path.write_text(json.dumps(profile))
    return path


# Run in the grader container, in the course directory, as the grader runs it from its terminal
# (`kubectl exec`): `prepare` releases the TP and hands in the sample class as `make demo` does (each copy
# run as its student runs it), `grade` runs `autograder grade` and reports what the gradebook holds.
IN_THE_GRADER = r"""
import json, os, runpy, subprocess, sys
from pathlib import Path
from autograder import gradebook
from autograder.demo import hand_in, nbgrader
from autograder.grading import db_url
what, tp = sys.argv[1], sys.argv[2]
course = Path.cwd()
if what == "prepare":
    assert nbgrader(course, "generate_assignment", tp, "--force") == 0
    hand_in(course, tp, runpy.run_path("/samples/students.py")["STUDENTS"], run=True)
    print(json.dumps({"submitted": sorted(p.name for p in (course / "submitted").iterdir())}))
else:
    done = subprocess.run(["autograder", "grade", tp], capture_output=True, text=True)
    print(json.dumps({"returncode": done.returncode, "output": (done.stdout + done.stderr)[-4000:],
                      "scores": gradebook.cell_scores(db_url(course), tp),
                      "autograded": sorted(p.name for p in (course / "autograded").glob("*")),
                      "feedback": sorted(p.name for p in (course / "feedback").glob("*")),
                      "seccomp": [l.split()[1] for l in open("/proc/self/status") if l.startswith("Seccomp:")][0],
                      "uid": os.getuid(), "network": sorted(os.listdir("/sys/class/net"))}))
"""


@pytest.fixture(scope="module")
def grader(tmp_path_factory):
    """run(what, seccomp): IN_THE_GRADER in a grader container, as grader.yaml runs it, on one course volume
    that grader.yaml's init container seeded; its JSON answer."""
    pod, folder = grader_pod(), tmp_path_factory.mktemp("grader-pod")
    spec = pod["spec"]
    course, scratch, config = folder / "course", folder / "scratch", folder / "nbgrader_config.py"
    course.mkdir()
    config.write_text(pod["configmap"]["nbgrader_config.py"])
    (init,) = spec["initContainers"]
    grader_container = next(c for c in spec["containers"] if c["name"] == "grader")
    volumes = {v["name"]: v for v in spec["volumes"]}

    def mounts(container: dict) -> list[str]:
        args = []
        for mount in container.get("volumeMounts", []):
            volume = volumes[mount["name"]]
            if "persistentVolumeClaim" in volume:
                args += ["--volume", f"{course}:{mount['mountPath']}"]
            elif "configMap" in volume:
                args += ["--volume", f"{config}:{mount['mountPath']}:ro"]
            elif "emptyDir" in volume:
                scratch.mkdir(exist_ok=True)
                scratch.chmod(0o1777)
                args += ["--volume", f"{scratch}:{mount['mountPath']}"]
            else:
                raise AssertionError(f"a volume this test does not know: {volume}")
        return args

    base = ["run", "--rm", "--network", "none"]
    # the init container, with its args, as the pod's first start runs it
    podman(*base, *LIMITS, *security_args(init, pod), *mounts(init), GRADER_IMAGE, *init["args"])
    assert sorted(os.listdir(course)) == ["nbgrader_config.py", "release", "source"]
    memory = grader_container["resources"]["limits"]["memory"].replace("Gi", "g")

    def flags(seccomp="manifest") -> list[str]:
        """podman's flags for the grader container of grader.yaml, on this course volume."""
        return [*LIMITS, *security_args(grader_container, pod, seccomp), *mounts(grader_container),
                *env_args(grader_container), "--workdir", grader_container["workingDir"], "--memory", memory]

    def run(what: str, seccomp="manifest") -> dict:
        done = podman(*base, *flags(seccomp), "--name", f"grader-{uuid.uuid4().hex[:8]}",
                      "--volume", f"{REPO / 'samples' / TP}:/samples:ro",
                      GRADER_IMAGE, "python", "-c", IN_THE_GRADER, what, TP)
        return json.loads(done.stdout.strip().splitlines()[-1])
    run.course, run.flags, run.container = course, flags, grader_container
    return run


def test_the_grader_image_grades_the_sample_class_under_the_shipped_profile_only(grader):
    students = sample_module(TP)["STUDENTS"]
    assert grader("prepare")["submitted"] == sorted(students)

    # the runtime's default profile, as containerd's and Docker's are: no sandbox, so no grading
    refused = grader("grade", seccomp=runtime_default_without_pivot_root(grader.course.parent))
    assert refused["returncode"] != 0 and refused["seccomp"] == "2", refused
    assert "refus de corriger" in refused["output"] and "pivot_root: Operation not permitted" in refused["output"]
    assert "Pour y remédier" in refused["output"] and "dl-from-scratch-grader.json" in refused["output"], refused["output"]
    assert refused["scores"] == {} and refused["autograded"] == [] and refused["feedback"] == [], refused

    # the shipped profile: every copy graded, each kernel in bubblewrap, as `make demo` grades them
    graded = grader("grade")
    assert graded["returncode"] == 0, graded["output"]
    assert (graded["uid"], graded["seccomp"], graded["network"]) == (0, "2", ["lo"])
    assert graded["scores"] == expected_scores(TP, list(students))
    print(f"\n{TP} in the grader image: " + json.dumps(
        {student: sum(cells.values()) for student, cells in graded["scores"].items()}))


# ---------------------------------------------------------------- the student image, spawned by a hub

# z2jh's KubeSpawner starts the image's ENTRYPOINT (tini) with `jupyterhub-singleuser` as its arguments, as
# uid 1000 (singleuser.uid), privilege escalation off, the runtime's default seccomp profile and capabilities,
# the home volume at /home/jovyan, values.yaml's singleuser.extraEnv and extraFiles, and the hub's
# JUPYTERHUB_* variables. Here a real JupyterHub (the test environment's) spawns it with podman: the
# container shares the machine's network (everything stays on 127.0.0.1), where a pod has the cluster's.
STUDENT_USER = "etudiante"
HUB_CONFIG = r"""
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {proxy_port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {workdir!r}
c.Spawner.cmd = {cmd!r}
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 180
c.JupyterHub.services = [{{"name": "images-test", "api_token": {token!r}}}, {formgrader!r}]
c.JupyterHub.load_roles = [{{"name": "images-test", "services": ["images-test"],
                             "scopes": ["admin:users", "admin:servers", "tokens", "access:services"]}}]
"""
FORMGRADER = "dl-from-scratch"  # values.yaml's hub.services: the grader pod's formgrader


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(url: str, token: str, method: str = "GET", body=None, timeout: float = 60) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")
    except urllib.error.URLError as error:  # not listening (yet)
        return 0, str(error)


def configurable_http_proxy() -> Path:
    """The hub's proxy (npm's configurable-http-proxy 4), installed once under build/."""
    folder = REPO / "build" / "images-test" / "proxy"
    proxy = folder / "node_modules" / ".bin" / "configurable-http-proxy"
    if not proxy.exists():
        if shutil.which("npm") is None:
            pytest.fail("npm is missing (Debian: apt-get install npm): the hub's proxy comes from npm")
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(folder),
                        "configurable-http-proxy@4"], check=True, timeout=600)
    return proxy


def singleuser_pod() -> dict:
    """values.yaml's `singleuser`: what z2jh gives every student's pod."""
    return yaml.safe_load((KUBE / "values.yaml").read_text())["singleuser"]


@pytest.fixture(scope="module")
def student_server(tmp_path_factory):
    """A real JupyterHub that spawns the student image for STUDENT_USER; yields the server's URL, a token of
    that user, and `exec`, which runs a command in the student's container as the image's user."""
    folder = tmp_path_factory.mktemp("hub")
    values = singleuser_pod()
    home = folder / "home"
    home.mkdir()
    os.chown(home, 1000, 1000)  # the home volume, writable by uid 1000 (z2jh's fsGroup does it there)
    etc = folder / "etc-jupyter"
    etc.mkdir()
    extra = []
    for name, item in values["extraFiles"].items():
        path = etc / Path(item["mountPath"]).name
        path.write_text(item["stringData"] if "stringData" in item else json.dumps(item["data"]))
        extra += ["--volume", f"{path}:{item['mountPath']}:ro"]
    container = f"images-test-{uuid.uuid4().hex[:8]}"
    cmd = ["podman", "run", "--rm", "--name", container, *LIMITS, "--network", "host",
           "--user", str(values.get("uid", 1000)), "--cap-drop", "all",
           *[arg for capability in RUNTIME_CAPABILITIES for arg in ("--cap-add", capability)],
           "--security-opt", "no-new-privileges",
           "--memory", values["memory"]["limit"].lower(), "--cpus", str(values["cpu"]["limit"]),
           "--volume", f"{home}:{values['storage']['homeMountPath']}",
           *extra, *[f"--env={k}={v}" for k, v in values["extraEnv"].items()],
           "--env", "JUPYTERHUB_*",  # the hub's variables, from the spawner's environment
           STUDENT_IMAGE, "jupyterhub-singleuser"]
    token, formgrader_token = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    proxy_port, hub_port, formgrader_port = free_port(), free_port(), free_port()
    # values.yaml's service, at the address where the test starts the grader container
    service = yaml.safe_load((KUBE / "values.yaml").read_text())["hub"]["services"][FORMGRADER]
    service = {**service, "name": FORMGRADER, "url": f"http://127.0.0.1:{formgrader_port}",
               "api_token": formgrader_token}
    (folder / "jupyterhub_config.py").write_text(HUB_CONFIG.format(
        proxy_port=proxy_port, hub_port=hub_port, proxy_api_port=free_port(), proxy=str(configurable_http_proxy()),
        workdir=str(folder / "spawner-cwd"), cmd=cmd, token=token, formgrader=service))
    log = open(folder / "hub.log", "w")
    hub = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f", "jupyterhub_config.py"],
                           cwd=folder, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{proxy_port}"
    try:
        deadline = time.monotonic() + 120
        while http(f"{base}/hub/api/", token)[0] != 200:
            assert hub.poll() is None and time.monotonic() < deadline, (folder / "hub.log").read_text()[-3000:]
            time.sleep(0.5)
        assert http(f"{base}/hub/api/users/{STUDENT_USER}", token, "POST")[0] == 201
        status, answer = http(f"{base}/hub/api/users/{STUDENT_USER}/tokens", token, "POST", {"note": "test"})
        assert status == 201, answer
        user_token = json.loads(answer)["token"]
        assert http(f"{base}/hub/api/users/{STUDENT_USER}/server", token, "POST")[0] in (201, 202)
        deadline = time.monotonic() + 240
        while not json.loads(http(f"{base}/hub/api/users/{STUDENT_USER}", token)[1]).get("servers", {}).get(
                "", {}).get("ready"):
            assert time.monotonic() < deadline, (folder / "hub.log").read_text()[-3000:]
            time.sleep(1)

        def exec_(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
            return podman("exec", "--workdir", values["storage"]["homeMountPath"], container, *args, timeout=timeout)
        yield {"url": f"{base}/user/{STUDENT_USER}", "token": user_token, "exec": exec_, "home": home,
               "hub": base, "admin_token": token, "hub_api": f"http://127.0.0.1:{hub_port}/hub/api",
               "formgrader_port": formgrader_port, "formgrader_token": formgrader_token}
        http(f"{base}/hub/api/users/{STUDENT_USER}/server", token, "DELETE")
    finally:
        hub.terminate()
        try:
            hub.wait(30)
        except subprocess.TimeoutExpired:
            hub.kill()
        podman("rm", "--force", "--ignore", container, check=False)
        log.close()


def test_the_student_image_serves_jupyterlab_with_the_student_extensions_only(student_server):
    url, token = student_server["url"], student_server["token"]
    status, page = http(f"{url}/lab", token)
    assert status == 200 and "JupyterLab" in page, page[:1000]
    config = json.loads(re.search(r'<script id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))
    assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= set(config["disabledExtensions"])
    assert "@jupyter/nbgrader" in {e["name"] for e in config["federated_extensions"]}
    # the server extensions: the students' ones answer, the formgrader's does not exist
    assert http(f"{url}/nbgrader_version?version=0.9.6", token)[0] == 200
    assert http(f"{url}/formgrader", token)[0] == 404
    # the server runs as the image's user, under tini
    who = student_server["exec"]("sh", "-c", "id -u; cat /proc/1/comm").stdout.split()
    assert who == ["1000", "tini"], who


KIT_FACTS = r"""
import importlib.util as u, json, subprocess, sys
tp = sys.argv[1]
found = subprocess.run(["find", "/", "-xdev", "(", "-path", "*/autograder/tp*/reference.py", "-o",
                        "-path", "*/source/tp*/*.ipynb", ")", "-print"], capture_output=True, text=True).stdout
print(json.dumps({"checks": u.find_spec(f"autograder.{tp}.checks") is not None,
                  "selfcheck": u.find_spec("autograder.selfcheck") is not None,
                  "reference": u.find_spec(f"autograder.{tp}.reference") is not None, "found": found.split()}))
"""


def test_the_student_kit_holds_the_checks_and_no_solution(student_server):
    done = student_server["exec"]("python", "-c", KIT_FACTS, TP)
    assert json.loads(done.stdout) == {"checks": True, "selfcheck": True, "reference": False, "found": []}


def test_a_release_notebook_runs_top_to_bottom_with_its_self_check(student_server):
    """TP's release notebook, as a student gets it, with a student's answers (the reference, then a copy of the
    sample class with mistakes) put in through the server's contents API, then run in the student's container."""
    import nbformat

    from autograder.submissions import fill, solutions

    url, token = student_server["url"], student_server["token"]
    (release,) = sorted((REPO / "release" / TP).glob("*.ipynb"))
    (source,) = sorted((REPO / "source" / TP).glob("*.ipynb"))
    reference = solutions(nbformat.read(source, as_version=4))
    sample = sample_module(TP)
    mistaken = next(iter(sample["EXPECTED"]))
    copies = {"juste": reference, mistaken: {**reference, **sample["STUDENTS"][mistaken]}}
    for name, answers in copies.items():
        notebook = fill(nbformat.read(release, as_version=4), answers)
        status, answer = http(f"{url}/api/contents/{name}.ipynb", token, "PUT",
                              {"type": "notebook", "format": "json", "content": notebook})
        assert status in (200, 201), answer
    for name in copies:
        student_server["exec"]("jupyter", "nbconvert", "--to", "notebook", "--execute", "--allow-errors",
                               "--ExecutePreprocessor.timeout=600", f"{name}.ipynb", "--output", f"{name}-run.ipynb")
    ran = {}
    for name in copies:  # read back through the contents API, as JupyterLab shows it
        status, answer = http(f"{url}/api/contents/{name}-run.ipynb", token)
        assert status == 200, answer
        ran[name] = nbformat.from_dict(json.loads(answer)["content"])

    def outputs(notebook):
        """(source, text printed, error name) of each code cell that ran."""
        found = []
        for cell in notebook.cells:
            if cell.cell_type == "code" and cell.get("execution_count"):
                text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
                errors = [f"{o.ename}: {o.evalue}" for o in cell.outputs if o.output_type == "error"]
                found.append((cell.source, text, errors))
        return found

    right = outputs(ran["juste"])
    code_cells = [c for c in ran["juste"].cells if c.cell_type == "code"]
    assert len(right) == len(code_cells), "the reference copy did not run top to bottom"
    assert not [source for source, _, errors in right if errors]
    checks = [(source, text) for source, text, _ in right if source.startswith("verifier(")]
    assert checks and all(text.strip() for _, text in checks), checks  # each self-check says something
    print(f"\nself-check of the reference copy, first cell: {checks[0][1].strip()[:300]}")
    wrong = outputs(ran[mistaken])
    # a failed self-check stops Run All there, with its diagnosis (VerificationRatee, autograder/selfcheck.py)
    failed = [(source, errors[0]) for source, _, errors in wrong if errors and source.startswith("verifier(")]
    assert failed, f"{mistaken}'s copy: no self-check stopped on a mistake"
    assert failed[0][1].startswith("VerificationRatee") and "❌" in failed[0][1], failed[0]
    print(f"self-check of {mistaken}'s copy, first failure: {failed[0][0].strip()} -> {failed[0][1][:400]}")


def test_the_grader_image_serves_the_formgrader_as_the_hubs_service(grader, student_server):
    """grader.yaml's container with its own args (`jupyterhub-singleuser --allow-root`) and environment, as the
    hub's external service `dl-from-scratch`: the formgrader answers through the hub's proxy. Only the hub's
    address, the service's port and its token differ from the manifest (they are the cluster's there); the
    container shares the machine's network to reach the hub, where the pod's network policy lets it."""
    container = grader.container
    name = f"formgrader-{uuid.uuid4().hex[:8]}"
    overrides = {"JUPYTERHUB_API_URL": student_server["hub_api"],
                 "JUPYTERHUB_API_TOKEN": student_server["formgrader_token"],
                 "JUPYTERHUB_SERVICE_URL": f"http://127.0.0.1:{student_server['formgrader_port']}/"}
    podman("run", "--detach", "--rm", "--name", name, "--network", "host", *grader.flags(),
           *[f"--env={k}={v}" for k, v in overrides.items()], GRADER_IMAGE, *container["args"])
    try:
        probe = container["readinessProbe"]["httpGet"]["path"]
        deadline = time.monotonic() + 120
        while http(f"http://127.0.0.1:{student_server['formgrader_port']}{probe}", "")[0] != 200:
            logs = podman("logs", name, check=False)
            assert time.monotonic() < deadline, logs.stdout[-3000:] + logs.stderr[-3000:]
            time.sleep(1)
        env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
        prefix = env["JUPYTERHUB_SERVICE_PREFIX"].rstrip("/")
        status, page = http(f"{student_server['hub']}{prefix}{env['JUPYTERHUB_DEFAULT_URL']}",
                            student_server["admin_token"])
        assert status == 200, page[:1000]
        assert "<title>nbgrader formgrade</title>" in page and "Manage Assignments" in page, page[:1000]
        status, answer = http(f"{student_server['hub']}{prefix}/formgrader/api/assignments",
                              student_server["admin_token"])
        assert status == 200 and isinstance(json.loads(answer), list), answer[:1000]
        who = podman("exec", name, "sh", "-c", "id -u; cat /proc/1/comm; grep Seccomp: /proc/1/status").stdout.split()
        assert who == ["0", "tini", "Seccomp:", "2"], who
    finally:
        podman("rm", "--force", "--ignore", name, check=False)
