"""Figure cells (`autograder/figures.py`): `autograder grade` keeps the figures of a copy as handed in
instead of drawing them again, only where nothing graded can depend on them, and never changes a score."""

import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from autograder import cli, figures
from autograder.demo import hand_in, nbgrader, prepare_course, sample_class
from autograder.grading import db_url
from autograder.gradebook import cell_scores
from autograder.release import release
from conftest import REPO


def figure(source: str) -> nbformat.NotebookNode:
    return new_code_cell(source, metadata={"tags": [figures.TAG]})


def notebook(*cells) -> nbformat.NotebookNode:
    return new_notebook(cells=list(cells))


# ------------------------------------------------------------------ what make release checks


def test_a_cell_that_reads_what_a_figure_cell_set_is_a_problem():
    nb = notebook(new_code_cell("x = 1"), figure("pred = f(x)\nplt.plot(pred)"), new_code_cell("score = pred.sum()"))
    assert figures.figure_problems(nb) == ["cell 2 reads 'pred', which figure cell 1 sets"]


def test_a_cell_before_the_figure_that_reads_its_name_is_a_problem_too():
    """A copy may move its cells: the figure cell could then run before it."""
    nb = notebook(new_code_cell("score = pred.sum()"), figure("pred = f()\nplt.plot(pred)"))
    assert figures.figure_problems(nb) == ["cell 0 reads 'pred', which figure cell 1 sets"]


@pytest.mark.parametrize("later", [
    "pred = g()\nscore = pred.sum()",                   # set again before it is read
    "def h(pred):\n    return pred + 1",               # an argument of its own
    "total = sum(pred for pred in range(3))",           # a comprehension's own variable
    "print(x)",                                         # set by a cell that is not a figure
])
def test_names_a_later_cell_does_not_take_from_a_figure_cell_are_no_problem(later):
    nb = notebook(new_code_cell("x = 1"), figure("pred = f(x)\nfor i in range(2):\n    plt.plot(pred)"),
                  new_code_cell(later))
    assert figures.figure_problems(nb) == []


def test_a_function_a_figure_cell_defines_and_a_later_cell_calls_is_a_problem():
    nb = notebook(figure("def draw(v):\n    plt.plot(v)\ndraw([1])"), new_code_cell("draw([2])"))
    assert figures.figure_problems(nb) == ["cell 1 reads 'draw', which figure cell 0 sets"]


def test_an_nbgrader_cell_cannot_be_a_figure():
    cell = figure("plt.plot([1])")
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "grade_id": "x", "locked": False}
    assert figures.figure_problems(notebook(cell)) == [f"cell 0 is tagged {figures.TAG!r} but is an nbgrader cell"]


def test_make_release_refuses_a_figure_tag_on_a_cell_others_need(tmp_path):
    shutil.copytree(REPO / "source", tmp_path / "source")
    [path] = (tmp_path / "source" / "tp09").glob("*.ipynb")
    nb = nbformat.read(path, as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code" and c.source.startswith("nb_hidden = 50"))
    setup.metadata["tags"] = [figures.TAG]  # sets the parameters and gradients the training reads
    nbformat.write(nb, path)
    with pytest.raises(SystemExit, match=r"must only draw: cell 37 reads 'dl_db1', which figure cell 35 sets"):
        release(tmp_path, "tp09")


# ------------------------------------------------------------------ which cells are left out, what they keep


def test_figure_cells_are_left_out_only_when_every_one_is_as_released():
    released = ("plt.plot(a)", "plt.plot(b)")
    nb = notebook(new_markdown_cell("plt.plot(a)"), new_code_cell("a = 1"), figure("plt.plot(a)"),
                  new_code_cell("b = 2"), new_code_cell("plt.plot(b)"))
    assert figures.released_figure_cells(nb, released) == [2, 4]
    nb.cells[4].source = "plt.plot(b, 'r')"  # edited: the copy is run whole
    assert figures.released_figure_cells(nb, released) is None
    assert figures.released_figure_cells(nb, ()) is None


def test_kept_outputs_are_images_text_and_errors_only_and_bounded():
    cell = new_code_cell("plt.show()", outputs=[
        new_output("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>",
                                         "text/html": "<script>alert(1)</script>"}),
        new_output("display_data", data={"application/javascript": "alert(1)"}),
        new_output("stream", name="stdout", text="x" * (figures.MAX_TEXT + 50)),
        new_output("error", ename="ValueError", evalue="non", traceback=["Traceback", "ValueError: non"]),
    ])
    kept = figures.kept_outputs(cell, max_bytes=100_000)
    assert [o.output_type for o in kept] == ["display_data", "stream", "error"]
    assert set(kept[0].data) == {"image/png", "text/plain"}
    assert len(kept[1].text) < figures.MAX_TEXT + 10 and kept[2].ename == "ValueError"
    assert [o.output_type for o in figures.kept_outputs(cell, max_bytes=200)] == ["display_data"]


def drawn(source: str) -> nbformat.NotebookNode:
    return figure_with(source, [new_output("display_data", data={"image/png": "iVBORw0KGgo="})])


def figure_with(source: str, outputs: list) -> nbformat.NotebookNode:
    cell = figure(source)
    cell.outputs = outputs
    return cell


def test_a_copy_keeps_its_figures_only_when_every_figure_cell_has_something_to_show():
    sources = ("plt.plot(a)", "plt.plot(b)")
    graded = notebook(new_code_cell("a = 1"), figure("plt.plot(a)"), figure("plt.plot(b)"))  # outputs cleared
    handed_in = [new_code_cell("a = 1"), drawn("plt.plot(a)"), drawn("plt.plot(b)")]
    assert set(figures.outputs_to_keep(graded, handed_in, sources, 100_000)) == {1, 2}
    # Run All stopped by a failing check before the figures: they are drawn while grading
    handed_in[2] = figure_with("plt.plot(b)", [])
    assert figures.outputs_to_keep(graded, handed_in, sources, 100_000) == {}
    handed_in[2] = figure_with("plt.plot(b)", [new_output("display_data", data={"text/html": "<b>x</b>"})])
    assert figures.outputs_to_keep(graded, handed_in, sources, 100_000) == {}
    assert figures.outputs_to_keep(graded, handed_in[:2], sources, 100_000) == {}  # cells do not line up


# ------------------------------------------------------------------ grading, for real


def figure_cells(nb) -> list:
    return [c for c in nb.cells if figures.is_figure(c)]


def images(cell) -> list[str]:
    return [o.data["image/png"] for o in cell.outputs if "image/png" in o.get("data", {})]


@pytest.mark.slow
def test_grading_keeps_the_handed_in_figures_runs_an_edited_copy_whole_and_scores_the_same(tmp_path):
    course = tmp_path / "course"
    prepare_course(course, "tp09")
    assert nbgrader(course, "generate_assignment", "tp09", "--force") == 0
    chloe = sample_class("tp09")["chloe"]
    hand_in(course, "tp09", {"tel_quel": chloe, "retouche": chloe, "sans_figures": chloe}, run=True)
    [edited] = (course / "submitted" / "retouche" / "tp09").glob("*.ipynb")
    nb = nbformat.read(edited, as_version=4)
    figure_cells(nb)[0].source += "\nax_loss.set_title('ma loss')"
    nbformat.write(nb, edited)
    [not_run] = (course / "submitted" / "sans_figures" / "tp09").glob("*.ipynb")
    nb = nbformat.read(not_run, as_version=4)
    for cell in figure_cells(nb)[1:]:  # Run All stopped before them
        cell.outputs = []
    nbformat.write(nb, not_run)

    def graded(student: str):
        return nbformat.read(next((course / "autograded" / student / "tp09").glob("*.ipynb")), as_version=4)

    assert cli.main(["grade", "tp09", "--jobs", "2", "--course", str(course)]) == 0
    kept = graded("tel_quel")
    handed_in = nbformat.read(next((course / "submitted" / "tel_quel" / "tp09").glob("*.ipynb")), as_version=4)
    for cell, original in zip(figure_cells(kept), figure_cells(handed_in), strict=True):
        assert cell.execution_count is None  # not run again
        assert images(cell) == images(original) and images(cell)
    for student in ("retouche", "sans_figures"):  # one figure cell edited, or not run: all drawn by the warm kernel
        assert all(cell.execution_count and images(cell) for cell in figure_cells(graded(student)))
    default = cell_scores(db_url(course), "tp09")

    assert cli.main(["grade", "tp09", "--jobs", "2", "--force", "--recompute-figures", "--course", str(course)]) == 0
    assert all(cell.execution_count and images(cell) for cell in figure_cells(graded("tel_quel")))
    assert cell_scores(db_url(course), "tp09") == default
    assert default["tel_quel"] == default["retouche"] == default["sans_figures"] and 0 < sum(default["tel_quel"].values())
