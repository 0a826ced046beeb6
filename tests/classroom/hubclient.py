"""Talking to the classroom hub as its users do: login form, API tokens, servers, terminals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import requests
from tornado.httpclient import HTTPRequest
from tornado.websocket import websocket_connect

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy"))

from autograder.submissions import fill, solutions  # noqa: E402
from classroom import Classroom  # noqa: E402

ARTIFACTS = REPO / "tests" / "classroom" / "artifacts"
# A course and accounts of its own, on ports of its own: the test resets them (homes, course,
# exchange, hub database), and leaves a classroom served on the same machine (`make hub`) alone.
ENVIRONMENT = {"CLASSROOM_COURSE": "dl-test", "CLASSROOM_INSTRUCTORS": "test-prof",
               "CLASSROOM_STUDENTS": "test-etudiant1,test-etudiant2",
               "CLASSROOM_PORT": "18000", "CLASSROOM_SERVICE_PORT": "18999"}
ASSIGNMENT = "tp09"
MISTAKES = runpy.run_path(str(REPO / "samples" / ASSIGNMENT / "students.py"))["STUDENTS"]["bastien"]
EXPECTED = {"right": 16, "mistakes": 11}  # automatic points, as `make demo` gives alice and bastien
SOURCE = next((REPO / "source" / ASSIGNMENT).glob("*.ipynb"))
NOTEBOOK = SOURCE.name


def formgrader_api(room) -> str:
    return f"{room.url}/services/{room.course}/formgrader/api"


def assignment_status(student, course: str) -> dict:
    listing = student.call("GET", f"{student.server}/assignments", params={"course_id": course}).json()
    assert listing["success"], listing
    return {a["assignment_id"]: a for a in listing["value"] if a["course_id"] == course}


def work(student, course: str, answers: dict[str, str]) -> dict:
    """Fetch, fill the solution cells, validate, submit: what the student does in JupyterLab."""
    student.start_server()
    data = {"course_id": course, "assignment_id": ASSIGNMENT}
    if assignment_status(student, course)[ASSIGNMENT]["status"] == "released":
        student.call("POST", f"{student.server}/assignments/fetch", data=data)
    path = f"{course}/{ASSIGNMENT}/{NOTEBOOK}"
    fetched = nbformat.from_dict(student.call("GET", f"{student.server}/api/contents/{path}").json()["content"])
    filled = fill(fetched, {**solutions(nbformat.read(SOURCE, as_version=4)), **answers})
    student.call("PUT", f"{student.server}/api/contents/{path}",
                 json={"type": "notebook", "format": "json", "content": filled})
    validation = student.call("POST", f"{student.server}/assignments/validate", data={"path": path}).json()
    submitted = student.call("POST", f"{student.server}/assignments/submit", data=data).json()
    return {"validation": validation, "submitted": submitted}


def feedback_page(student, course: str) -> str:
    folder = f"{course}/{ASSIGNMENT}/feedback"
    (stamp,) = student.call("GET", f"{student.server}/api/contents/{folder}").json()["content"]
    page = f"{stamp['path']}/{NOTEBOOK.replace('.ipynb', '.html')}"
    return student.call("GET", f"{student.server}/api/contents/{page}").json()["content"]


def classroom() -> Classroom:
    return Classroom.from_environment({**os.environ, **ENVIRONMENT})


def responds(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code == 200
    except requests.ConnectionError:
        return False


def wait_for(condition, timeout: float, message: str, alive: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if alive is not None and alive.poll() is not None:
            raise AssertionError(f"{message}: the process exited (see {ARTIFACTS})")
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.5)


def password(room: Classroom, name: str) -> str:
    return json.loads(room.passwords_file.read_text())[name]


class User:
    """One account, logged in through the hub's login form, then using an API token it made."""

    def __init__(self, room: Classroom, name: str):
        self.room, self.name = room, name
        browser = requests.Session()
        browser.get(f"{room.url}/hub/login").raise_for_status()
        answer = browser.post(f"{room.url}/hub/login?next=/hub/home", allow_redirects=False,
                              data={"username": name, "password": password(room, name),
                                    "_xsrf": browser.cookies.get("_xsrf", path="/hub/")})
        assert answer.status_code == 302, f"login of {name} refused: {answer.status_code}"
        made = browser.post(f"{room.url}/hub/api/users/{name}/tokens", json={"note": "classroom test"},
                            headers={"X-XSRFToken": browser.cookies.get("_xsrf", path="/hub/")})
        made.raise_for_status()
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {made.json()['token']}"

    @property
    def server(self) -> str:
        return f"{self.room.url}/user/{self.name}"

    def call(self, method: str, url: str, **kwargs) -> requests.Response:
        answer = self.session.request(method, url, timeout=kwargs.pop("timeout", 300), **kwargs)
        assert answer.ok, f"{method} {url}: {answer.status_code} {answer.text[:500]}"
        return answer

    def start_server(self) -> None:
        answer = self.session.post(f"{self.room.url}/hub/api/users/{self.name}/server")
        assert answer.status_code in (201, 202, 400), answer.text  # 400: already running
        wait_for(lambda: self.session.get(f"{self.room.url}/hub/api/users/{self.name}").json()
                 .get("servers", {}).get("", {}).get("ready"), 120, f"the server of {self.name} did not start")

    def run(self, base: str, command: str, timeout: float = 600) -> str:
        """Runs a shell command in a terminal of the server at `base`; its output (exit code last)."""
        name = self.call("POST", f"{base}/api/terminals").json()["name"]
        try:
            return asyncio.run(_terminal(base.replace("http", "ws", 1) + f"/terminals/websocket/{name}",
                                         self.session.headers["Authorization"], command, timeout))
        finally:
            self.session.delete(f"{base}/api/terminals/{name}")


async def _terminal(url: str, authorization: str, command: str, timeout: float) -> str:
    """The command's output in a fresh terminal (echo off), with `[exit N]` appended."""
    connection = await websocket_connect(HTTPRequest(url, headers={"Authorization": authorization}))
    marker = re.compile(r"FIN-DE-COMMANDE-(\d+)-")
    connection.write_message(json.dumps(["stdin", "stty -echo; echo PRET\r"]))
    output, ready, deadline = "", False, time.monotonic() + timeout
    while True:
        message = await asyncio.wait_for(connection.read_message(), max(1.0, deadline - time.monotonic()))
        if message is None:
            raise AssertionError(f"terminal closed; output so far:\n{output}")
        kind, *content = json.loads(message)
        if kind != "stdout":
            continue
        output += re.sub(r"\x1b\[[0-9;?]*[A-Za-z]|\r", "", content[0])
        if not ready:
            if re.search(r"^PRET$", output, re.M):  # the shell no longer echoes what we type: send the command
                ready, output = True, ""
                connection.write_message(json.dumps(["stdin", f"{command}; echo FIN-DE-COMMANDE-$?-\r"]))
            continue
        found = marker.search(output)
        if found:
            connection.close()
            return output[:found.start()] + f"[exit {found.group(1)}]"


def code_notebook(*sources: str) -> dict:
    """A contents-API body: a notebook of code cells, for the students' `python3` kernel (no kernel dialog)."""
    cells = [{"cell_type": "code", "metadata": {}, "source": source, "outputs": [], "execution_count": None}
             for source in sources]
    kernel = {"kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}}
    return {"type": "notebook", "format": "json",
            "content": {"cells": cells, "metadata": kernel, "nbformat": 4, "nbformat_minor": 5}}


# ------------------------------------------------------------------ the hub itself


def reset(environment: dict[str, str]) -> None:
    """`deploy/classroom.py reset` for the classroom these CLASSROOM_* variables describe (fresh homes,
    course, exchange and hub database; accounts made if missing)."""
    subprocess.run([sys.executable, str(REPO / "deploy" / "classroom.py"), "reset"],
                   env={**os.environ, **environment}, check=True, stdout=subprocess.DEVNULL)


class HubProcess:
    """The hub of `deploy/jupyterhub_config.py`, started and stopped by a test or a benchmark; students'
    servers outlive it (as in a real restart)."""

    def __init__(self, room: Classroom, log: Path, environment: dict[str, str]):
        self.room, self.environment, self.process = room, environment, None
        self.log = open(log, "w")

    def start(self, **variables: str) -> None:
        self.process = subprocess.Popen([str(Path(sys.executable).parent / "jupyterhub"), "-f",
                                         str(REPO / "deploy" / "jupyterhub_config.py")],
                                        cwd=self.room.hub_dir, env={**os.environ, **self.environment, **variables},
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(lambda: responds(f"{self.room.url}/hub/api/"), 60, "the hub did not answer", alive=self.process)

    def stop(self) -> None:
        if self.process.poll() is not None:  # stopped by a test that failed before starting it again
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self._stop_proxy()  # a hub killed before its cleanup leaves its proxy running (its own session)

    def _stop_proxy(self) -> None:
        pid_file = self.room.hub_dir / "proxy.pid"
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            pid = int(pid_file.read_text())
            if b"configurable-http-proxy" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGTERM)


def stop_servers(room: Classroom) -> None:
    """Every process of the classroom's accounts killed and their cgroups removed: the servers outlive the hub."""
    from spawner import CgroupError, cgroup_folders, remove_cgroups

    for name in (*room.accounts, room.grader):
        subprocess.run(["pkill", "-KILL", "-u", name], check=False)
        with contextlib.suppress(CgroupError, OSError):
            asyncio.run(remove_cgroups(cgroup_folders(name)))


# ------------------------------------------------------------------ in Chromium

CHROMIUM = "/usr/bin/chromium"
# as root in a container, without a GPU; no background traffic to Google (the network is closed)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def logged_in(browser, room, name: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(f"{room.url}/hub/login")
    page.fill("#username_input", name)
    page.fill("#password_input", password(room, name))
    page.click("#login_submit")
    return page


def shot(page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
