"""JupyterHub for the course on one machine (what `make hub` and `make test-classroom` run).

Install first, as root: `python deploy/classroom.py install` (environments, accounts, course,
exchange). Settings (course, accounts, limits, port) come from `deploy/classroom.py`, with
CLASSROOM_* environment variables overriding the defaults. This follows nbgrader's documented
JupyterHub setup: the course's formgrader is a hub service run by the account
`grader-<course>`, reachable by the group `formgrade-<course>`; students are in
`nbgrader-<course>`.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from classroom import Classroom  # noqa: E402

room = Classroom.from_environment()
course = room.course
c = get_config()  # noqa: F821 - provided by traitlets when it loads this file

# ---------------------------------------------------------------- hub, proxy, accounts
c.JupyterHub.bind_url = room.url
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = room.port + 81                                 # 8081 beside 8000
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{room.port + 1}"  # 8001 beside 8000
c.JupyterHub.db_url = f"sqlite:///{room.hub_dir / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(room.hub_dir / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(room.hub_dir / "jupyterhub.pid")
c.ConfigurableHTTPProxy.command = [str(room.proxy)]
c.ConfigurableHTTPProxy.pid_file = str(room.hub_dir / "proxy.pid")

c.JupyterHub.authenticator_class = "pam"  # the machine's own accounts and passwords
c.Authenticator.allowed_users = set(room.accounts)
c.Authenticator.admin_users = set(room.instructors)

c.JupyterHub.load_groups = {
    f"formgrade-{course}": {"users": [*room.instructors, room.grader]},
    f"nbgrader-{course}": {"users": [*room.instructors, *room.students]},
}
c.JupyterHub.load_roles = [
    # a server's token may do what its owner may: nbgrader's course list asks the hub
    # for the user's groups and for the course services with it
    {"name": "server", "scopes": ["inherit"]},
    {"name": f"formgrade-{course}", "groups": [f"formgrade-{course}"],
     "scopes": [f"access:services!service={course}", "list:services", f"read:services!service={course}"]},
    {"name": f"nbgrader-{course}", "groups": [f"nbgrader-{course}"],
     "scopes": ["list:services", f"read:services!service={course}"]},
    # the formgrader adds the students it sees to the course group (nbgrader's JupyterHubAuthPlugin)
    {"name": f"grader-{course}", "services": [course],
     "scopes": ["list:groups", "read:groups", f"groups!group=nbgrader-{course}", "read:users:groups",
                "read:users:name"]},
]

# ---------------------------------------------------------------- formgrader service
# The course's formgrader: a single-user server of the grader account in the course directory,
# with the grader environment (nbgrader + autograder). JupyterHub >= 4.1 forbids framing
# single-user servers (Content-Security-Policy frame-ancestors 'none'; nbgrader issue #1870),
# so the formgrader that JupyterLab's Nbgrader menu would open in an iframe stays blank. It is
# used at top level instead: the hub's Services menu leads to /services/<course>/, whose
# default page is the formgrader. Loosening frame-ancestors would let any user's page frame
# the graders' server on this shared origin.
c.JupyterHub.services = [{
    "name": course,
    "display": True,
    "url": f"http://127.0.0.1:{room.service_port}",
    "command": [str(room.grader_env / "bin" / "jupyterhub-singleuser"), f"--port={room.service_port}"],
    "user": room.grader,
    "cwd": str(room.course_root),
    "oauth_no_confirm": True,
    "environment": {
        "JUPYTERHUB_DEFAULT_URL": "/formgrader",
        "PATH": f"{room.grader_env / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "NBGRADER_EXCHANGE": str(room.exchange),
        "SHELL": "/bin/bash",
    },
}]

# ---------------------------------------------------------------- a restart loses nothing, idle servers stop
# Restarting the hub leaves students' servers and kernels running (the spawner stops a server through
# its cgroup, so servers need not die with the hub); the new hub finds them from its database.
c.JupyterHub.cleanup_servers = False
# A server idle for cull_timeout seconds is stopped. JupyterLab saves an open notebook every 120 s
# (its autosave), so a timeout above that stops nothing a student has not saved.
if room.cull_timeout:
    c.JupyterHub.services.append({
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={room.cull_timeout}"],
    })
    c.JupyterHub.load_roles.append({"name": "idle-culler", "services": ["idle-culler"],
                                    "scopes": ["list:users", "read:users:activity", "read:servers",
                                               "delete:servers"]})

# ---------------------------------------------------------------- students' servers
c.JupyterHub.spawner_class = "spawner.ClassroomSpawner"
c.ClassroomSpawner.server_cmd = [str(room.student_env / "bin" / "jupyterhub-singleuser")]
c.ClassroomSpawner.visible = [str(room.student_env)]
c.ClassroomSpawner.writable = [str(room.exchange)]
# students' kernels share the memory of torch & co. (spawner.py, classroom_kernel.py); CLASSROOM_SHARE_MEMORY=0: not
c.ClassroomSpawner.share_memory = room.share_memory
# kernels talk to their server over unix sockets in the student's runtime folder, not over TCP
# ports that another student's kernel or server could hold (spawner.py: servers have ports of their own)
c.Spawner.args = ["--KernelManager.transport=ipc",
                  # a kernel that boots while the whole class starts theirs may need minutes to answer
                  "--MappingKernelManager.kernel_info_timeout=600"]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
c.Spawner.cpu_limit = room.cpu_limit
c.Spawner.mem_limit = room.mem_limit
c.Spawner.environment = {
    "NBGRADER_EXCHANGE": str(room.exchange),
    "PATH": f"{room.student_env / 'bin'}:/usr/bin:/bin",
}
# ---------------------------------------------------------------- « la séance en direct »
# Each self-check in a student's kernel posts its verdict (TP, function, points, the named mistake; never
# code) to the course's `seance` service, authenticated by the server's own hub token; instructors read
# the live page at /services/seance/ (the custom scope below). CLASSROOM_LIVE=0 turns it all off.
if room.live:
    c.JupyterHub.custom_scopes = {"custom:seance:read": {"description": "Read the course's live session page"}}
    c.JupyterHub.services.append({
        "name": "seance",
        "display": False,  # students may post to it, not read it: the menu would lead them to a refusal
        "url": f"http://127.0.0.1:{room.service_port - 1}",
        "command": [str(room.grader_env / "bin" / "python"), "-m", "autograder.seance"],
        "user": room.grader,
        "cwd": str(room.course_root),
        "oauth_no_confirm": True,
        "oauth_client_allowed_scopes": ["custom:seance:read"],
        "environment": {"SEANCE_COURSE": course, "SEANCE_DATABASE": str(room.course_root / "seance.sqlite")},
    })
    for role in c.JupyterHub.load_roles:
        if role["name"] == f"nbgrader-{course}":
            role["scopes"].append("access:services!service=seance")
        if role["name"] == f"formgrade-{course}":
            role["scopes"] += ["access:services!service=seance", "custom:seance:read"]
    c.Spawner.environment["AUTOGRADER_SEANCE_URL"] = f"{room.url}/services/seance/api/verdicts"

# A whole class logging in at once waits on a French page (deploy/templates/spawn_pending.html), shown at
# once rather than after 10 s of a hanging request; 60 servers started together took up to 110-249 s on
# this 2-core machine, 80 up to 478 s (benchmarks/storm.py, docs/classroom.md): hence 600 s.
c.JupyterHub.template_paths = [str(Path(__file__).resolve().parent / "templates")]
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
c.Spawner.start_timeout = 600
c.Spawner.http_timeout = 600
