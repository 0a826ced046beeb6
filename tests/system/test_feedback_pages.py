"""The students' feedback pages (`autograder/feedback.py`, `autograder/templates/feedback/`).

Three copies of the sample class of TP 0 (the synthetic TP of `tests/synthetic_tp`), run as students run them,
are graded for real by `autograder grade`: alice (the reference), chloe (the sigmoid for tanh, gradients
rebound instead of accumulated) and emma (the untouched release). The pages must be in French, show the verdicts
as wrapping lines with their `code`, no `Out[n]` and no returned points, the student's own
figures, and the written answers « en attente de correction » until an instructor grades them,
with a total that says so. A Chromium screenshot of chloe's page goes to tests/artifacts/.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder import cli
from autograder.demo import hand_in, nbgrader
from autograder.grading import db_url
from conftest import run_browser
from synthetic_tp import TP
from synthetic_tp.students import STUDENTS as SAMPLE_CLASS

pytestmark = pytest.mark.slow  # machinery, on the synthetic TP 0 (tests/synthetic_tp)

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
STUDENTS = ("alice", "chloe", "emma")
ENGLISH = ("Student's answer", "Test cell", "Grade cell", "Score:", "Comments", "Written response",
           "Coding free-response", "(Top)", "Late submission penalty", "No description", "No response")


def page_path(course: Path, student: str) -> Path:
    return next((course / "feedback" / student / TP).glob("*.html"))


def read_pages(course: Path) -> dict[str, str]:
    return {s: page_path(course, s).read_text(encoding="utf-8") for s in STUDENTS}


def section(page: str, grade_id: str) -> str:
    """The HTML of the graded section of that cell (`<section … id="grade_id">…</section>`)."""
    match = re.search(rf'<section class="graded [^"]*" id="{re.escape(grade_id)}">(.*?)</section>', page, re.S)
    assert match, f"no section for {grade_id}"
    return match.group(1)


def summary(page: str) -> str:
    return re.search(r'<header class="summary".*?</header>', page, re.S).group(0)


def text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", html))


@pytest.fixture(scope="module")
def course(synthetic, tmp_path_factory):
    """The three copies graded by `autograder grade` (which writes the feedback); their pages as written then."""
    course = synthetic.released_course(tmp_path_factory.mktemp("feedback") / "course")
    hand_in(course, TP, {s: SAMPLE_CLASS[s] for s in STUDENTS}, run=True)  # with their figures
    assert cli.main(["grade", TP, "--jobs", "3", "--course", str(course)]) == 0
    return course, read_pages(course)


def test_pages_are_in_french_with_a_section_per_function(course):
    _, pages = course
    for student, page in pages.items():
        assert '<html lang="fr">' in page
        for label in ENGLISH:
            assert label not in page, f"{student}: English label {label!r}"
        assert "autograder.tp" not in page and "BEGIN HIDDEN TESTS" not in page and "BEGIN SOLUTION" not in page
    chloe = pages["chloe"]
    check = section(chloe, "test_backward")
    assert "Vérification : backward" in check and "Note : 0 / 3" in check
    assert "Votre réponse : backward" in chloe and "Vérification : sigma" in chloe
    assert "Note : 1 / 1" in section(chloe, "test_dloss")
    # the summary lists every graded cell by name, with its score
    listed = text(summary(chloe))
    assert "backward — Note : 0 / 3" in listed and "sigma — Note : 0 / 1" in listed


def test_no_prompts_and_no_points_returned_by_the_hidden_tests(course):
    _, pages = course
    for page in pages.values():
        assert "Out[" not in page and "In&nbsp;[" not in page
        for grade_id in re.findall(r'<section class="graded check" id="([^"]+)"', page):
            assert "output_execute_result" not in section(page, grade_id), grade_id
    # what nbgrader showed under each verdict: the points the hidden test returned, as `Out[n]: 1.0`
    assert not re.search(r"<pre>\s*[0-9.]+\s*</pre>", section(pages["alice"], "test_sigma"))


def test_verdicts_wrap_and_show_code_in_backticks(course):
    _, pages = course
    chloe = pages["chloe"]
    check = section(chloe, "test_backward")
    assert '<div class="verdict verdict-ko">' in check
    assert "accumulez en place avec <code>dl_dw += …</code>" in check
    assert "`" not in text(check.split("check-code")[0])  # no raw backtick left in the verdict
    rules = {selector.strip(): body for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", chloe)}
    wrapping = [s for s, body in rules.items() if "verdict-lines li" in s]
    assert wrapping and re.search(r"white-space:\s*pre-wrap", rules[wrapping[0]])
    assert re.search(r"overflow-wrap:\s*anywhere", rules[wrapping[0]])


def test_verdict_lines_fit_a_narrow_window_in_chromium(synthetic, course, tmp_path):
    """Measured in the browser: no verdict is wider than its box, at 700 px."""
    _, pages = course
    probe = tmp_path / "probe.html"
    script = ("<script>document.addEventListener('DOMContentLoaded', () => {"
              "const boxes = [...document.querySelectorAll('.verdict')];"
              "const over = boxes.filter(b => b.scrollWidth > b.clientWidth + 1).length;"
              "const p = document.createElement('p'); p.id = 'measure';"
              "p.textContent = `verdicts=${boxes.length} overflowing=${over} width=${document.body.scrollWidth}`;"
              "document.body.appendChild(p);});</script>")
    probe.write_text(pages["chloe"].replace("</body>", script + "</body>"), encoding="utf-8")
    dom = run_browser(["--dump-dom", "--window-size=700,900", probe.as_uri()], tmp_path).stdout
    measure = re.search(r'id="measure">verdicts=(\d+) overflowing=(\d+) width=(\d+)<', dom)
    assert measure, dom[-2000:]
    verdicts, overflowing, width = map(int, measure.groups())
    assert verdicts == len(synthetic.points()) and overflowing == 0 and width <= 700


def test_the_student_sees_their_own_figures(course):
    course_dir, pages = course
    for student in ("alice", "chloe"):
        notebook = nbformat.read(next((course_dir / "autograded" / student / TP).glob("*.ipynb")), as_version=4)
        figure_cells = [c for c in notebook.cells if c.cell_type == "code" and "plt.show()" in c.source]
        assert len(figure_cells) == 2
        for cell in figure_cells:  # those of the copy as handed in (tests/machinery/test_figures.py)
            assert any("image/png" in o.get("data", {}) for o in cell.outputs), cell.source[:80]
        images = sum(1 for c in notebook.cells if c.cell_type == "code"
                     for o in c.get("outputs", []) if "image/png" in o.get("data", {}))
        shown = re.findall(r'<img [^>]*src="data:image/png;base64,[^"]+"[^>]*>', pages[student])
        assert len(shown) == images >= len(figure_cells)
        assert all('alt="Figure produite par le code de cette cellule"' in img for img in shown)


def test_written_answers_wait_for_an_instructor_and_the_total_says_so(course):
    course_dir, pages = course
    chloe = pages["chloe"]
    for grade_id, points in (("question_pas", "2 points"), ("question_cibles", "1 point")):
        answer = section(chloe, grade_id)
        assert f"en attente de correction ({points})" in answer and "Note :" not in answer
        assert "Votre réponse écrite" in answer
    top = text(summary(chloe))
    assert "Note provisoire : 5 / 11 points automatiques ; 3 points de questions en attente de correction" in top
    assert "Question 1 — en attente" in top and "Question 2 — en attente" in top and "question_" not in top
    assert "sur 14" in top
    assert "Note provisoire : 11 / 11 points automatiques" in text(summary(pages["alice"]))
    # an untouched answer is scored 0 by nbgrader itself: nothing waits, the total is final
    emma = pages["emma"]
    assert "en attente" not in emma and "Note : 0 / 14" in text(summary(emma))
    # nbgrader's automatic comment, in French, and not signed by the instructor
    assert "Remarque : Pas de réponse." in text(section(emma, "question_cibles"))
    assert "Commentaire du correcteur" not in emma and "No response" not in emma

    # the instructor grades one answer (formgrader writes the same fields), then the other
    def grade(grade_id, score, comment=None):
        with Gradebook(db_url(course_dir)) as gb:
            found = gb.find_grade(grade_id, page_path(course_dir, "chloe").stem, TP, "chloe")
            found.manual_score = score
            found.needs_manual_grade = False
            if comment:
                gb.find_comment(grade_id, page_path(course_dir, "chloe").stem, TP, "chloe").manual_comment = comment
            gb.db.commit()
        assert nbgrader(course_dir, "generate_feedback", TP, "--student", "chloe", "--force") == 0
        return page_path(course_dir, "chloe").read_text(encoding="utf-8")

    page = grade("question_cibles", 0.5, "Oui, mais dites pourquoi cela compte pour le gradient.")
    cibles = section(page, "question_cibles")
    assert "Note : 0,5 / 1" in cibles and "en attente" not in cibles
    assert "Commentaire du correcteur" in cibles and "pourquoi cela compte" in cibles
    assert "en attente de correction (2 points)" in section(page, "question_pas")
    top = text(summary(page))
    assert "Note provisoire : 5,5 / 12 points corrigés ; 2 points de questions en attente de correction" in top

    page = grade("question_pas", 2)
    assert "en attente" not in page and "provisoire" not in page
    assert "Note : 7,5 / 14" in text(summary(page))


def test_screenshot_of_a_feedback_page(course, tmp_path):
    """chloe's page as `autograder grade` wrote it (before any hand grading), into tests/artifacts/."""
    from PIL import Image

    _, pages = course
    page = tmp_path / "chloe.html"
    page.write_text(pages["chloe"], encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"feedback-chloe-{TP}.png"
    shot.unlink(missing_ok=True)
    run_browser(["--window-size=1280,4000", f"--screenshot={shot}", page.as_uri()], tmp_path)
    assert shot.exists(), f"Chromium wrote no screenshot to {shot}"
    with Image.open(shot) as image:
        assert image.size == (1280, 4000)
        colours = image.convert("RGB").resize((160, 500)).getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 50, "the screenshot is blank"
