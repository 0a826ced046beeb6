"""The classroom's configuration, read without a hub (the hub itself: tests/classroom, `make test-classroom`)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from traitlets.config import PyFileConfigLoader

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "deploy"))

import classroom  # noqa: E402
import spawner  # noqa: E402


def test_students_get_the_projects_runtime_dependencies_and_autograder_only_as_the_kit():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(classroom.student_requirements()) == sorted(project)
    assert not any("autograder" in r for r in classroom.student_requirements())


@pytest.mark.parametrize("variables, expected", [
    ({}, classroom.Classroom()),
    ({"CLASSROOM_STUDENTS": "ana, ben,", "CLASSROOM_CPU_LIMIT": "2.5", "CLASSROOM_MEM_LIMIT": "512M"},
     classroom.Classroom(students=("ana", "ben"), cpu_limit=2.5, mem_limit="512M")),
])
def test_settings_come_from_classroom_variables(variables, expected):
    assert classroom.Classroom.from_environment(variables) == expected


@pytest.mark.parametrize("cpu, threads", [(0.5, 1), (1, 1), (2.9, 2), (4, 4)])
def test_threads_follow_the_cpu_limit_rounded_down(cpu, threads):
    assert spawner.threads_for(cpu) == threads


@pytest.mark.parametrize("text, size", [("2G", 2 << 30), ("512m", 512 << 20), ("1.5G", 3 << 29), ("1000", 1000)])
def test_memory_limits_in_bytes(text, size):
    assert classroom.Classroom(mem_limit=text).mem_bytes() == size


def hub_config(monkeypatch, **variables):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    loader = PyFileConfigLoader("jupyterhub_config.py", path=str(REPO / "deploy"))
    return loader.load_config()


def test_hub_config_follows_nbgraders_jupyterhub_setup(monkeypatch):
    config = hub_config(monkeypatch, CLASSROOM_COURSE="cours", CLASSROOM_INSTRUCTORS="ines",
                        CLASSROOM_STUDENTS="sam,lea")
    groups = config.JupyterHub.load_groups
    assert groups["formgrade-cours"]["users"] == ["ines", "grader-cours"]
    assert groups["nbgrader-cours"]["users"] == ["ines", "sam", "lea"]
    roles = {role["name"]: role for role in config.JupyterHub.load_roles}
    assert "access:services!service=cours" in roles["formgrade-cours"]["scopes"]
    assert roles["formgrade-cours"]["groups"] == ["formgrade-cours"]
    (service,) = [s for s in config.JupyterHub.services if s["name"] == "cours"]
    assert service["name"] == "cours" and service["user"] == "grader-cours"
    assert service["cwd"] == "/home/grader-cours/cours"
    assert service["environment"]["JUPYTERHUB_DEFAULT_URL"] == "/formgrader"
    assert config.Authenticator.allowed_users == {"ines", "sam", "lea"}


def test_idle_servers_are_stopped_after_the_classrooms_timeout_and_outlive_a_hub_restart(monkeypatch):
    config = hub_config(monkeypatch, CLASSROOM_CULL_TIMEOUT="1800")
    (culler,) = [s for s in config.JupyterHub.services if s["name"] == "idle-culler"]
    assert culler["command"][-1] == "--timeout=1800" and config.JupyterHub.cleanup_servers is False
    assert "delete:servers" in {r["name"]: r for r in config.JupyterHub.load_roles}["idle-culler"]["scopes"]
    never = hub_config(monkeypatch, CLASSROOM_CULL_TIMEOUT="0")
    assert "idle-culler" not in [s["name"] for s in never.JupyterHub.services]


def test_the_live_session_is_read_by_the_graders_group_and_fed_by_every_server_or_off(monkeypatch):
    config = hub_config(monkeypatch, CLASSROOM_COURSE="cours")
    roles = {role["name"]: role for role in config.JupyterHub.load_roles}
    assert "custom:seance:read" in roles["formgrade-cours"]["scopes"]
    assert "custom:seance:read" not in roles["nbgrader-cours"]["scopes"]
    assert "access:services!service=seance" in roles["nbgrader-cours"]["scopes"]
    assert config.Spawner.environment["AUTOGRADER_SEANCE_URL"].endswith("/services/seance/api/verdicts")
    off = hub_config(monkeypatch, CLASSROOM_COURSE="cours", CLASSROOM_LIVE="0")
    assert "seance" not in [s["name"] for s in off.JupyterHub.services]
    assert "AUTOGRADER_SEANCE_URL" not in off.Spawner.environment
    assert not any("seance" in scope for role in off.JupyterHub.load_roles for scope in role["scopes"])


def test_students_servers_see_their_environment_not_the_graders(monkeypatch):
    config = hub_config(monkeypatch)
    room = classroom.Classroom()
    assert config.ClassroomSpawner.visible == [str(room.student_env)]
    assert config.ClassroomSpawner.writable == [str(room.exchange)]
    assert config.ClassroomSpawner.server_cmd[0].startswith(str(room.student_env))
    args = spawner.bubblewrap("/home/sam", config.ClassroomSpawner.visible, config.ClassroomSpawner.writable)
    mounted = {args[i + 2] for i, arg in enumerate(args) if arg in ("--bind", "--ro-bind")}
    assert mounted >= {"/usr", "/etc", str(room.student_env), "/home/sam", str(room.exchange)}
    assert not any(str(path) in mounted for path in (REPO, room.grader_env, room.grader_home, room.hub_dir))
    assert args[-1] == "--" and "--disable-userns" in args


def test_a_server_sees_its_own_memory_cgroup_read_only():
    """What the students' kernel reads to tell a student that it was killed for memory (classroom_kernel.py)."""
    folder = "/sys/fs/cgroup/memory/jupyterhub/sam"
    args = spawner.bubblewrap("/home/sam", [], [], cgroup=Path(folder))
    at = args.index(spawner.CGROUP_IN_SANDBOX)
    assert args[at - 2:at] == ["--ro-bind", folder]
    assert folder not in spawner.bubblewrap("/home/sam", [], [])


def test_each_account_has_a_server_port_of_its_own_outside_the_ephemeral_ports():
    ephemeral = range(32768, 61000)
    ports = {spawner.server_port(uid, 20000, ephemeral) for uid in range(1000, 12768)}
    assert len(ports) == 12768 - 1000 and max(ports) < 32768
    with pytest.raises(ValueError, match="port_base"):
        spawner.server_port(13000, 20000, ephemeral)  # 33000 could be any outgoing connection's port
    with pytest.raises(ValueError, match="port_base"):
        spawner.server_port(1000, -500, ephemeral)


def test_students_kernels_use_unix_sockets(monkeypatch):
    assert "--KernelManager.transport=ipc" in hub_config(monkeypatch).Spawner.args


def test_students_kernels_share_memory_unless_the_course_says_not(monkeypatch):
    assert hub_config(monkeypatch).ClassroomSpawner.share_memory is True
    assert hub_config(monkeypatch, CLASSROOM_SHARE_MEMORY="0").ClassroomSpawner.share_memory is False


def test_page_merging_is_turned_on_with_the_kernels_advisor_or_says_why_not(tmp_path):
    ksm = tmp_path / "ksm"
    assert "no samepage merging" in spawner.enable_page_merging(ksm)
    ksm.mkdir()
    for name, value in [("run", "0"), ("advisor_mode", "[none] scan-time"), ("advisor_target_scan_time", "200")]:
        (ksm / name).write_text(value)
    assert spawner.enable_page_merging(ksm) is None
    assert {f.name: f.read_text() for f in ksm.iterdir()} == spawner.KSM_SETTINGS
    older = tmp_path / "older"  # Linux < 6.7: no advisor, nothing written in its place
    older.mkdir()
    (older / "run").write_text("0")
    assert spawner.enable_page_merging(older) is None and [f.name for f in older.iterdir()] == ["run"]


def test_v1_cgroup_folders_sit_under_the_hubs_own_cgroups(monkeypatch, tmp_path):
    for controller in ("memory", "cpu"):
        (tmp_path / controller).mkdir()
    monkeypatch.setattr(spawner, "CGROUP_MOUNT", tmp_path)
    monkeypatch.setattr(spawner, "_own_cgroups", lambda: {"memory": "/hub", "cpu": "/", "pids": "/"})
    folders = spawner.cgroup_folders("sam")
    assert folders == {"memory": tmp_path / "memory/hub/jupyterhub/sam", "cpu": tmp_path / "cpu/jupyterhub/sam"}
    spawner.write_limits(folders, 2 << 30, 1.5)
    assert (folders["memory"] / "memory.limit_in_bytes").read_text() == str(2 << 30)
    assert (folders["cpu"] / "cpu.cfs_quota_us").read_text() == "150000"
    spawner.write_class_limit(folders, 20 << 30)  # the students' servers together
    assert (tmp_path / "memory/hub/jupyterhub/memory.limit_in_bytes").read_text() == str(20 << 30)


def test_no_cgroup_controller_is_an_error_that_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setattr(spawner, "CGROUP_MOUNT", tmp_path)
    monkeypatch.setattr(spawner, "_own_cgroups", lambda: {"": "/"})
    with pytest.raises(spawner.CgroupError, match="mem_limit"):
        spawner.cgroup_folders("sam")
