"""The Kubernetes deployment (deploy/kubernetes/), checked offline: no cluster, no docker, no network.

* every YAML (and JSON) file under deploy/ parses without a duplicate mapping key;
* every Kubernetes object found in deploy/kubernetes/**/*.yaml is valid, in strict mode (an unknown
  field fails), for the oldest Kubernetes the z2jh chart supports (1.28) and the newest one the
  installed kubernetes-validate bundles;
* the z2jh values (values.yaml) against tests/system/z2jh_values_subset.schema.yaml, the names and types of
  the chart's values schema at every level values.yaml uses (the chart version is recorded in that
  file and must be the one the docs name); the Kubernetes fragments the chart pastes into its
  objects, and the services, roles, groups and Python it hands to JupyterHub, against Kubernetes
  and JupyterHub themselves;
* the ngshare values (ngshare-values.yaml) against tests/system/ngshare_values.schema.yaml, and the
  Kubernetes parts of them (its pod's resources, init containers …) against Kubernetes;
* the images' Dockerfiles: nothing of autograder/ or source/ reaches the student image but the kit,
  its build-time guard against solutions stays last, tini is its entrypoint, the grader image is
  built FROM it, and the root's .dockerignore keeps .venv and .git out of the build context.

Each rule is a function that returns what is wrong (or raises); each is also shown to fail, on a
broken copy of the real file or a small made-up one. The charts themselves are not rendered here:
their templates are not part of this repository, and these tests run without network.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import re
import shlex
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
KUBE = DEPLOY / "kubernetes"
TESTS = Path(__file__).resolve().parent
STUDENT_DOCKERFILE = KUBE / "images" / "student" / "Dockerfile"
GRADER_DOCKERFILE = KUBE / "images" / "grader" / "Dockerfile"

# Oldest: the z2jh 4.x charts' kubeVersion ">=1.28.0-0". Newest: whatever kubernetes-validate bundles.
OLDEST_KUBERNETES = "1.28"
NEWEST_KUBERNETES = kv_utils.major_minor(kv_utils.latest_version())
KUBERNETES_VERSIONS = [pytest.param(v, id=f"k8s-{v}") for v in (OLDEST_KUBERNETES, NEWEST_KUBERNETES)]


# --- YAML without duplicate keys --------------------------------------------------------------

class UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a mapping with the same key twice is an error.

    (Plain PyYAML keeps the last value silently: half of a doubled `JupyterHub:` block would vanish.)
    Merge keys (`<<: *anchor`) may still be overridden by explicit keys, as YAML intends.
    """

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                marker = json.dumps(key, sort_keys=True, default=repr)
                if marker in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"found duplicate key {key!r} (first at line {seen[marker].line + 1})",
                        key_node.start_mark)
                seen[marker] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load_documents(text: str) -> list:
    """Every non-empty document of a YAML stream, duplicate keys refused."""
    return [doc for doc in yaml.load_all(text, Loader=UniqueKeyLoader) if doc is not None]


def load_one(path: Path):
    (doc,) = load_documents(path.read_text())
    return doc


def load_json_unique(text: str):
    def refuse_duplicates(pairs):
        keys = [k for k, _ in pairs]
        doubled = sorted({k for k in keys if keys.count(k) > 1})
        if doubled:
            raise ValueError(f"duplicate keys {doubled}")
        return dict(pairs)
    return json.loads(text, object_pairs_hook=refuse_duplicates)


def files_under(folder: Path, *suffixes: str) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in suffixes)


@pytest.mark.parametrize("text", [
    pytest.param("hub:\n  config:\n    JupyterHub: {a: 1}\n    JupyterHub: {b: 2}\n", id="JupyterHub-twice"),
    pytest.param("hub: {}\nsingleuser: {}\nhub: {}\n", id="top-level"),
    pytest.param("kind: A\n---\nkind: B\nmetadata: {name: x, name: y}\n", id="in-second-document"),
    pytest.param("{1: a, 1: b}\n", id="integer-key"),
])
def test_the_loader_refuses_a_duplicate_key(text):
    assert list(yaml.safe_load_all(text))  # plain PyYAML takes it without a word
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key"):
        load_documents(text)


def test_the_loader_still_reads_merge_keys_and_equal_values_under_different_keys():
    text = "base: &b {x: 1, y: 2}\nchild:\n  <<: *b\n  y: 3\nother: {x: 1}\n"
    assert load_documents(text) == [{"base": {"x": 1, "y": 2}, "child": {"x": 1, "y": 3}, "other": {"x": 1}}]
    with pytest.raises(ValueError, match="duplicate keys"):
        load_json_unique('{"defaultAction": "SCMP_ACT_ERRNO", "defaultAction": "SCMP_ACT_ALLOW"}')


@pytest.mark.parametrize("path", files_under(DEPLOY, ".yaml", ".yml", ".json"),
                         ids=lambda p: str(p.relative_to(DEPLOY)))
def test_no_file_under_deploy_has_a_duplicate_key(path):
    if path.suffix == ".json":
        load_json_unique(path.read_text())
    else:
        assert load_documents(path.read_text()), f"{path} holds no YAML document"


# --- Kubernetes objects --------------------------------------------------------------------------

# Helm values files: not Kubernetes objects; each checked against its own schema below.
HELM_VALUES = {
    KUBE / "values.yaml": TESTS / "z2jh_values_subset.schema.yaml",
    KUBE / "ngshare-values.yaml": TESTS / "ngshare_values.schema.yaml",
}


def assert_problems(problems: list[str], expected: str | None) -> None:
    """No problem when nothing is expected; otherwise one of them says `expected`."""
    if expected is None:
        assert problems == [], problems
    else:
        assert any(expected in p for p in problems), problems


def is_kubernetes_object(doc) -> bool:
    return isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc


def kubernetes_problems(obj: dict, version: str) -> list[str]:
    """What the Kubernetes API of `version` (strict: unknown fields too) would refuse in `obj`."""
    name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(str(p) for p in e.path) or "(top)"
        return [f"{name} at {where}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{name}: {e.message}"]
    return []


def manifest_files() -> list[Path]:
    return [p for p in files_under(KUBE, ".yaml", ".yml") if p not in HELM_VALUES]


def test_kubernetes_validate_knows_the_oldest_supported_kubernetes():
    bundled = {kv_utils.major_minor(v) for v in kv_utils.all_versions()}
    assert OLDEST_KUBERNETES in bundled, f"kubernetes-validate {kubernetes_validate.__version__} bundles {sorted(bundled)}"
    assert [int(n) for n in NEWEST_KUBERNETES.split(".")] >= [int(n) for n in OLDEST_KUBERNETES.split(".")]


def test_every_yaml_file_of_the_deployment_is_a_manifest_or_a_known_values_file():
    manifests = manifest_files()
    assert manifests, "no Kubernetes manifest found under deploy/kubernetes/"
    for path in manifests:
        docs = load_documents(path.read_text())
        strays = [i for i, doc in enumerate(docs) if not is_kubernetes_object(doc)]
        assert docs and not strays, (
            f"{path.relative_to(REPO)}: documents {strays} have no apiVersion and kind: a Helm values "
            "file must be listed in HELM_VALUES with its schema, anything else must be a Kubernetes object")
    for path in HELM_VALUES:
        assert path.exists(), path


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(KUBE)))
def test_manifests_are_valid_kubernetes(path, version):
    problems = [p for doc in load_documents(path.read_text()) for p in kubernetes_problems(doc, version)]
    assert not problems, f"{path.relative_to(REPO)} on Kubernetes {version}:\n" + "\n".join(problems)


GOOD_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: demo}
spec:
  replicas: 1
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec:
      containers:
        - name: demo
          image: demo:1
"""


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("old, new, expected", [
    pytest.param("", "", None, id="good"),
    pytest.param("  replicas: 1", "  replica: 1", "'replica' was unexpected", id="unknown-field"),
    pytest.param("  replicas: 1", "  replicas: one", "is not of type", id="wrong-type"),
    pytest.param("        - name: demo\n", "        - \n", "'name' is a required property", id="missing-required"),
    pytest.param("kind: Deployment", "kind: Deploymnet", "Couldn't find schema", id="unknown-kind"),
    pytest.param("apps/v1", "extensions/v1beta1", "Couldn't find schema", id="removed-api"),
    pytest.param("          image: demo:1",
                 "          image: demo:1\n          securityContext: {privileged: yes, capabilitys: {add: [SYS_ADMIN]}}",
                 "'capabilitys' was unexpected", id="misspelt-nested"),
])
def test_the_manifest_check_refuses_broken_objects(tmp_path, version, old, new, expected):
    path = tmp_path / "broken.yaml"
    path.write_text(GOOD_DEPLOYMENT.replace(old, new, 1))
    problems = [p for doc in load_documents(path.read_text()) for p in kubernetes_problems(doc, version)]
    if expected is None:
        assert problems == []
    else:
        assert problems and expected in problems[0], problems


# --- z2jh values ---------------------------------------------------------------------------------

Z2JH_SCHEMA_FILE = HELM_VALUES[KUBE / "values.yaml"]


def z2jh_schema() -> dict:
    return load_one(Z2JH_SCHEMA_FILE)


def schema_problems(values, schema: dict) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    return sorted(f"{'.'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
                  for e in validator.iter_errors(values))


def undescribed_levels(values, schema: dict, path: str = "") -> list[str]:
    """Mappings of `values` that meet a schema node which does not say what keys it allows.

    The subset schema gives levels that values.yaml does not use their type only: a key added
    below such a level would go unchecked, so using one means describing it in the subset first.
    """
    if not isinstance(values, dict):
        return []
    if "additionalProperties" not in schema and "patternProperties" not in schema:
        return [path or "(top)"]
    if schema.get("additionalProperties") is True:
        return []  # open in the chart too: JupyterHub's config, extraEnv, custom …
    found = []
    for key, value in values.items():
        sub = schema.get("properties", {}).get(key)
        if sub is None:
            sub = next((s for pattern, s in schema.get("patternProperties", {}).items()
                        if re.search(pattern, key)), None)
        if sub is not None:
            found += undescribed_levels(value, sub, f"{path}.{key}".lstrip("."))
    return found


def z2jh_values() -> dict:
    return load_one(KUBE / "values.yaml")


def test_z2jh_values_follow_the_chart_schema():
    values = z2jh_values()
    assert not schema_problems(values, z2jh_schema()), schema_problems(values, z2jh_schema())
    assert not undescribed_levels(values, z2jh_schema()), (
        "values.yaml uses levels that tests/system/z2jh_values_subset.schema.yaml does not describe: "
        f"{undescribed_levels(values, z2jh_schema())}; add the chart's property names there")


def changed(values: dict, path: str, *, rename: str | None = None, value=None) -> dict:
    """A copy of `values` with the key at dotted `path` renamed, or set to `value` (parents made)."""
    values = copy.deepcopy(values)
    *parents, last = path.split(".")
    node = values
    for key in parents:
        node = node.setdefault(key, {})
    if rename:
        node[rename] = node.pop(last)
    else:
        node[last] = value
    return values


def misspelt_keys(values, schema: dict, path: str = ""):
    """(path of a mapping, a misspelling of its first key) for every closed level values uses.

    The misspelling swaps the key's last two letters, or the case of its first one, whichever is
    neither a property nor a pattern the level allows.
    """
    if not isinstance(values, dict) or not values or schema.get("additionalProperties", True) is not False:
        return
    allowed, patterns = schema.get("properties", {}), schema.get("patternProperties", {})
    first = next(iter(values))
    for candidate in (first[:-2] + first[-1] + first[-2], first[0].swapcase() + first[1:]):
        if candidate not in allowed and not any(re.search(p, candidate) for p in patterns):
            yield path, first, candidate
            break
    for key, value in values.items():
        sub = allowed.get(key) or next((s for p, s in patterns.items() if re.search(p, key)), None)
        if sub is not None:
            yield from misspelt_keys(value, sub, f"{path}.{key}".lstrip("."))


MISSPELT = list(misspelt_keys(load_one(KUBE / "values.yaml"), load_one(Z2JH_SCHEMA_FILE)))


def test_every_closed_level_of_the_z2jh_values_is_tried_with_a_misspelt_key():
    assert len(MISSPELT) >= 10, MISSPELT  # values.yaml uses more than ten closed levels of the chart


@pytest.mark.parametrize("level, key, misspelt", MISSPELT, ids=[f"{lv or '(top)'}.{m}" for lv, _, m in MISSPELT])
def test_the_z2jh_schema_refuses_a_misspelt_key_at_every_level(level, key, misspelt):
    values = changed(z2jh_values(), f"{level}.{key}".lstrip("."), rename=misspelt)
    problems = schema_problems(values, z2jh_schema())
    assert any(repr(misspelt) in p for p in problems), problems


WRONG_TYPES = [
    ("singleuser.cpu.limit", "1", "is not of type 'number', 'null'"),
    ("singleuser.memory.limit", ["2G"], "is not of type 'number', 'string', 'null'"),
    ("singleuser.extraFiles.nbgrader-config", {"mountPath": "/x", "data": {}, "stringData": ""},
     "is valid under each of"),
    ("singleuser.extraFiles.nbgrader-config", {"data": {}}, "'mountPath' is a required property"),
    ("singleuser.storage.type", "ebs", "is not one of"),
    ("singleuser.startTimeout", 600.5, "is not of type 'integer', 'null'"),
    ("singleuser.cloudMetadata.blockWithIptables", "false", "is not of type 'boolean'"),
    ("hub.networkPolicy.interNamespaceAccessLabels", "allow", "is not one of"),
    ("scheduling.userPlaceholder.replicas", "8", "is not of type 'integer'"),
    ("prePuller.continuous.enabled", "yes", "is not of type 'boolean'"),
    ("cull.timeout", "1h", "is not of type 'integer', 'null'"),
]


@pytest.mark.parametrize("path, value, expected", WRONG_TYPES, ids=[path for path, _, _ in WRONG_TYPES])
def test_the_z2jh_schema_refuses_wrong_types(path, value, expected):
    problems = schema_problems(changed(z2jh_values(), path, value=value), z2jh_schema())
    assert any(expected in p for p in problems), problems


OPEN_LEVELS = [
    ("hub.config.JupyterHub.load_grups", {}),          # JupyterHub's own config: open in the chart
    ("hub.config.SomeAuthenticator", {"any": 1}),
    ("hub.services.ngshare.api_tokn", "x"),              # services: open (JupyterHub checks them)
    ("hub.extraConfig.99-more", "c.JupyterHub.x = 1"),
    ("singleuser.extraEnv.ANY_NAME", "1"),
    ("custom.anything", 1),
]


@pytest.mark.parametrize("path, value", OPEN_LEVELS, ids=[path for path, _ in OPEN_LEVELS])
def test_the_z2jh_schema_stays_open_where_the_chart_is_open(path, value):
    assert schema_problems(changed(z2jh_values(), path, value=value), z2jh_schema()) == []


def test_a_level_the_subset_schema_does_not_describe_is_reported():
    values = changed(z2jh_values(), "hub.db", value={"type": "sqlite-pvc", "pvc": {"storage": "1Gi"}})
    values = changed(values, "singleuser.storage.dynamic", value={"storageClas": "fast"})
    assert undescribed_levels(values, z2jh_schema()) == ["hub.db", "singleuser.storage.dynamic"]


def docs_chart_versions() -> dict[str, list[str]]:
    """The z2jh chart versions named by `helm … jupyterhub/jupyterhub … --version X` in the docs."""
    found = {}
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), *files_under(KUBE, ".yaml", ".md")]:
        text = path.read_text().replace("\\\n", " ")
        versions = [m.group(1) for line in text.splitlines() if "jupyterhub/jupyterhub" in line
                    for m in re.finditer(r"--version[= ]+([^\s]+)", line)]
        if versions:
            found[str(path.relative_to(REPO))] = versions
    return found


def test_the_docs_name_the_chart_version_the_schema_was_read_from():
    schema_version = str(z2jh_schema()["x-chart-version"])
    named = docs_chart_versions()
    assert named, "no `helm … jupyterhub/jupyterhub --version X` in README.md, docs/ or deploy/kubernetes/"
    wrong = {path: v for path, versions in named.items() for v in versions if v != schema_version}
    assert not wrong, (f"the docs name z2jh chart {wrong}, tests/system/z2jh_values_subset.schema.yaml was read "
                       f"from {schema_version}: name that version, or update the subset from the other one")


def test_the_student_image_runs_the_jupyterhub_major_of_the_chart():
    app_version = str(z2jh_schema()["x-chart-app-version"])
    arg = re.search(r"^ARG\s+JUPYTERHUB_VERSION=(\S+)", STUDENT_DOCKERFILE.read_text(), re.MULTILINE)
    assert arg, "the student Dockerfile gives JUPYTERHUB_VERSION no default"
    assert arg.group(1).split(".")[0] == app_version.split(".")[0], (
        f"student image JupyterHub {arg.group(1)}, z2jh chart {z2jh_schema()['x-chart-version']} runs {app_version}")


# What z2jh copies into Kubernetes objects as it is: network policy rules, and environment variables
# (a mapping's key becomes the variable's name). Checked as Kubernetes would check the rendered object.
NETWORK_POLICY_FRAGMENTS = ("hub.networkPolicy", "proxy.chp.networkPolicy", "singleuser.networkPolicy")
ENV_FRAGMENTS = ("hub.extraEnv", "proxy.chp.extraEnv", "singleuser.extraEnv")


def at_path(values: dict, path: str):
    node = values
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def env_list(extra_env) -> tuple[list, list[str]]:
    """z2jh's extraEnv as a container's env: a list as it is; a mapping's strings become `value`, its
    mappings are the variable (name from the key). Anything else fails the chart's rendering."""
    if isinstance(extra_env, list):
        return extra_env, []
    env, problems = [], []
    for name, value in (extra_env or {}).items():
        if isinstance(value, str):
            env.append({"name": name, "value": value})
        elif isinstance(value, dict):
            env.append({"name": name, **value})
        else:
            problems.append(f"{name}: {value!r} is neither a string nor a mapping (the chart or the hub fails)")
    return env, problems


def fragment_problems(values: dict, version: str) -> list[str]:
    problems = []
    for path in NETWORK_POLICY_FRAGMENTS:
        node = at_path(values, path) or {}
        rules = {k: node[k] for k in ("ingress", "egress") if node.get(k)}
        if rules:
            policy = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                      "metadata": {"name": path.replace(".", "-").lower()},
                      "spec": {"podSelector": {}, **rules}}
            problems += [f"{path}: {p}" for p in kubernetes_problems(policy, version)]
    for path in ENV_FRAGMENTS:
        env, wrong = env_list(at_path(values, path))
        problems += [f"{path}.{w}" for w in wrong]
        if env:
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": path.replace(".", "-").lower()},
                   "spec": {"containers": [{"name": "c", "image": "i", "env": env}]}}
            problems += [f"{path}: {p}" for p in kubernetes_problems(pod, version)]
    return problems


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path, value, expected", [
    pytest.param("", None, None, id="as-is"),
    pytest.param("singleuser.networkPolicy.egress", [{"to": [{"podSelectr": {}}]}], "'podSelectr' was unexpected",
                 id="egress-rule"),
    pytest.param("hub.networkPolicy.ingress", [{"form": [{"podSelector": {}}]}], "'form' was unexpected",
                 id="ingress-rule"),
    pytest.param("proxy.chp.networkPolicy.egress", [{"ports": [{"port": 8888, "protocl": "TCP"}]}],
                 "'protocl' was unexpected", id="proxy-egress-rule"),
    pytest.param("hub.extraEnv.TOKEN", {"valueFrom": {"secretKeyref": {"name": "s", "key": "k"}}},
                 "'secretKeyref' was unexpected", id="env-value-from"),
    pytest.param("singleuser.extraEnv.OMP_NUM_THREADS", 1, "neither a string nor a mapping", id="env-number"),
])
def test_what_z2jh_copies_into_kubernetes_objects_is_valid_kubernetes(version, path, value, expected):
    values = changed(z2jh_values(), path, value=value) if path else z2jh_values()
    problems = fragment_problems(values, version)
    assert_problems(problems, expected)


ROLE_FIELDS = {"name", "description", "scopes", "users", "services", "groups"}  # JupyterHub.load_roles
GROUP_FIELDS = {"users", "properties"}  # JupyterHub.load_groups


def jupyterhub_problems(values: dict) -> list[str]:
    """What JupyterHub would refuse, or silently ignore, in the services, roles and groups of values.

    JupyterHub refuses an unknown service field and an unknown scope at start; it ignores an unknown
    role or group field (a misspelt `groups:` would give the role to nobody): refused here too, and
    so is Python that does not compile (the hub would not start, or nbgrader not read its config).
    """
    from jupyterhub.app import JupyterHub
    from jupyterhub.scopes import scope_definitions
    from jupyterhub.services.service import Service

    hub = values.get("hub", {})
    problems = []
    service_fields = set(Service.class_trait_names(input=True)) | {"apiToken"}  # the chart moves apiToken
    for name, spec in hub.get("services", {}).items():
        problems += [f"hub.services.{name}.{k}: no such service field" for k in sorted(set(spec) - service_fields)]
    for name, role in hub.get("loadRoles", {}).items():
        problems += [f"hub.loadRoles.{name}.{k}: no such role field" for k in sorted(set(role) - ROLE_FIELDS)]
        for scope in role.get("scopes", []):
            base, _, target = scope.partition("!")
            if base not in scope_definitions and not base.startswith("custom:"):
                problems.append(f"hub.loadRoles.{name}: no such scope {base!r}")
            kind, _, target_name = target.partition("=")
            if kind == "service" and target_name not in hub.get("services", {}):
                problems.append(f"hub.loadRoles.{name}: scope {scope!r} names no service of hub.services")
            elif target and kind not in ("user", "group", "server", "service"):
                problems.append(f"hub.loadRoles.{name}: scope {scope!r} has no such filter {kind!r}")
    hub_config = hub.get("config", {}).get("JupyterHub", {})
    known = set(JupyterHub.class_trait_names(config=True))
    problems += [f"hub.config.JupyterHub.{k}: JupyterHub has no such option" for k in sorted(set(hub_config) - known)]
    for name, group in hub_config.get("load_groups", {}).items():
        if isinstance(group, dict):
            problems += [f"hub.config.JupyterHub.load_groups.{name}.{k}: no such group field"
                         for k in sorted(set(group) - GROUP_FIELDS)]
    # Python the hub runs (hub.extraConfig) or a student's Jupyter reads (a .py extraFile).
    python = {f"hub.extraConfig.{k}": v for k, v in hub.get("extraConfig", {}).items()}
    python |= {f"singleuser.extraFiles.{k}": f.get("stringData", "")
               for k, f in values.get("singleuser", {}).get("extraFiles", {}).items()
               if str(f.get("mountPath", "")).endswith(".py")}
    for where, source in python.items():
        try:
            compile(source, where, "exec")
        except SyntaxError as e:
            problems.append(f"{where}: line {e.lineno}: {e.msg}")
    return problems


def first_key(values: dict, path: str) -> str:
    node = at_path(values, path)
    assert node, f"values.yaml has no {path}"
    return next(iter(node))


@pytest.mark.parametrize("make_path, value, expected", [
    pytest.param(None, None, None, id="as-is"),
    pytest.param(lambda v: f"hub.services.{first_key(v, 'hub.services')}.api_tokn", "x", "no such service field",
                 id="service-field"),
    pytest.param(lambda v: f"hub.loadRoles.{first_key(v, 'hub.loadRoles')}.group", ["g"], "no such role field",
                 id="role-field"),
    pytest.param(lambda v: f"hub.loadRoles.{first_key(v, 'hub.loadRoles')}.scopes",
                 ["acess:services!service=ngshare"], "no such scope", id="scope"),
    pytest.param(lambda v: f"hub.loadRoles.{first_key(v, 'hub.loadRoles')}.scopes",
                 ["access:services!service=no-such-service"], "names no service", id="scope-service"),
    pytest.param(lambda v: f"hub.loadRoles.{first_key(v, 'hub.loadRoles')}.scopes",
                 ["access:services!srvice=ngshare"], "no such filter", id="scope-filter"),
    pytest.param(lambda v: "hub.config.JupyterHub.load_grups", {}, "no such option", id="hub-option"),
    pytest.param(lambda v: "hub.config.JupyterHub.load_groups", {"graders": {"user": ["ana"]}},
                 "no such group field", id="group-field"),
    pytest.param(lambda v: "hub.extraConfig.30-broken", "if True:\nc.JupyterHub.x = 1\n",
                 "expected an indented block", id="extra-config-syntax"),
    pytest.param(lambda v: "singleuser.extraFiles.broken", {"mountPath": "/etc/jupyter/x.py", "stringData": "c = ("},
                 "was never closed", id="extra-file-syntax"),
])
def test_services_roles_groups_and_python_are_what_jupyterhub_takes(make_path, value, expected):
    values = z2jh_values()
    if make_path:
        values = changed(values, make_path(values), value=value)
    problems = jupyterhub_problems(values)
    assert_problems(problems, expected)


# --- ngshare values ------------------------------------------------------------------------------

def ngshare_values() -> dict:
    return load_one(KUBE / "ngshare-values.yaml")


def ngshare_schema() -> dict:
    return load_one(HELM_VALUES[KUBE / "ngshare-values.yaml"])


def test_ngshare_values_use_the_keys_of_the_chart():
    assert schema_problems(ngshare_values(), ngshare_schema()) == []


NGSHARE_MISSPELT = list(misspelt_keys(load_one(KUBE / "ngshare-values.yaml"), load_one(HELM_VALUES[KUBE / "ngshare-values.yaml"])))


@pytest.mark.parametrize("level, key, misspelt", NGSHARE_MISSPELT,
                         ids=[f"{lv or '(top)'}.{m}" for lv, _, m in NGSHARE_MISSPELT])
def test_the_ngshare_schema_refuses_a_misspelt_key_at_every_level(level, key, misspelt):
    values = changed(ngshare_values(), f"{level}.{key}".lstrip("."), rename=misspelt)
    problems = schema_problems(values, ngshare_schema())
    assert any(repr(misspelt) in p for p in problems), problems


@pytest.mark.parametrize("path, value, expected", [
    pytest.param("ngshare.hub_api_tokn", "x", "'hub_api_tokn' was unexpected", id="ngshare-key"),
    pytest.param("deployment.replicas", 1, "'replicas' was unexpected", id="deployment-key"),
    pytest.param("pvc.size", "1Gi", "'size' was unexpected", id="pvc-key"),
    pytest.param("pvc.accessModes", ["ReadWriteSome"], "is not one of", id="access-mode"),
    pytest.param("ngshare.admins", ["ana,ben"], "does not match", id="admin-with-comma"),
    pytest.param("deployment.replicaCount", "1", "is not of type 'integer'", id="replicas-type"),
    pytest.param("ngshare.env", {"DEBUG": 1}, "is not of type 'string'", id="env-value"),
])
def test_the_ngshare_schema_refuses_unknown_keys_and_wrong_types(path, value, expected):
    problems = schema_problems(changed(ngshare_values(), path, value=value), ngshare_schema())
    assert any(expected in p for p in problems), problems


def ngshare_fragment_problems(values: dict, version: str) -> list[str]:
    """The Kubernetes parts of the ngshare values, in a Deployment shaped as the chart's."""
    deployment = values.get("deployment", {})
    container = {"name": "ngshare", "image": "libretexts/ngshare:v0.6.0"}
    if deployment.get("resources"):
        container["resources"] = deployment["resources"]
    pod = {"containers": [container]}
    for key in ("initContainers", "nodeSelector", "tolerations", "affinity"):
        if deployment.get(key):
            pod[key] = deployment[key]
    spec = {"selector": {"matchLabels": {"app": "ngshare"}},
            "template": {"metadata": {"labels": {"app": "ngshare"}}, "spec": pod}}
    if deployment.get("strategy"):
        spec["strategy"] = deployment["strategy"]
    obj = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ngshare"}, "spec": spec}
    return kubernetes_problems(obj, version)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("path, value, expected", [
    pytest.param("", None, None, id="as-is"),
    pytest.param("deployment.strategy", {"type": "Recreate", "rollingUpdat": {}}, "'rollingUpdat' was unexpected",
                 id="strategy"),
    pytest.param("deployment.initContainers", [{"name": "x", "image": "y", "comand": ["true"]}],
                 "'comand' was unexpected", id="init-container"),
    pytest.param("deployment.tolerations", [{"key": "k", "efect": "NoSchedule"}], "'efect' was unexpected",
                 id="toleration"),
])
def test_what_the_ngshare_chart_copies_into_its_deployment_is_valid_kubernetes(version, path, value, expected):
    values = changed(ngshare_values(), path, value=value) if path else ngshare_values()
    problems = ngshare_fragment_problems(values, version)
    assert_problems(problems, expected)


def test_the_ngshare_schema_names_the_chart_version():
    assert str(ngshare_schema()["x-chart-version"]) == "0.6.0"
    assert re.search(r"ngshare 0\.6\.0", (REPO / "docs" / "cluster.md").read_text())


# --- Dockerfiles ---------------------------------------------------------------------------------

def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: comment lines dropped, continuation lines joined.

    Enough for these Dockerfiles; heredocs (`RUN <<EOF`) are not understood and are refused.
    """
    instructions, pending = [], ""
    for line in text.splitlines():
        if line.lstrip().startswith("#") or (pending and not line.strip()):
            continue  # Docker drops comment lines, inside a continuation too
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1]
            continue
        line, pending = pending + line, ""
        if line.strip():
            keyword, _, args = line.strip().partition(" ")
            assert "<<" not in args or keyword.upper() not in ("RUN", "COPY"), f"heredoc not understood: {line}"
            instructions.append((keyword.upper(), args.strip()))
    assert not pending, "the Dockerfile ends inside a continuation line"
    return instructions


def dockerfile_stages(text: str) -> tuple[list[tuple[str, str]], list[dict]]:
    """The instructions before the first FROM (global ARGs), and the stages: name, base, instructions."""
    preamble, stages = [], []
    for keyword, args in dockerfile_instructions(text):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append({"name": name, "base": words[0], "instructions": []})
        elif stages:
            stages[-1]["instructions"].append((keyword, args))
        else:
            preamble.append((keyword, args))
    return preamble, stages


def copy_parts(args: str) -> tuple[dict, list[str]]:
    """COPY/ADD arguments: the --flags as a dict, and the source paths (the destination dropped)."""
    flags = {}
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        key, _, value = flag[2:].partition("=")
        flags[key] = value
        args = args.lstrip()
    words = json.loads(args) if args.startswith("[") else shlex.split(args)
    return flags, words[:-1]


def top_folder(source: str) -> str:
    parts = [p for p in source.split("/") if p not in ("", ".")]
    return parts[0] if parts else "."


GUARD_FIND = r"(?:!\s*find|-z\s+\"?\$\(\s*find)\b[^&|;]*{}"


def student_image_problems(text: str) -> list[str]:
    _, stages = dockerfile_stages(text)
    if not stages:
        return ["no FROM"]
    final = stages[-1]["instructions"]
    kit_stages = {s["name"] for s in stages[:-1]
                  if any(k == "RUN" and "autograder.student_kit" in a for k, a in s["instructions"])}
    problems = []
    if not kit_stages:
        problems.append("no build stage makes the student kit (python -m autograder.student_kit)")
    for keyword, args in final:
        if keyword not in ("COPY", "ADD"):
            continue
        flags, sources = copy_parts(args)
        if "from" in flags:
            if flags["from"] not in kit_stages:
                problems.append(f"final stage: {keyword} --from={flags['from']}: only the kit stage may reach the image")
            continue
        for source in sources:
            folder = top_folder(source)
            if folder in (".", "*") or any(fnmatch.fnmatch(name, folder) for name in ("autograder", "source")):
                problems.append(f"final stage: {keyword} {source}: autograder/ and source/ must not reach the student image")
    guard = [i for i, (k, a) in enumerate(final) if k == "RUN"
             and re.search(GUARD_FIND.format(r"reference\.py"), a)
             and re.search(GUARD_FIND.format(r"source/[^&|;]*\.ipynb"), a)]
    if not guard:
        problems.append("final stage: no RUN fails the build when a reference.py or a source/ notebook is in the image")
    else:
        late = [f"{k} {a[:60]}" for i, (k, a) in enumerate(final)
                if i > guard[-1] and (k in ("COPY", "ADD") or (k == "RUN" and "pip install" in a))]
        if late:
            problems.append(f"final stage: content added after the solution guard: {late}")
    entrypoints = [a for k, a in final if k == "ENTRYPOINT"]
    try:
        entry = json.loads(entrypoints[-1]) if entrypoints else []
    except json.JSONDecodeError:
        entry = []
    if not entry or Path(entry[0]).name != "tini":
        problems.append(f"final stage: the entrypoint is not tini in exec form: {entrypoints[-1:] or 'none'}")
    if not any(k == "RUN" and re.search(r"apt-get install[^&|;]*\btini\b", a) for k, a in final):
        problems.append("final stage: tini is not installed")
    return problems


def grader_image_problems(text: str) -> list[str]:
    preamble, stages = dockerfile_stages(text)
    if not stages:
        return ["no FROM"]
    base = stages[-1]["base"]
    variable = re.fullmatch(r"\$\{?(\w+)\}?", base)
    global_args = {a.split("=")[0] for k, a in preamble if k == "ARG"}
    if variable and variable.group(1) in global_args and "STUDENT" in variable.group(1).upper():
        return []
    if not variable and "student" in base:
        return []
    return [f"the grader image is FROM {base}, not from the student image (ARG STUDENT_IMAGE before FROM)"]


def test_the_dockerfile_reader_joins_lines_and_splits_stages():
    preamble, stages = dockerfile_stages(
        "# comment\nARG BASE=x\nFROM a AS kit\nRUN one \\\n  # inside\n  two\nFROM --platform=linux/amd64 b\n"
        'ENTRYPOINT ["tini", "--"]\n')
    assert preamble == [("ARG", "BASE=x")]
    assert [(s["name"], s["base"]) for s in stages] == [("kit", "a"), (None, "b")]
    assert stages[0]["instructions"] == [("RUN", "one   two")]
    assert copy_parts('--from=kit --chown=1000 /kit /opt/student-kit') == ({"from": "kit", "chown": "1000"}, ["/kit"])
    assert copy_parts('["a b", "c", "/dest/"]') == ({}, ["a b", "c"])


STUDENT = STUDENT_DOCKERFILE.read_text() if STUDENT_DOCKERFILE.exists() else ""
FINAL_FROM = STUDENT.rfind("\nFROM ")


def in_final_stage(old: str, new: str) -> str:
    """The student Dockerfile with `old` replaced by `new` in its final stage only."""
    assert old in STUDENT[FINAL_FROM:], f"{old!r} is not in the final stage of the student Dockerfile"
    return STUDENT[:FINAL_FROM] + STUDENT[FINAL_FROM:].replace(old, new, 1)


def append_to_final(line: str) -> str:
    return STUDENT.rstrip("\n") + "\n" + line + "\n"


@pytest.mark.parametrize("make_text, expected", [
    pytest.param(lambda: STUDENT, None, id="as-is"),
    pytest.param(lambda: in_final_stage("COPY --from=kit", "COPY autograder/ /opt/autograder/\nCOPY --from=kit"),
                 "autograder/ and source/ must not reach", id="copy-autograder"),
    pytest.param(lambda: in_final_stage("COPY --from=kit", "COPY ./source /srv/source\nCOPY --from=kit"),
                 "autograder/ and source/ must not reach", id="copy-source"),
    pytest.param(lambda: in_final_stage("COPY --from=kit", "ADD . /srv/repo\nCOPY --from=kit"),
                 "autograder/ and source/ must not reach", id="add-whole-context"),
    pytest.param(lambda: in_final_stage("COPY --from=kit", "COPY --from=python:3.11 /x /x\nCOPY --from=kit"),
                 "only the kit stage may reach the image", id="copy-from-elsewhere"),
    pytest.param(lambda: in_final_stage("-path '*/autograder/tp*/reference.py'", "-path '*/nothing'"),
                 "no RUN fails the build", id="guard-removed"),
    pytest.param(lambda: append_to_final("COPY --from=kit /kit /opt/late-kit"), "content added after the solution guard",
                 id="copy-after-guard"),
    pytest.param(lambda: append_to_final("RUN pip install something"), "content added after the solution guard",
                 id="pip-after-guard"),
    pytest.param(lambda: in_final_stage('ENTRYPOINT ["tini", "--"]', "ENTRYPOINT tini --"),
                 "the entrypoint is not tini", id="entrypoint-shell-form"),
    pytest.param(lambda: append_to_final('ENTRYPOINT ["/bin/sh", "-c"]'), "the entrypoint is not tini",
                 id="entrypoint-replaced"),
    pytest.param(lambda: in_final_stage(" tini ", " "), "tini is not installed", id="tini-not-installed"),
])
def test_the_student_image_holds_the_kit_but_no_solution(make_text, expected):
    problems = student_image_problems(make_text())
    assert_problems(problems, expected)


@pytest.mark.parametrize("old, new, expected_ok", [
    pytest.param("", "", True, id="as-is"),
    pytest.param("FROM ${STUDENT_IMAGE}", "FROM python:3.11-slim-bookworm", False, id="from-python"),
    pytest.param("ARG STUDENT_IMAGE\n", "", False, id="arg-not-declared"),
    pytest.param("FROM ${STUDENT_IMAGE}", "FROM REGISTRY/dl-from-scratch-student:TAG", True, id="literal-student"),
])
def test_the_grader_image_is_built_from_the_student_image(old, new, expected_ok):
    text = GRADER_DOCKERFILE.read_text()
    assert old in text
    problems = grader_image_problems(text.replace(old, new, 1))
    assert (problems == []) == expected_ok, problems


def dockerignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` (relative to the context, or any folder above it) out of the context.

    The last matching pattern decides; `!` re-includes; a leading `/`, `./` and a trailing `/` mean
    nothing; `**` matches any number of folders.
    """
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        cleaned = pattern.lstrip("!").strip().lstrip("/").removeprefix("./").rstrip("/")
        regex = re.escape(cleaned).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, c) for c in candidates):
            ignored = not negate
    return ignored


def dockerignore_problems(text: str | None, copied: list[str]) -> list[str]:
    if text is None:
        return [".dockerignore is missing at the repository root (the build context)"]
    patterns = dockerignore_patterns(text)
    problems = [f".dockerignore does not exclude {p}" for p in (".venv", ".git") if not dockerignored(p, patterns)]
    problems += [f".dockerignore excludes {p}, which a Dockerfile copies" for p in copied if dockerignored(p, patterns)]
    return problems


def context_sources() -> list[str]:
    """What the two Dockerfiles copy from the build context (the repository root)."""
    sources = []
    for path in (STUDENT_DOCKERFILE, GRADER_DOCKERFILE):
        for stage in dockerfile_stages(path.read_text())[1]:
            for keyword, args in stage["instructions"]:
                if keyword in ("COPY", "ADD"):
                    flags, found = copy_parts(args)
                    if "from" not in flags:
                        sources += [s.rstrip("/") for s in found]
    return sorted(set(sources))


def test_the_build_context_leaves_out_the_venv_and_git():
    dockerignore = REPO / ".dockerignore"
    copied = context_sources()
    assert "autograder" in copied and "source" in copied
    problems = dockerignore_problems(dockerignore.read_text() if dockerignore.exists() else None, copied)
    assert problems == [], problems


@pytest.mark.parametrize("text, expected", [
    pytest.param(None, ".dockerignore is missing", id="missing"),
    pytest.param(".git\n", "does not exclude .venv", id="no-venv"),
    pytest.param(".venv/\n", "does not exclude .git", id="no-git"),
    pytest.param(".venv\n.git\n!.git\n", "does not exclude .git", id="re-included"),
    pytest.param("/.venv/\n**/.git\nsource\n", "excludes source, which a Dockerfile copies", id="excludes-copied"),
    pytest.param("*\n", "excludes autograder", id="everything"),
    pytest.param("# build context\n/.venv/\n./.git\n**/__pycache__\n", None, id="good"),
])
def test_the_dockerignore_check_fails_on_a_bad_file(text, expected):
    problems = dockerignore_problems(text, ["autograder", "source", "pyproject.toml"])
    assert_problems(problems, expected)
