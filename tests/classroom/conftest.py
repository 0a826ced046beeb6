"""A real JupyterHub classroom on loopback: `make test-classroom` (root: it creates accounts).

The session starts from `deploy/classroom.py reset` (fresh homes, exchange, course and hub
database; environments kept), runs `jupyterhub -f deploy/jupyterhub_config.py` with
configurable-http-proxy, and logs the accounts in with their passwords (PAM). Everything
the tests do goes through the hub: its REST API, the users' servers (nbgrader's server
extensions, the contents API, terminals) and the formgrader service.
"""

from __future__ import annotations

import os

import pytest

from hubclient import (ARTIFACTS, ASSIGNMENT, CHROMIUM, CHROMIUM_ARGS, ENVIRONMENT, MISTAKES, HubProcess, User,
                       classroom, feedback_page, formgrader_api, reset, stop_servers, work)


@pytest.fixture(scope="session")
def room():
    if os.geteuid() != 0:
        pytest.fail("the classroom test creates accounts and cgroups: run `make test-classroom` as root")
    return classroom()


@pytest.fixture(scope="session")
def hub_process(room):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    reset(ENVIRONMENT)
    hub = HubProcess(room, ARTIFACTS / "jupyterhub.log", ENVIRONMENT)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()
        stop_servers(room)
        hub.log.close()


@pytest.fixture(scope="session")
def hub(hub_process):
    return hub_process.room


@pytest.fixture(scope="session")
def users(hub) -> dict[str, User]:
    return {name: User(hub, name) for name in hub.accounts}


@pytest.fixture(scope="session")
def released(hub, users):
    """TP 9 generated from the course's source/ and released to the exchange by the instructor."""
    instructor = users[hub.instructors[0]]
    for step in ("assign", "release"):
        answer = instructor.call("POST", f"{formgrader_api(hub)}/assignment/{ASSIGNMENT}/{step}").json()
        assert answer["success"], f"{step}: {answer}"


@pytest.fixture(scope="session")
def term(hub, users, released):
    """The assignment from release to feedback; what each step answered."""
    room = hub
    instructor = users[room.instructors[0]]
    right, mistakes = (users[name] for name in room.students)
    handed_in = {"right": work(right, room.course, {}), "mistakes": work(mistakes, room.course, MISTAKES)}

    api = formgrader_api(room)
    assert instructor.call("POST", f"{api}/assignment/{ASSIGNMENT}/collect").json()["success"]
    service = f"{room.url}/services/{room.course}"
    grading = instructor.run(service, f"cd {room.course_root} && autograder grade {ASSIGNMENT} --jobs 2",
                             timeout=900)
    feedback_released = instructor.call("POST", f"{api}/assignment/{ASSIGNMENT}/release_feedback").json()
    submissions = {s["student"]: s for s in instructor.call("GET", f"{api}/submissions/{ASSIGNMENT}").json()}
    assert "[exit 0]" in grading and feedback_released["success"], \
        f"grading:\n{grading}\nrelease_feedback: {feedback_released}"
    feedback = {}
    for label, student in (("right", right), ("mistakes", mistakes)):
        data = {"course_id": room.course, "assignment_id": ASSIGNMENT}
        student.call("POST", f"{student.server}/assignments/fetch_feedback", data=data)
        feedback[label] = feedback_page(student, room.course)
    return {"handed_in": handed_in, "grading": grading, "feedback_released": feedback_released,
            "submissions": submissions,
            "feedback": feedback, "names": {"right": right.name, "mistakes": mistakes.name}}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keeps each phase's report on the test item (the browser tests screenshot failures)."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, for the tests that read a page as a person would; one per test
    module, closed at its end: Playwright's sync API holds an event loop, and a terminal (`User.run`) needs its
    own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
