"""The course kit's package: instructors install all of it; students get only the checks of every
TP, without the reference solutions (`autograder.student_kit`).

A course directory may bring TPs of its own: any `autograder/` folder on `sys.path`
(the course root, when nbgrader runs there) adds its `tpNN/` packages to this one.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

# jsonschema (under nbformat and nbgrader) imports the optional `rfc3987_syntax` when installed, for its
# "iri" format checker, and that compiles a grammar: 1.3 s at every start of `autograder` and of each
# of its grading workers. Nothing here validates IRIs: the import is declined.
import sys as _sys

_sys.modules.setdefault("rfc3987_syntax", None)
