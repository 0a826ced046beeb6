"""`autograder new-tp tpNN`: the files of a new TP, as a small TP that already passes the contract.

It writes, under the course root, everything a TP is made of (docs/adding-a-tp.md):

    source/tpNN/tpNN.ipynb          the French notebook: one exercise `exemple`, its check, its hidden test
    autograder/tpNN/__init__.py
    autograder/tpNN/reference.py    the reference solution of `exemple`
    autograder/tpNN/checks.py       its spec (cases, oracle, mistakes), then `ASSIGNMENT` and `grade`
    samples/tpNN/students.py        the sample class of `make demo`: right, wrong, untouched
    tests/tpNN/tpNN_catalogue.py    wrong and correct student code, and the three-mistake trial

The example exercise is there to be replaced: each file says where the TP's own content goes, and the
contract (`tests/contract/`) checks the TP as soon as `make release` has written its notebooks.
Nothing existing is overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NAME = re.compile(r"tp\d{2,}")

REFERENCE = '''"""Reference solution of {tp}: one definition per exercise, in the notebook's order (`make release`
writes each into the solution cell of the same name). Never imported by the checks' oracles."""

import torch


def exemple(x: torch.Tensor) -> torch.Tensor:
    r"""Le double de $x$ (à remplacer par le premier exercice du TP)."""
    return 2 * x
'''

CHECKS = '''"""Checks of {tp}, named by the hidden tests of `source/{tp}`: specs only (see `autograder.specs`).

Oracles are torch (autograd in float64), never the reference; the cases hold, by construction, what
exposes each catalogued mistake (docs/adding-a-tp.md, « One copy, one grade »).
"""

from __future__ import annotations

from autograder.assignment import Assignment
from autograder.specs import FunctionSpec, Mistake
from autograder.toolkit import F32, F64, UNDEFINED_NAME, by_hand, randn, table

POLICY = by_hand(loop_message="boucle Python détectée : le TP demande des opérations vectorisées")

_cases = table([("float64, tenseur 5×7", F64, (5, 7)), ("float32, tenseur 4×3", F32, (4, 3)),
                ("float64, lot de taille 1", F64, (1, 4))],
               lambda gen, shape: {{"x": randn(gen, *shape)}})

EXEMPLE = FunctionSpec(
    name="exemple", points=1, arguments=("x",), outputs=("exemple(x)",), cases=_cases, policy=POLICY,
    oracle=lambda a: (2 * a["x"],), error_hints=(UNDEFINED_NAME,),
    mistakes=(Mistake(output=0, message="c'est x lui-même : exemple(x) renvoie le double de x.",
                      predict=lambda a, e: a["x"]),),
)

ASSIGNMENT = Assignment(reference=f"{{__package__}}.reference", specs=[EXEMPLE])
grade = ASSIGNMENT.grade
'''

STUDENTS = '''"""The sample class of {tp} graded by `make demo`.

Each student is a mapping {{grade_id: source}} laid over the reference solution; `None` is a student who
handed in the release untouched. `EXPECTED`: per copy, the test cells whose score is not full marks.
"""

STUDENTS = {{
    "alice": {{}},  # the reference solution, as a student would write it
    "bruno": {{"exemple": "def exemple(x):\\n    return x\\n"}},
    "emma": None,
}}

EXPECTED = {{"bruno": {{"test_exemple": 0}}}}
'''

CATALOGUE = '''"""Catalogues of student code for {tp}, as data: (function, source[, expected message fragment]).

Every source defines one function; the rest of the notebook is the reference solution. At least four
wrong and two correct implementations per graded function (tests/contract/test_catalogues.py).
"""

WRONG = [
    ("exemple", "def exemple(x):\\n    return x", "c'est x lui-même"),
    ("exemple", "def exemple(x):\\n    return x + 2", "incorrect"),
    ("exemple", "def exemple(x):\\n    return x * x", "incorrect"),
    ("exemple", "def exemple(x):\\n    return (2 * x).sum()", "forme attendue"),
]

CORRECT = [
    ("exemple", "def exemple(x):\\n    return x + x"),
    ("exemple", "def exemple(x):\\n    return torch.mul(x, 2)"),
]

# A student's three most common mistakes, made at once in one notebook (tests/contract/test_selfcheck_trial.py);
# with a training, TRIAL_TRAINING is what its check then says.
TRIAL = [
    ("exemple", "def exemple(x):\\n    return x", "c'est x lui-même"),
]
'''


# What the first cell of every TP tells students of the live session (autograder/live.py; a contract test)
LIVE_SESSION_NOTE = ("**Ce que voient vos enseignants** : sur le JupyterHub du cours, chaque `verifier(\"nom\")` leur "
                     "envoie le TP, la fonction, les points et le nom de l'erreur reconnue s'il y en a une — **jamais "
                     "votre code** ni vos valeurs —, pour voir en direct où la classe bloque. Ailleurs (sur votre propre "
                     "machine), rien n'est envoyé.")


def meta(grade_id: str, solution: bool = False, grade: bool = False, points: float | None = None) -> dict:
    """A cell's nbgrader metadata: locked unless it is a solution; a test cell is `grade` with its points."""
    data = {"grade": grade, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
            "solution": solution, "task": False}
    if points is not None:
        data["points"] = points
    return {"nbgrader": data}


def notebook(tp: str) -> nbformat.NotebookNode:
    """The source notebook: the cells `make release` fills (`outils`, the solution), a check, a hidden test."""
    hidden = (f'verifier("exemple")\n\n### BEGIN HIDDEN TESTS\nfrom autograder.{tp}.checks import grade\n'
              'grade("exemple", globals())\n### END HIDDEN TESTS')
    nb = new_notebook(cells=[
        new_markdown_cell(f"# {tp.upper()} : titre du TP\n\nL'idée du TP, puis un exercice par fonction, chacun suivi "
                          "de sa vérification.\n\n" + LIVE_SESSION_NOTE),
        new_code_cell("import torch\n\ntorch.set_num_threads(1)\ntorch.manual_seed(0)", metadata=meta("imports")),
        new_code_cell("", metadata=meta("outils")),
        new_markdown_cell("## Exercice 1 : `exemple`\n\nÉcrivez `exemple(x)`, qui renvoie le double de $x$."),
        new_code_cell("def exemple(x):\n    pass", metadata=meta("exemple", solution=True)),
        new_code_cell(hidden, metadata=meta("test_exemple", grade=True, points=1)),
    ])
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def files(tp: str) -> dict[str, str]:
    """The text files of a new TP, by path relative to the course root."""
    return {f"autograder/{tp}/__init__.py": "",
            f"autograder/{tp}/reference.py": REFERENCE.format(tp=tp),
            f"autograder/{tp}/checks.py": CHECKS.format(tp=tp),
            f"samples/{tp}/students.py": STUDENTS.format(tp=tp),
            f"tests/{tp}/{tp}_catalogue.py": CATALOGUE.format(tp=tp)}


def new_tp(root: Path, tp: str) -> list[Path]:
    """Writes the new TP's files under `root`; SystemExit if the name is not `tpNN` or a file exists."""
    if not NAME.fullmatch(tp):
        raise SystemExit(f"{tp!r}: a TP is named tpNN (tp12, tp13…)")
    written = {root / path: text for path, text in files(tp).items()}
    source = root / "source" / tp / f"{tp}.ipynb"
    existing = [str(p) for p in [*written, source] if p.exists()]
    if existing or (root / "source" / tp).exists():
        raise SystemExit(f"{tp} already has files ({', '.join(existing) or f'source/{tp}/'}): nothing written")
    for path, text in written.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    source.parent.mkdir(parents=True)
    nbformat.write(notebook(tp), source)
    return [*written, source]
