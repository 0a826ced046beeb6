"""Global nbgrader config of the classroom (nbgrader's JupyterHub setup, several courses possible).

`deploy/classroom.py` installs it as the sys-prefix config of the student and grader
environments (`<env>/etc/jupyter/nbgrader_config.py`), which every nbgrader command and
server extension of those environments reads; on a hub where all users share one
environment, `/etc/jupyter/nbgrader_config.py` is the usual place.

Which courses a user sees comes from their JupyterHub groups: `nbgrader-<course>` for
students, `formgrade-<course>` for graders (`JupyterHubAuthPlugin`).
"""

import os

from nbgrader.auth import JupyterHubAuthPlugin

c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

c.Exchange.root = os.environ.get("NBGRADER_EXCHANGE", "/srv/nbgrader/exchange")
c.Exchange.path_includes_course = True
c.Authenticator.plugin_class = JupyterHubAuthPlugin
