"""The verdict as data: only `autograder.verdict` words it, and nothing reads verdicts back from text."""

import ast
from pathlib import Path

import autograder

PACKAGE = Path(autograder.__file__).resolve().parent
# modules that may use regular expressions, and on what: never on the text of a verdict
REGEX_USERS = {"verdict.py": "the blanks of a remark's sentence, the `code` spans it renders",
               "nbgrader_ext.py": "the hidden-test block of a cell's source", "scaffold.py": "a TP's name"}


def _imports_re(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return any(isinstance(node, ast.Import) and any(a.name == "re" for a in node.names)
               or isinstance(node, ast.ImportFrom) and node.module == "re" for node in ast.walk(tree))


def test_no_module_parses_verdict_text():
    users = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if _imports_re(p)}
    assert users <= set(REGEX_USERS), f"regular expressions in {sorted(users - set(REGEX_USERS))}: read " \
                                      "verdicts as data (autograder.verdict), never from their text"
