"""TP 0, a synthetic TP that belongs to the system tests rather than to the course.

The system tests grade, stop, sandbox and render a TP: TP 0 is their material, so that a change to a TP
of the course never breaks them. It has what they need of a TP, kept small and quick:

* five functions, each with a catalogued `Mistake`; `forward` calls `sigma`, `backward` calls `gradient`
  and `dloss`, so the reference stands in for them while they are graded;
* a training, graded by a `VariablesSpec` from the parameters it leaves (`w`, `b`) and its `testAccuracy`,
  on 120 points of the plane (a few hundredths of a second);
* two figure cells (tagged `figure`) and two written questions graded by hand (`question_…`);
* points on every test cell.

`build(root)` makes `root` a course root holding TP 0 as a course holds a TP of its own (see
`autograder/__init__.py`): `autograder/tp00/` (the files of `tp00/` here), `source/tp00/tp00.ipynb`
(built here with nbformat), both released there by `autograder.release`, as `make release` does.
The tests' courses are copies of one course where nbgrader generated TP 0 (`SyntheticTP.released_course`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import autograder
from autograder import release
from autograder.demo import REPO, nbgrader, prepare_course
from autograder.scaffold import meta
from autograder.submissions import solutions

HERE = Path(__file__).resolve().parent
TP = "tp00"
NOTEBOOK = f"{TP}.ipynb"


def hidden_test(name: str) -> str:
    return (f'verifier("{name}")\n\n### BEGIN HIDDEN TESTS\nfrom autograder.{TP}.checks import grade\n'
            f'grade("{name}", globals())\n### END HIDDEN TESTS')


def exercise(name: str, points: float, statement: str) -> list:
    """The statement, the solution cell (`make release` writes the reference into it) and the test cell."""
    return [new_markdown_cell(statement),
            new_code_cell(f"def {name}():\n    pass", metadata=meta(name, solution=True)),
            new_code_cell(hidden_test(name), metadata=meta(f"test_{name}", grade=True, points=points))]


def figure(source: str):
    return new_code_cell(source, metadata={"tags": ["figure"]})


def written_question(grade_id: str, points: float, answer: str):
    return new_markdown_cell(f"### BEGIN SOLUTION\n{answer}\n### END SOLUTION",
                             metadata=meta(grade_id, solution=True, grade=True, points=points))


PARAMETERS = """eta = 0.002  # pas de gradient
w = torch.zeros(3, 2)  # nuls : avant l'entraînement, le réseau prédit la même classe partout (exactitude 1/3)
b = torch.zeros(3)
dl_dw = torch.zeros(w.size())
dl_db = torch.zeros(b.size())"""

TRAINING = """N_EPOQUES = 100
historique = []
for k in range(N_EPOQUES):
    # Les gradients s'accumulent dans backward : on les remet à zéro à chaque époque.
    dl_dw.zero_()
    dl_db.zero_()

    # Passe avant sur l'ensemble d'entraînement : s, v
    ### BEGIN SOLUTION
    s, v = forward(w, b, x_train)
    ### END SOLUTION

    # Passe arrière : ajoute les gradients à dl_dw, dl_db
    ### BEGIN SOLUTION
    backward(x_train, t_train, s, v, dl_dw, dl_db)
    ### END SOLUTION

    # Pas de gradient sur w et b
    ### BEGIN SOLUTION
    w = w - eta * dl_dw
    b = b - eta * dl_db
    ### END SOLUTION
    historique.append(((t_train - v) ** 2).sum().item() / len(x_train))

testAccuracy = (forward(w, b, x_test)[1].argmax(dim=1) == classes_test).double().mean().item()
print(f"exactitude de test : {testAccuracy:.1%}")"""

DATA_FIGURE = """plt.figure(figsize=(4, 4))
plt.scatter(x_train[:, 0], x_train[:, 1], c=t_train.argmax(dim=1), s=12)
plt.title("Les trois nuages (entraînement)")
plt.show()"""

LEARNING_CURVE = """plt.figure(figsize=(5, 3))
plt.plot(historique)
plt.xlabel("époque")
plt.ylabel("loss moyenne par point")
plt.show()"""


def notebook() -> nbformat.NotebookNode:
    """The source notebook of TP 0: solution cells and the `outils` and `nuages` cells are left for the release."""
    cells = [
        new_markdown_cell("# TP 0 : un TP synthétique\n\nUne couche $\\tanh$ entraînée sans autograd à séparer trois "
                          "nuages de points. (Le matériel des tests du correcteur, pas un TP du cours.)"),
        new_code_cell("import math\n\nimport matplotlib.pyplot as plt\nimport torch\n\ntorch.manual_seed(0)\n"
                      "torch.set_num_threads(1)", metadata=meta("imports")),
        new_code_cell("", metadata=meta("outils")),
        *exercise("sigma", 1, "## 1. Activation\n\nÉcrivez `sigma`, qui applique $\\tanh$ terme à terme."),
        *exercise("dloss", 1, "## 2. Loss\n\nAvec $\\mathcal{L}(v, t) = \\sum_i (t_i - v_i)^2$, écrivez `dloss`, "
                              "son gradient par rapport à $v$."),
        *exercise("forward", 2, "## 3. Passe avant\n\nÉcrivez `forward(w, b, x)`, qui renvoie $s = x\\,w^T + b$ "
                                "et $v = \\sigma(s)$ avec **votre** `sigma`."),
        *exercise("gradient", 2, "## 4. Gradient d'une couche\n\nÉcrivez `gradient(x, s, dl_v)`, qui renvoie les "
                                 "gradients de la loss par rapport à $w$ (forme `(nbOut, nbIn)`) et à $b$."),
        *exercise("backward", 3, "## 5. Passe arrière\n\nÉcrivez `backward`, qui **ajoute en place** à `dl_dw` et "
                                 "`dl_db` le gradient de $\\mathcal{L}(v, t)$, avec `gradient` et `dloss`."),
        new_markdown_cell("## 6. Les données\n\nTrois nuages de points du plan, un par classe."),
        new_code_cell("", metadata=meta("nuages")),
        new_code_cell("x_train, t_train, x_test, classes_test = nuages()\nprint(x_train.shape, x_test.shape)"),
        figure(DATA_FIGURE),
        new_markdown_cell("## 7. Entraînement\n\nComplétez la boucle : passe avant, passe arrière, pas de gradient. "
                          "À la fin, `testAccuracy` est l'exactitude sur le test (une fraction entre 0 et 1)."),
        new_code_cell(PARAMETERS),
        new_code_cell(TRAINING, metadata=meta("training", solution=True)),
        new_code_cell(hidden_test("training"), metadata=meta("test_training", grade=True, points=2)),
        figure(LEARNING_CURVE),
        new_markdown_cell("## 8. Questions\n\n**Question 1.** Pourquoi la loss diminue-t-elle à chaque époque ?"),
        written_question("question_pas", 2, "Le pas est assez petit : chaque pas suit la pente vers le bas."),
        new_markdown_cell("**Question 2.** Pourquoi les cibles valent-elles 0,9 et non 1 ?"),
        written_question("question_cibles", 1, "tanh n'atteint jamais 1 : les poids grandiraient sans fin."),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def training_taking(seconds: float) -> str:
    """The reference training as a student hands it in, then waiting until it has taken `seconds` in all."""
    reference = solutions(new_notebook(cells=[new_code_cell(TRAINING, metadata=meta("training", solution=True))]))
    return (f"import time\n_debut = time.monotonic()\n{reference['training']}\n"
            f"time.sleep(max(0.0, {seconds} - (time.monotonic() - _debut)))")


@dataclass(frozen=True)
class SyntheticTP:
    """TP 0 built and released in `root`, a course root (`build`)."""

    root: Path

    @property
    def source(self) -> Path:
        return self.root / "source" / TP / NOTEBOOK

    @property
    def package(self) -> Path:
        return self.root / "autograder" / TP

    def points(self) -> dict[str, float]:
        """Points of each automatically graded cell, read from the source notebook."""
        nb = nbformat.read(self.source, as_version=4)
        return {c.metadata.nbgrader.grade_id: c.metadata.nbgrader.points for c in nb.cells
                if c.cell_type == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")}

    def full_marks(self) -> float:
        return sum(self.points().values())

    def prepare_course(self, course: Path) -> Path:
        """A fresh course directory with the course's configuration and TP 0's source folder (not yet generated)."""
        prepare_course(course, TP, root=self.root)
        return course

    def released_course(self, course: Path) -> Path:
        """A course where `nbgrader generate_assignment tp00` has run (its gradebook holds TP 0, `release/` the
        students' notebook): a copy of one generated the first time it is asked for."""
        generated = self.root.with_name(f"{self.root.name}-generated")
        if not generated.exists():
            self.prepare_course(generated.with_suffix(".part"))
            assert nbgrader(generated.with_suffix(".part"), "generate_assignment", TP, "--force") == 0
            generated.with_suffix(".part").rename(generated)
        shutil.copytree(generated, course)
        return course

    @contextlib.contextmanager
    def importable(self):
        """`autograder.tp00` importable meanwhile: here, in the grading workers this process starts (they get its
        `sys.path`), and in the processes it runs (`PYTHONPATH`), as the course root on the path makes it."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(self.root), os.environ.get("PYTHONPATH")])))
            patch.syspath_prepend(str(self.root))
            patch.setattr(autograder, "__path__", [*autograder.__path__, str(self.root / "autograder")])
            yield self


def build(root: Path) -> SyntheticTP:
    """TP 0 written into `root` as a course's own TP, then released there (`make release`'s `release`)."""
    shutil.copytree(HERE / TP, root / "autograder" / TP, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "source" / TP).mkdir(parents=True)
    shutil.copy(REPO / "source" / "outils.py", root / "source")
    shutil.copy(REPO / "nbgrader_config.py", root)
    nbformat.write(notebook(), root / "source" / TP / NOTEBOOK)
    synthetic = SyntheticTP(root)
    with synthetic.importable():
        release.release(root, TP)
    return synthetic
