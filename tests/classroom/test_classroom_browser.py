"""The classroom in a real browser (Playwright driving Debian's Chromium), screenshots kept.

After the assignment's term (the `term` fixture: released, handed in, graded, feedback
released), a student logs in, opens the assignment in JupyterLab, runs a cell, clicks Validate
and reads the result; another runs all the cells of a copy with mistakes and reads the French
diagnosis of the first one; a kernel that runs out of memory is restarted, the student told; the instructor reaches the formgrader from the hub's Services menu and
sees the assignment and the class's grades. Screenshots go to tests/classroom/artifacts/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from hubclient import ARTIFACTS, ASSIGNMENT, EXPECTED, NOTEBOOK, code_notebook, logged_in, shot

pytestmark = pytest.mark.slow

SLOW = 300_000  # ms: a kernel start, a validation on one core


@pytest.fixture(autouse=True)
def screenshot_on_failure(request):
    """Every page still open when a test fails is kept as `echec-<test>-<n>.png`."""
    yield
    report = getattr(request.node, "rep_call", None)
    browser = request.getfixturevalue("browser") if "browser" in request.fixturenames else None
    if browser is not None and report is not None and report.failed:
        for n, page in enumerate(p for context in browser.contexts for p in context.pages):
            shot(page, f"echec-{request.node.name}-{n}")


def notebook_opened(browser, hub, users, name: str):
    """The student's copy of the assignment open in JupyterLab, its kernel idle."""
    users[name].start_server()
    page = logged_in(browser, hub, name)
    page.wait_for_selector("#jp-main-dock-panel", timeout=SLOW)
    page.goto(f"{hub.url}/user/{name}/lab/tree/{hub.course}/{ASSIGNMENT}/{NOTEBOOK}")
    page.locator(".jp-Notebook .jp-CodeCell").first.wait_for(timeout=SLOW)
    expect(page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\| Idle")).first).to_be_visible(timeout=SLOW)
    return page


def test_student_runs_a_cell_and_validates_in_jupyterlab(browser, hub, term, users):
    page = notebook_opened(browser, hub, users, term["names"]["right"])
    first_code_cell = page.locator(".jp-Notebook .jp-CodeCell").first
    first_code_cell.locator(".jp-InputPrompt").click()  # select the cell (command mode)
    page.keyboard.press("Shift+Enter")
    expect(first_code_cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[1\]"), timeout=SLOW)
    shot(page, "etudiant-cellule-executee")

    page.get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Validation Results", timeout=SLOW)
    shot(page, "etudiant-validation")
    expect(dialog).to_contain_text("Success! Your notebook passes all the tests.")
    page.close()


def test_a_student_reads_the_french_diagnosis_of_a_mistake_in_jupyterlab(browser, hub, term, users):
    """The self-check from the student kit: Run All stops at the first wrong function, with its diagnosis."""
    page = notebook_opened(browser, hub, users, term["names"]["mistakes"])
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    diagnosis = page.locator(".jp-OutputArea-output", has_text="moyenne au lieu de somme")
    expect(diagnosis).to_be_visible(timeout=SLOW)
    expect(diagnosis).to_contain_text("❌ loss : 0 / 1 point(s)")
    expect(diagnosis).not_to_contain_text("Traceback")
    cell = page.locator(".jp-CodeCell").filter(has_text="moyenne au lieu de somme")
    cell.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)  # the notebook renders the cells it scrolled to
    shot(page, "etudiant-diagnostic")
    cell.screenshot(path=str(ARTIFACTS / "etudiant-diagnostic-cellule.png"))
    page.close()


def test_a_kernel_out_of_memory_is_restarted_and_the_student_told(browser, hub, term, users):
    """Going over the student's memory limit costs the kernel, not the server (test_classroom_limits.py):
    JupyterLab says that the kernel died and restarts it (in English: JupyterLab 4.5's French language pack
    translates the menus, not this dialog, measured)."""
    name = term["names"]["right"]
    too_much = int(hub.mem_bytes() * 1.5) // 8
    users[name].call("PUT", f"{users[name].server}/api/contents/memoire.ipynb",
                     json=code_notebook(f"import numpy\ntrop = numpy.ones({too_much})"))
    page = logged_in(browser, hub, name)
    page.goto(f"{hub.url}/user/{name}/lab/tree/memoire.ipynb?reset")
    expect(page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\| Idle")).first).to_be_visible(timeout=SLOW)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt").first.click()
    page.keyboard.press("Shift+Enter")
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("appears to have died. It will restart automatically.", timeout=SLOW)
    shot(page, "etudiant-noyau-sans-memoire")
    page.close()


def test_instructor_uses_the_formgrader_from_the_services_menu(browser, hub, term):
    page = logged_in(browser, hub, hub.instructors[0])
    page.goto(f"{hub.url}/hub/home")
    page.get_by_role("button", name="Services").or_(page.get_by_role("link", name="Services")).first.click()
    page.get_by_role("link", name=hub.course).click()
    expect(page).to_have_url(re.compile(rf"/services/{hub.course}/formgrader"), timeout=SLOW)
    expect(page.get_by_text("Manage Assignments").first).to_be_visible(timeout=SLOW)
    expect(page.locator("#main_table, table").first).to_contain_text(ASSIGNMENT, timeout=SLOW)
    shot(page, "formgrader-devoirs")

    page.get_by_role("link", name="Manage Students").click()
    table = page.locator("#main_table, table").first
    for label, student in term["names"].items():
        row = table.locator("tr", has_text=student)
        expect(row).to_contain_text(f"{EXPECTED[label]} /", timeout=SLOW)
    shot(page, "formgrader-etudiants")

    page.get_by_role("link", name="Manual Grading").click()
    expect(page.locator("#main_table, table").first).to_contain_text(ASSIGNMENT, timeout=SLOW)
    shot(page, "formgrader-correction")
    page.close()


def test_the_formgrader_stays_unframeable(hub, users, released):
    """Top level, not loosened: JupyterHub's frame-ancestors 'none' still protects the graders' server."""
    instructor = users[hub.instructors[0]]
    answer = instructor.call("GET", f"{hub.url}/services/{hub.course}/formgrader/manage_assignments")
    assert "frame-ancestors 'none'" in answer.headers.get("Content-Security-Policy", ""), answer.headers
