"""« La séance en direct » on the real hub: students' self-checks feed the instructors' live page.

By now both students have worked on TP 9 in their own servers (the `term` fixture: each validated a
filled copy, which runs every `verifier(…)` in a real kernel; the browser tests ran all cells again): the
right copy, and one with the sample class's mistakes (`bastien`: a mean in `loss`, a transposed weight
gradient). The instructor reads the page in Chromium; a student may post, not read, and only as himself.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from hubclient import logged_in, shot

pytestmark = pytest.mark.slow


def seance(hub) -> str:
    return f"{hub.url}/services/seance/"


def test_students_post_as_themselves_and_cannot_read_the_page(users, hub, term):
    student, other = (users[name] for name in hub.students)
    forged = {"student": other.name, "tp": "tp09", "function": "usurpation", "points": 0, "possible": 1,
              "complete": False, "mistake": None}
    assert student.session.post(seance(hub) + "api/verdicts", json=forged).status_code == 204
    assert student.session.get(seance(hub) + "etat").status_code == 403
    instructor = users[hub.instructors[0]]
    page = instructor.call("GET", seance(hub) + "etat").text
    row = page[page.index('data-fonction="usurpation"'):].split("</tr>")[0]
    assert student.name in row and other.name not in row, row


def test_the_instructor_sees_where_the_class_is_in_chromium(browser, hub, term):
    (instructor,) = hub.instructors
    page = logged_in(browser, hub, instructor)
    page.goto(seance(hub))
    expect(page.get_by_role("heading", name="La séance en direct — dl-test")).to_be_visible(timeout=30_000)
    loss = page.locator('tr[data-fonction="loss"]')
    expect(loss.locator("td.reussissent")).to_have_text("1")
    expect(loss.locator("td.echouent")).to_have_text("1")
    expect(loss).to_contain_text("moyenne au lieu de somme")
    expect(page.locator('tr[data-fonction="forward_pass"] td.echouent')).to_have_text("0")
    expect(page.locator('tr[data-fonction="backward_step"] td.echouent')).to_have_text("1")
    expect(page.locator('tr[data-fonction="backward_step"]')).to_contain_text("`dl_w` est transposé")
    expect(page.locator('tr[data-fonction="entraînement"] td.echouent')).to_have_text("1")
    shot(page, "seance-enseignant")
    student = logged_in(browser, hub, hub.students[0])
    student.goto(seance(hub))
    expect(student.get_by_text("Cette page est réservée aux enseignants du cours.")).to_be_visible(timeout=30_000)
    shot(student, "seance-etudiant-refuse")
