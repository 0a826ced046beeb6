"""The classroom in a real browser (Playwright driving Debian's Chromium), screenshots kept.

After the assignment's term (the `term` fixture: released, handed in, graded, feedback
released), a student logs in, opens the assignment in JupyterLab, runs a cell, clicks Validate
and reads the result; another runs all the cells of a copy with mistakes and reads the French
diagnosis of the first one; a kernel asking for more memory than it has is told so in French and lives
on, one killed all the same is restarted and says why; the instructor reaches the formgrader from the
hub's Services menu and sees the assignment and the class's grades. Screenshots go to tests/classroom/artifacts/.
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


def notebook_of_cells(browser, hub, users, name: str, file: str, *cells: str):
    """A notebook of `cells` put in the student's home and opened in JupyterLab, its kernel idle."""
    users[name].call("PUT", f"{users[name].server}/api/contents/{file}", json=code_notebook(*cells))
    page = logged_in(browser, hub, name)
    page.goto(f"{hub.url}/user/{name}/lab/tree/{file}?reset")
    expect(idle(page)).to_be_visible(timeout=SLOW)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt").first.click()
    return page


@pytest.fixture
def kernels_shut_down(users, term):
    """The memory tests' student has no kernel before and after each: one test's full kernel is not the
    other's (the cgroup's OOM killer takes the largest process)."""
    student = users[term["names"]["right"]]
    student.start_server()

    def shut_down():
        for kernel in student.call("GET", f"{student.server}/api/kernels").json():
            student.call("DELETE", f"{student.server}/api/kernels/{kernel['id']}")

    shut_down()
    yield
    shut_down()


def idle(page):
    return page.locator("#jp-main-statusbar").get_by_text(re.compile(r"\| Idle")).first


def run_cell(page, number: int, count: int | None = None):
    """Runs the selected cell, the `number`th (Shift+Enter selects the next one), and waits for its prompt to
    read [count] (by default, [number])."""
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").nth(number - 1)
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(rf"\[{count or number}\]"), timeout=SLOW)
    return cell


def test_an_allocation_beyond_the_kernels_memory_fails_in_french_and_the_kernel_lives_on(browser, hub, term, users,
                                                                                          kernels_shut_down):
    """A student's kernel may allocate the server's limit less a margin (deploy/spawner.py): a tensor too big
    at once, or arrays added until the kernel is full, fail in the cell with a French message; the kernel,
    full, is not killed by the cgroup (the margin holds), and its variables are intact."""
    name = term["names"]["right"]
    too_much = int(hub.mem_bytes() * 1.5) // 8
    page = notebook_of_cells(browser, hub, users, name, "memoire.ipynb", "x = 42",
                             f"import numpy\ntrop = numpy.ones({too_much})",
                             "hasard, blocs = numpy.random.default_rng(), []  # distinct pages: none merged\n"
                             "while True:\n    blocs.append(hasard.random(1 << 24))",
                             "donnees = [l for l in open('/proc/self/status') if l.startswith('VmData')]\n"
                             "print(x, donnees[0].split()[1])")
    run_cell(page, 1)
    for number in (2, 3):
        cell = run_cell(page, number)
        expect(cell.locator(".jp-OutputArea-output").last).to_contain_text(
            "Mémoire insuffisante : cette cellule demande plus de mémoire que votre noyau ne peut en utiliser")
    cell.scroll_into_view_if_needed()
    shot(page, "etudiant-memoire-insuffisante")
    last = run_cell(page, 4)
    expect(last.locator(".jp-OutputArea-output")).to_contain_text(re.compile(r"^42 \d+"))
    kernel_memory = int(last.locator(".jp-OutputArea-output").inner_text().split()[1]) << 10
    budget = hub.mem_bytes() - (512 << 20)  # ClassroomSpawner.kernel_mem_margin
    assert budget - (256 << 20) < kernel_memory <= budget, kernel_memory  # full, within a block or two
    expect(page.locator(".jp-Dialog")).to_have_count(0)
    page.close()


def test_a_kernel_killed_for_memory_is_restarted_and_says_why_in_french(browser, hub, term, users, kernels_shut_down):
    """What escapes the kernel's own limit (here shared memory, not counted in it) meets the cgroup's: the
    kernel is killed, JupyterLab restarts it with its own dialog (in English: JupyterLab 4.5's French language
    pack translates the menus, not this dialog, measured), and the restarted kernel says why in French."""
    name = term["names"]["right"]
    too_much = int(hub.mem_bytes() * 1.5)
    page = notebook_of_cells(browser, hub, users, name, "memoire-partagee.ipynb",
                             f"import mmap\npartage = mmap.mmap(-1, {too_much})\n"
                             f"for i in range(0, {too_much}, 4096):\n    partage[i] = 1",
                             "x = 1")
    page.keyboard.press("Shift+Enter")
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("appears to have died. It will restart automatically.", timeout=SLOW)
    shot(page, "etudiant-noyau-sans-memoire")
    dialog.get_by_role("button").last.click()
    expect(idle(page)).to_be_visible(timeout=SLOW)
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell .jp-InputPrompt").nth(1).click()
    cell = run_cell(page, 2, count=1)  # the first cell run by the restarted kernel
    expect(cell.locator(".jp-OutputArea-output")).to_contain_text(
        "Votre noyau a été arrêté puis relancé : votre serveur dépassait la mémoire qui lui est permise (2 Gio)")
    shot(page, "etudiant-noyau-relance-memoire")
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
