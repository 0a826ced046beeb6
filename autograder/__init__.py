"""The course kit's package: instructors install all of it; students get only the checks of every
TP, without the reference solutions (`autograder.student_kit`).

A course directory may bring TPs of its own: any `autograder/` folder on `sys.path`
(the course root, when nbgrader runs there) adds its `tpNN/` packages to this one.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
