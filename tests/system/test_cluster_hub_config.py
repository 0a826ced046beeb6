"""The cluster hub's own config code (deploy/kubernetes/values.yaml, hub.extraConfig), executed here.

On the cluster, the z2jh chart's jupyterhub_config.py loads hub.services, hub.loadRoles and the
hub.config sections into `c`, then runs each hub.extraConfig entry with exec() in its own module
namespace, in sorted key order, where `from z2jh import get_config` reads the chart's values. This
file does the same with the snippets exactly as values.yaml holds them, a traitlets Config and a
stand-in `z2jh` module over values.yaml merged onto the chart's default that matters here
(hub.config.JupyterHub.authenticator_class: dummy, z2jh chart 4.4.0's values.yaml). What is checked:
the hub refuses to start with an authenticator that lets anyone in (issue 14, finding 1) unless
the test-only flag says otherwise, the service tokens come from the admin's Secret, and the
identity provider's groups map onto the course groups. No cluster, no Helm: docs/cluster.md.
"""

from __future__ import annotations

import copy
import secrets
import sys
import types
from pathlib import Path

import pytest
import yaml
from jupyterhub.auth import DummyAuthenticator, NullAuthenticator
from traitlets.config import Config

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "deploy" / "kubernetes" / "values.yaml"

# The chart's defaults under the keys the snippets read (zero-to-jupyterhub-k8s, tag 4.4.0,
# jupyterhub/values.yaml); Helm merges the deployment's values over them, maps key by key.
CHART_DEFAULTS = {"hub": {"config": {"JupyterHub": {"admin_access": True, "authenticator_class": "dummy"}}},
                  "custom": {}}

TOKENS = {"DL_FROM_SCRATCH_FORMGRADER_TOKEN": secrets.token_hex(32),
          "DL_FROM_SCRATCH_NGSHARE_TOKEN": secrets.token_hex(32)}


def shipped_values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def merge(base: dict, over: dict) -> dict:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def fake_z2jh(values: dict) -> types.ModuleType:
    """The two names of the chart's z2jh module the snippets may use, over `values`."""
    module = types.ModuleType("z2jh")

    def get_config(key, default=None):
        value = values
        for level in key.split("."):
            if not isinstance(value, dict) or level not in value:
                return default
            value = value[level]
        return value

    module.get_config = get_config
    return module


def run_hub_config(values: dict, monkeypatch, env: dict | None = None, namespace: dict | None = None) -> Config:
    """Load `values` into a Config as the chart's jupyterhub_config.py does, then run extraConfig."""
    values = merge(CHART_DEFAULTS, values)
    for name, value in (TOKENS if env is None else env).items():
        monkeypatch.setenv(name, value)
    z2jh = fake_z2jh(values)
    monkeypatch.setitem(sys.modules, "z2jh", z2jh)

    c = Config()
    c.JupyterHub.services = []
    c.JupyterHub.load_roles = []
    for key, service in copy.deepcopy(values["hub"].get("services", {})).items():
        service.setdefault("name", key)
        service.pop("apiToken", None)
        service["api_token"] = secrets.token_hex(32)  # what the chart generates into its Secret
        c.JupyterHub.services.append(service)
    for key, role in copy.deepcopy(values["hub"].get("loadRoles", {})).items():
        role.setdefault("name", key)
        c.JupyterHub.load_roles.append(role)
    for section, settings in copy.deepcopy(values["hub"].get("config", {})).items():
        c[section].update(settings)

    # The chart's module imports get_config from z2jh itself; the snippets import it again.
    module_namespace = {"get_config": z2jh.get_config} if namespace is None else namespace
    module_namespace.update({"c": c, "__name__": "jupyterhub_config"})
    for key, code in sorted(values["hub"].get("extraConfig", {}).items()):
        exec(compile(code, key, "exec"), module_namespace)  # noqa: S102 - as the chart runs extraConfig
    return c


def with_authenticator(authenticator, **custom) -> dict:
    values = shipped_values()
    if authenticator is None:
        del values["hub"]["config"]["JupyterHub"]["authenticator_class"]
    else:
        values["hub"]["config"]["JupyterHub"]["authenticator_class"] = authenticator
    values["custom"]["dlFromScratch"].update(custom)
    return values


class ADummySubclass(DummyAuthenticator):
    pass


def test_values_hold_one_jupyterhub_section_and_a_real_authenticator():
    text = VALUES.read_text()
    assert sum(line.strip() == "JupyterHub:" for line in text.splitlines()) == 1
    values = shipped_values()
    assert values["hub"]["config"]["JupyterHub"]["authenticator_class"] == "generic-oauth"
    assert values["custom"]["dlFromScratch"]["allowDummyAuthenticatorForTests"] is False


def test_the_shipped_values_start_the_hub_with_the_tokens_of_the_admins_secret(monkeypatch):
    c = run_hub_config(shipped_values(), monkeypatch)
    assert c.JupyterHub.authenticator_class == "generic-oauth"
    tokens = {service["name"]: service["api_token"] for service in c.JupyterHub.services}
    assert tokens == {"dl-from-scratch": TOKENS["DL_FROM_SCRATCH_FORMGRADER_TOKEN"],
                      "ngshare": TOKENS["DL_FROM_SCRATCH_NGSHARE_TOKEN"]}
    services = {service["name"]: service for service in c.JupyterHub.services}
    assert services["ngshare"]["oauth_no_confirm"] is True
    assert services["dl-from-scratch"]["url"].startswith(
        "http://grader-dl-from-scratch.dl-from-scratch-grading.svc")


@pytest.mark.parametrize("authenticator", [
    "dummy",
    "jupyterhub.auth.DummyAuthenticator",
    DummyAuthenticator,
    ADummySubclass,
    "tmp",
    "tmpauthenticator.TmpAuthenticator",
    None,  # the line deleted: the chart's default, dummy, comes back
])
def test_an_authenticator_that_admits_anyone_stops_the_hub(authenticator, monkeypatch):
    with pytest.raises(RuntimeError, match="lets anyone log in") as refused:
        run_hub_config(with_authenticator(authenticator), monkeypatch)
    assert "custom.dlFromScratch.allowDummyAuthenticatorForTests" in str(refused.value)
    assert "hub.config.JupyterHub.authenticator_class" in str(refused.value)


def test_the_check_runs_after_the_sites_own_extra_config(monkeypatch):
    """A site's extraConfig entry (any usual name) that switches to dummy is still caught."""
    values = shipped_values()
    values["hub"]["extraConfig"]["99-site.py"] = 'c.JupyterHub.authenticator_class = "dummy"\n'
    with pytest.raises(RuntimeError, match="lets anyone log in"):
        run_hub_config(values, monkeypatch)


@pytest.mark.parametrize("flag", ["true", 1, "yes", None])
def test_only_a_yaml_true_flag_lets_the_dummy_authenticator_in(flag, monkeypatch):
    with pytest.raises(RuntimeError, match="lets anyone log in"):
        run_hub_config(with_authenticator("dummy", allowDummyAuthenticatorForTests=flag), monkeypatch)


def test_the_test_flag_starts_the_dummy_authenticator_with_a_warning(monkeypatch, capsys):
    c = run_hub_config(with_authenticator("dummy", allowDummyAuthenticatorForTests=True), monkeypatch)
    assert c.JupyterHub.authenticator_class == "dummy"
    assert "lets ANYONE log in" in capsys.readouterr().err


@pytest.mark.parametrize("authenticator", [
    "generic-oauth",
    "azuread",
    "ldapauthenticator.LDAPAuthenticator",
    "jupyterhub.auth.PAMAuthenticator",
    NullAuthenticator,
])
def test_real_authenticators_start(authenticator, monkeypatch):
    c = run_hub_config(with_authenticator(authenticator), monkeypatch)
    assert c.JupyterHub.authenticator_class == authenticator


@pytest.mark.parametrize("variable", sorted(TOKENS))
@pytest.mark.parametrize("value", [None, "", "NGSHARE_TOKEN", "0123456789abcdef"])
def test_a_missing_or_short_service_token_stops_the_hub(variable, value, monkeypatch):
    env = dict(TOKENS)
    if value is None:
        del env[variable]
        monkeypatch.delenv(variable, raising=False)
    else:
        env[variable] = value
    with pytest.raises(RuntimeError, match="Secret dl-from-scratch-hub") as refused:
        run_hub_config(shipped_values(), monkeypatch, env=env)
    secret_key = {"DL_FROM_SCRATCH_FORMGRADER_TOKEN": "formgrader-token",
                  "DL_FROM_SCRATCH_NGSHARE_TOKEN": "ngshare-token"}[variable]
    assert repr(secret_key) in str(refused.value)
    assert "kubectl -n dl-from-scratch create secret generic dl-from-scratch-hub" in str(refused.value)


def test_the_providers_groups_map_onto_the_course_groups_only(monkeypatch):
    values = shipped_values()
    values["custom"]["dlFromScratch"]["idpGroups"] = {
        "formgrade-dl-from-scratch": ["/courses/dl/graders"],
        "nbgrader-dl-from-scratch": ["/courses/dl/students", "/courses/dl/auditors"],
    }
    c = run_hub_config(values, monkeypatch)
    groups_of = c.OAuthenticator.auth_state_groups_key
    assert groups_of({"oauth_user": {"groups": ["/courses/dl/graders", "/staff"]}}) == [
        "formgrade-dl-from-scratch"]
    assert groups_of({"oauth_user": {"groups": ["/courses/dl/auditors"]}}) == ["nbgrader-dl-from-scratch"]
    assert groups_of({"oauth_user": {"groups": "/courses/dl/students"}}) == ["nbgrader-dl-from-scratch"]
    assert groups_of({"oauth_user": {"groups": ["/other-course"]}}) == []
    assert groups_of({"oauth_user": {}}) == []


def test_group_settings_agree_with_each_other():
    """manage_groups rules out load_groups (JupyterHub raises); logins are limited to the two
    course groups, which are those the roles grant and those the providers' groups map onto."""
    values = shipped_values()
    oauth = values["hub"]["config"]["GenericOAuthenticator"]
    assert oauth["manage_groups"] is True
    assert "load_groups" not in values["hub"]["config"]["JupyterHub"]
    course_groups = {"formgrade-dl-from-scratch", "nbgrader-dl-from-scratch"}
    assert set(oauth["allowed_groups"]) == course_groups
    assert set(values["custom"]["dlFromScratch"]["idpGroups"]) == course_groups
    assert {g for role in values["hub"]["loadRoles"].values() for g in role["groups"]} == course_groups


def test_the_snippets_leave_the_charts_config_module_alone(monkeypatch):
    """extraConfig runs in the namespace of the chart's jupyterhub_config.py, whose own code uses
    names such as key, service, cfg, section, os and get_config: the snippets bind only _dlfs names."""
    theirs = {name: object() for name in ("key", "service", "cfg", "section", "os", "sys", "get_config",
                                          "importlib", "entry_points", "ep", "module", "name")}
    namespace = dict(theirs)
    run_hub_config(shipped_values(), monkeypatch, namespace=namespace)
    assert all(namespace[name] is value for name, value in theirs.items())
    bound = set(namespace) - set(theirs) - {"c", "__name__", "__builtins__"}
    assert bound and all(name.lower().startswith("_dlfs") for name in bound), sorted(bound)
