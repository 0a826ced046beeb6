"""The grader pod's seccomp profile (deploy/kubernetes/seccomp/, docs/cluster-sandbox.md).

Read as the runtimes read it (the OCI format: containerd hands a Localhost profile to runc as it is), then
used by a real OCI runtime: runc starts a container shaped like the grader pod (root, the runtime's default
capabilities plus SYS_ADMIN and NET_ADMIN, its masked /proc paths) and, inside it, the grader starts its
sandboxed kernels and grades a copy under this profile; under the same profile without pivot_root, as
containerd's and Docker's default profiles are, bubblewrap fails and grading refuses to start.
"""

import ctypes
import ctypes.util
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from autograder.bubblewrap import SANDBOX_UID_BASE
from conftest import REPO
from synthetic_tp import TP

SECCOMP = REPO / "deploy" / "kubernetes" / "seccomp"
PROFILE = SECCOMP / "dl-from-scratch-grader.json"
INSTALLER = SECCOMP / "installer.yaml"
PROFILE_REFERENCE = "profiles/dl-from-scratch-grader.json"  # what grader.yaml names (Localhost)
KUBELET_PROFILES = "/var/lib/kubelet/seccomp/profiles"      # kubelet's default seccomp root + "profiles"

EPERM, ENOSYS, EAFNOSUPPORT = 1, 38, 97
CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x02000000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
THREAD = 0x003D0F00  # what glibc's pthread_create passes to clone (CLONE_VM | CLONE_FS | ... | CLONE_CHILD_CLEARTID)
SIGCHLD = 17
AF_UNIX, AF_INET, AF_NETLINK, AF_VSOCK = 1, 2, 16, 40

# What bubblewrap (0.8 to 0.11, as root) and setpriv call to build a kernel's sandbox, and what the grader's
# own work needs (bubblewrap.c, utils.c, network.c): each must be allowed, with these arguments.
SANDBOX_NEEDS = [
    ("clone", CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | SIGCHLD),
    ("clone", THREAD), ("clone", SIGCHLD), ("unshare", CLONE_NEWPID), ("unshare", CLONE_NEWNS),
    ("mount",), ("umount2",), ("pivot_root",), ("sethostname",), ("socket", AF_NETLINK), ("socket", AF_UNIX),
    ("socket", AF_INET), ("capset",), ("capget",), ("prctl",), ("setresuid",), ("setresgid",), ("setgroups",),
    ("prlimit64",), ("execve",), ("wait4",), ("signalfd4",), ("eventfd2",), ("setsid",), ("personality", 0),
    ("personality", 0xFFFFFFFF), ("chdir",), ("fchdir",), ("openat",), ("mkdir",), ("symlink",), ("ioctl",),
]
# Refused to everyone in the pod, so to student code too (docs/cluster-sandbox.md says why, one by one).
REFUSED = ["kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
           "swapoff", "acct", "iopl", "ioperm", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog",
           "quotactl", "setdomainname", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
           "io_uring_register", "keyctl", "add_key", "request_key", "ptrace", "process_vm_readv", "process_vm_writev",
           "process_madvise", "kcmp", "pidfd_getfd", "open_by_handle_at", "name_to_handle_at", "setns", "fsopen",
           "fsconfig", "fsmount", "fspick", "move_mount", "open_tree", "mount_setattr", "fanotify_init",
           "lookup_dcookie", "mbind", "set_mempolicy", "migrate_pages", "move_pages", "modify_ldt"]
# Names newer than the libseccomp this is checked with may know (Debian 12: 2.5.4, up to Linux 6.6's calls).
NEWER_THAN_LIBSECCOMP = {"mseal", "uretprobe", "setxattrat", "getxattrat", "listxattrat", "removexattrat"}
# Calls the profile names nowhere, on purpose: unused by grading, or no longer implemented by Linux. They get
# the default (ENOSYS), as does any call newer than the profile (numbers above futex_requeue's, 456).
LEFT_TO_THE_DEFAULT = {"cachestat", "fanotify_mark", "process_mrelease", "afs_syscall", "create_module",
                       "get_kernel_syms", "getpmsg", "putpmsg", "query_module", "security", "tuxcall", "vserver"}
NEWEST_DECIDED = 456

ACTIONS = {"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD",
           "SCMP_ACT_TRAP", "SCMP_ACT_TRACE", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY"}
OPS = {"SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"}
AUDIT_ARCH = {"SCMP_ARCH_X86_64": 0xC000003E, "SCMP_ARCH_AARCH64": 0xC00000B7}


def profile() -> dict:
    return json.loads(PROFILE.read_text())


def _holds(arg: dict, values: tuple[int, ...]) -> bool:
    value = values[arg["index"]] if arg["index"] < len(values) else 0
    op, a, b = arg["op"], arg["value"], arg.get("valueTwo", 0)
    return {"SCMP_CMP_NE": value != a, "SCMP_CMP_LT": value < a, "SCMP_CMP_LE": value <= a,
            "SCMP_CMP_EQ": value == a, "SCMP_CMP_GE": value >= a, "SCMP_CMP_GT": value > a,
            "SCMP_CMP_MASKED_EQ": value & a == b}[op]


def decision(name: str, *args: int, of: dict | None = None) -> tuple[str, int | None]:
    """What the filter does with this call: (action, errno), from the rules that match it (never more than one)."""
    of = of or profile()
    matching = [rule for rule in of["syscalls"]
                if name in rule["names"] and all(_holds(arg, args) for arg in rule.get("args", []))]
    assert len(matching) <= 1, f"{name}{args}: {len(matching)} rules match it"
    if not matching:
        return of["defaultAction"], of.get("defaultErrnoRet", EPERM)
    rule = matching[0]
    return rule["action"], rule.get("errnoRet", EPERM) if rule["action"] == "SCMP_ACT_ERRNO" else None


# ------------------------------------------------------------------ the profile itself


def test_the_profile_is_an_oci_seccomp_profile():
    p = profile()
    assert set(p) <= {"defaultAction", "defaultErrnoRet", "architectures", "flags", "syscalls"}
    assert (p["defaultAction"], p["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", ENOSYS)  # an allow-list
    assert set(p["architectures"]) == set(AUDIT_ARCH)  # no 32-bit ABIs: their calls are killed
    for rule in p["syscalls"]:
        assert set(rule) <= {"names", "action", "errnoRet", "args", "comment"}, rule
        assert rule["names"] and all(isinstance(n, str) for n in rule["names"]) and rule["action"] in ACTIONS
        assert rule["action"] != "SCMP_ACT_ERRNO" or isinstance(rule.get("errnoRet"), int)
        for arg in rule.get("args", []):
            assert set(arg) <= {"index", "value", "valueTwo", "op"} and 0 <= arg["index"] <= 5 and arg["op"] in OPS
    unconditional = [n for rule in p["syscalls"] if not rule.get("args") for n in rule["names"]]
    assert len(unconditional) == len(set(unconditional)), "a name in two rules without arguments"


def libseccomp() -> ctypes.CDLL:
    found = ctypes.util.find_library("seccomp")
    assert found, "libseccomp (Debian package libseccomp2) is missing: apt-get install libseccomp2"
    library = ctypes.CDLL(found)
    library.seccomp_syscall_resolve_name_arch.argtypes = [ctypes.c_uint32, ctypes.c_char_p]
    library.seccomp_syscall_resolve_name_arch.restype = ctypes.c_int
    library.seccomp_syscall_resolve_num_arch.argtypes = [ctypes.c_uint32, ctypes.c_int]
    library.seccomp_syscall_resolve_num_arch.restype = ctypes.c_void_p  # a string to free
    return library


def test_every_name_is_a_linux_system_call():
    """A misspelt name would be ignored by the runtime (the call then refused): each must be one libseccomp knows."""
    resolve = libseccomp().seccomp_syscall_resolve_name_arch
    unknown = {name for rule in profile()["syscalls"] for name in rule["names"]
               if all(resolve(arch, name.encode()) == -1 for arch in AUDIT_ARCH.values())}
    assert unknown <= NEWER_THAN_LIBSECCOMP


def test_every_system_call_is_decided_on_purpose():
    library = libseccomp()
    named = {name for rule in profile()["syscalls"] for name in rule["names"]}
    known = set()
    for arch in AUDIT_ARCH.values():  # numbers from 424 on are the same on every architecture
        for number in range(NEWEST_DECIDED + 1):
            name = library.seccomp_syscall_resolve_num_arch(arch, number)
            if name:
                known.add(ctypes.string_at(name).decode())
                ctypes.CDLL(None).free(ctypes.c_void_p(name))
    assert known - named == LEFT_TO_THE_DEFAULT & known


@pytest.mark.parametrize("call", SANDBOX_NEEDS, ids=lambda call: "-".join(map(str, call)))
def test_the_sandbox_gets_what_bubblewrap_calls(call):
    assert decision(*call) == ("SCMP_ACT_ALLOW", None)


def test_what_no_one_in_the_pod_may_call():
    allowed = {n for rule in profile()["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
    assert not allowed & set(REFUSED)
    assert {name: decision(name) for name in REFUSED} == {name: ("SCMP_ACT_ERRNO", EPERM) for name in REFUSED}
    assert decision("clone", CLONE_NEWUSER | SIGCHLD) == decision("unshare", CLONE_NEWUSER) == ("SCMP_ACT_ERRNO", EPERM)
    assert decision("unshare", CLONE_NEWUSER | CLONE_NEWNS) == ("SCMP_ACT_ERRNO", EPERM)
    assert decision("clone3") == ("SCMP_ACT_ERRNO", ENOSYS)  # flags out of seccomp's sight: glibc falls back to clone
    assert decision("socket", AF_VSOCK) == ("SCMP_ACT_ERRNO", EAFNOSUPPORT)
    assert decision("personality", 0x0040000)[0] == "SCMP_ACT_ERRNO"  # ADDR_NO_RANDOMIZE


def test_the_docs_say_why_each_call_is_refused():
    text = (REPO / "docs" / "cluster-sandbox.md").read_text()
    refused = {n for rule in profile()["syscalls"] if rule["action"] == "SCMP_ACT_ERRNO" for n in rule["names"]}
    refused = {"socket(AF_VSOCK" if name == "socket" else name for name in refused}
    assert not {name for name in refused if f"`{name}`" not in text and f"`{name}," not in text}


# ------------------------------------------------------------------ where Kubernetes finds it


def _installer() -> dict:
    return next(d for d in yaml.safe_load_all(INSTALLER.read_text()) if d and d["kind"] == "DaemonSet")


def test_the_installer_writes_the_profile_where_kubelet_looks_for_it(tmp_path):
    spec = _installer()["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    (container,) = spec["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert volumes["node-profiles"]["hostPath"]["path"] == KUBELET_PROFILES
    configmap = volumes["profile"]["configMap"]["name"]
    create = (f"create configmap {configmap} \\\n#     --from-file=deploy/kubernetes/seccomp/{PROFILE.name}")
    assert create in INSTALLER.read_text()  # the command that makes the ConfigMap from the one JSON file
    assert f"create configmap {configmap}" in (REPO / "docs" / "cluster-sandbox.md").read_text()
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False

    # its script, on a ConfigMap-like folder (the file behind a symlink) and an empty node directory
    given, node = tmp_path / "profile", tmp_path / "node"
    (given / "..data").mkdir(parents=True)
    node.mkdir()
    shutil.copy(PROFILE, given / "..data" / PROFILE.name)
    (given / PROFILE.name).symlink_to(Path("..data") / PROFILE.name)
    script = (container["command"][2].replace(mounts["profile"] + "/", f"{given}/")
              .replace(mounts["node-profiles"] + "/", f"{node}/").replace("sleep 60", "exit 0"))
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert (node / PROFILE.name).read_bytes() == PROFILE.read_bytes() and sorted(os.listdir(node)) == [PROFILE.name]
    probe = [part.replace(mounts["profile"] + "/", f"{given}/").replace(mounts["node-profiles"] + "/", f"{node}/")
             for part in container["readinessProbe"]["exec"]["command"]]
    assert subprocess.run(probe).returncode == 0


def test_the_grader_pod_names_this_profile():
    docs = [d for d in yaml.safe_load_all((REPO / "deploy" / "kubernetes" / "grader.yaml").read_text()) if d]
    pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    grader = next(c for c in pod["containers"] if c["name"] == "grader")
    seccomp = (grader.get("securityContext", {}).get("seccompProfile")
               or pod.get("securityContext", {}).get("seccompProfile"))
    assert seccomp == {"type": "Localhost", "localhostProfile": PROFILE_REFERENCE}
    assert Path(KUBELET_PROFILES).parent / PROFILE_REFERENCE == Path(KUBELET_PROFILES) / PROFILE.name


# ------------------------------------------------------------------ in a real OCI runtime

# The capabilities containerd and CRI-O give a container by default, plus grader.yaml's two.
DEFAULT_CAPABILITIES = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
                        "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
                        "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"]
GRADER_CAPABILITIES = [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]
# containerd's default masked and read-only paths of a non-privileged container
MASKED = ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
          "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"]
READ_ONLY = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]

# Student code's view, from a sandboxed process: each attempt in a child of its own, its errno.
STUDENT = r"""
import ctypes, errno, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
NR = {"unshare": 272, "mount": 165, "umount2": 166, "pivot_root": 155, "sethostname": 170, "setns": 308,
      "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "io_uring_setup": 425, "keyctl": 250,
      "add_key": 248, "open_by_handle_at": 304, "kexec_load": 246, "fsopen": 430}
buffer = ctypes.create_string_buffer(256)
def attempt(name, *args):
    read, write = os.pipe()
    if os.fork() == 0:
        result = libc.syscall(NR[name], *[ctypes.c_long(a) if isinstance(a, int) else a for a in args])
        os.write(write, ("ok" if result >= 0 else errno.errorcode.get(ctypes.get_errno(), "?")).encode())
        os._exit(0)
    os.close(write)
    os.wait()
    return os.read(read, 64).decode()
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
facts = {key: status[key].strip() for key in ("CapEff", "NoNewPrivs", "Seccomp")}
facts.update(uid=os.getuid(), hostname=socket.gethostname(), course=os.path.exists(COURSE_SOURCE))
facts.update({"unshare(CLONE_NEWUSER)": attempt("unshare", 0x10000000),
              "unshare(CLONE_NEWNS)": attempt("unshare", 0x20000),
              "mount": attempt("mount", b"none", b"/tmp", b"tmpfs", 0, None), "umount2": attempt("umount2", b"/tmp", 2),
              "pivot_root": attempt("pivot_root", b"/tmp", b"/tmp"), "sethostname": attempt("sethostname", b"x", 1),
              "setns": attempt("setns", 0, 0), "fsopen": attempt("fsopen", b"tmpfs", 0),
              "bpf": attempt("bpf", 0, buffer, 64), "perf_event_open": attempt("perf_event_open", buffer, 0, -1, -1, 0),
              "userfaultfd": attempt("userfaultfd", 0), "io_uring_setup": attempt("io_uring_setup", 1, buffer),
              "keyctl": attempt("keyctl", 0, -3, 0), "add_key": attempt("add_key", b"user", b"k", b"v", 1, -3),
              "open_by_handle_at": attempt("open_by_handle_at", 0, buffer, 0),
              "kexec_load": attempt("kexec_load", 0, 0, 0, 0)})
try:
    socket.socket(40, socket.SOCK_STREAM).close()
    facts["socket(AF_VSOCK)"] = "ok"
except OSError as error:
    facts["socket(AF_VSOCK)"] = errno.errorcode[error.errno]
print(json.dumps(facts))
"""

# Run by the grader's Python in the container, as the grader pod would.
IN_THE_POD = r"""
import json, os, subprocess, sys, tempfile
from pathlib import Path
from autograder import bubblewrap, preflight
from autograder.provisioner import PROVISIONER_NAME
what = sys.argv[1]
if what == "start":
    print(json.dumps({"sandbox": preflight.unavailable_reason(),
                      "kernel": preflight.kernel_problem(PROVISIONER_NAME)}))
elif what == "student":
    home = Path(tempfile.mkdtemp())
    os.chown(home, bubblewrap.sandbox_uid(0), bubblewrap.sandbox_uid(0))
    command = bubblewrap.bwrap_command([sys.executable, "-c", sys.argv[2]], writable=[home], cwd=home,
                                       env=bubblewrap.kernel_environment({}, home), uid=bubblewrap.sandbox_uid(0))
    done = subprocess.run(command, capture_output=True, text=True)
    print(done.stdout.strip().splitlines()[-1] if done.returncode == 0 else json.dumps({"error": done.stderr}))
elif what == "grade":  # the TP `sys.argv[2]` of the course root `sys.argv[3]`
    tp, root = sys.argv[2], Path(sys.argv[3])
    os.environ["PYTHONPATH"] = str(root)  # its checks, for nbgrader and the grader
    from nbgrader.api import Gradebook
    from autograder.demo import hand_in, nbgrader, prepare_course
    from autograder.grading import db_url
    from autograder.release import environment
    course = Path(tempfile.mkdtemp()) / "course"
    prepare_course(course, tp, root=root)
    assert nbgrader(course, "generate_assignment", tp, "--force") == 0
    hand_in(course, tp, {"ref": {}})
    done = subprocess.run([sys.executable, "-m", "autograder.cli", "grade", tp, "--course", str(course)],
                          env=environment(), capture_output=True, text=True)
    with Gradebook(db_url(course)) as gb:
        score = gb.find_submission(tp, "ref").score if done.returncode == 0 else None
    print(json.dumps({"returncode": done.returncode, "stderr": done.stderr[-2000:], "score": score}))
"""


def _mount(destination: str, kind: str, source: str, *options: str) -> dict:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def _read_only(path: str) -> dict:
    return _mount(path, "bind", path, "rbind", "ro", "nosuid", "nodev")


def oci_bundle(folder: Path, seccomp: dict | None, args: list[str], also: dict[str, Path] | None = None) -> Path:
    """A bundle shaped like the grader pod: this machine's /usr, /etc, Python and repository, read-only, and
    the folders of `also` read-only at the given places;
    root with the grader's capabilities, privilege escalation allowed, containerd's masked /proc paths;
    a tmpfs /tmp (grader.yaml's scratch volume); its own PID, network, IPC, UTS, mount and cgroup namespaces."""
    rootfs = folder / "rootfs"
    rootfs.mkdir(parents=True)
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):  # merged /usr: the links of /
        if (Path("/") / name).is_symlink():
            (rootfs / name).symlink_to(os.readlink(Path("/") / name))
    python = (sys.prefix, sys.base_prefix, Path(sys.executable).resolve().parent)
    trees = {str(Path(p).resolve()) for p in (*python, REPO)}
    trees = sorted(t for t in trees if not any(t == keep or t.startswith(keep + "/") for keep in ("/usr", "/etc")))
    mounts = [_mount("/proc", "proc", "proc"),
              _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755"),
              _mount("/dev/pts", "devpts", "devpts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"),
              _mount("/dev/shm", "tmpfs", "shm", "nosuid", "noexec", "nodev", "mode=1777"),
              _mount("/dev/mqueue", "mqueue", "mqueue", "nosuid", "noexec", "nodev"),
              _mount("/sys", "sysfs", "sysfs", "nosuid", "noexec", "nodev", "ro"),
              _mount("/tmp", "tmpfs", "tmpfs", "nosuid", "nodev", "mode=1777"),
              _read_only("/usr"), _read_only("/etc"), *map(_read_only, trees),
              *(_mount(place, "bind", str(source), "rbind", "ro", "nosuid", "nodev")
                for place, source in (also or {}).items())]
    spec = {"ociVersion": "1.0.2", "root": {"path": "rootfs", "readonly": True}, "hostname": "grader",
            "process": {"user": {"uid": 0, "gid": 0}, "args": args, "cwd": "/tmp", "noNewPrivileges": False,
                        "env": ["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME=/tmp", "LANG=C.UTF-8"],
                        "capabilities": {kind: GRADER_CAPABILITIES for kind in ("bounding", "effective", "permitted")}},
            "mounts": mounts,
            "linux": {"namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
                      "maskedPaths": MASKED, "readonlyPaths": READ_ONLY}}
    if seccomp is not None:
        spec["linux"]["seccomp"] = seccomp
    (folder / "config.json").write_text(json.dumps(spec, indent=1))
    return folder


@pytest.fixture()
def in_the_pod(tmp_path):
    """Runs IN_THE_POD(what, *args) in a runc container under a seccomp profile; returns its JSON answer."""
    if os.geteuid() != 0:
        pytest.skip("runs an OCI container: as root only (make test as root, as CI does)")
    runc = shutil.which("runc")
    if runc is None:
        pytest.fail("runc is missing: apt-get install runc (the OCI runtime containerd uses; it proves the "
                    "grader's seccomp profile lets the sandbox start)")
    count = iter(range(100))

    def run(seccomp: dict | None, what: str, *args: str, timeout: float = 300, also: dict | None = None) -> dict:
        bundle = oci_bundle(tmp_path / f"bundle{next(count)}", seccomp, [sys.executable, "-c", IN_THE_POD, what, *args],
                            also)
        done = subprocess.run([runc, "run", "--bundle", str(bundle), f"seccomp-test-{uuid.uuid4().hex[:12]}"],
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, done.stdout + done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])
    return run


def as_the_runtime_default(p: dict) -> dict:
    """This profile without pivot_root, refusing the rest with EPERM: what containerd's and Docker's default
    profiles give a container granted CAP_SYS_ADMIN, as far as bubblewrap is concerned (they allow its other calls)."""
    rules = [{**rule, "names": [n for n in rule["names"] if n != "pivot_root"]} for rule in p["syscalls"]]
    return {**p, "defaultErrnoRet": EPERM, "syscalls": [rule for rule in rules if rule["names"]]}


@pytest.mark.slow
def test_in_a_container_the_sandbox_starts_under_the_profile_only(in_the_pod):
    assert in_the_pod(profile(), "start") == {"sandbox": None, "kernel": None}
    refused = in_the_pod(as_the_runtime_default(profile()), "start")
    assert refused["sandbox"] == "bubblewrap failed: bwrap: pivot_root: Operation not permitted"
    assert "pivot_root: Operation not permitted" in refused["kernel"]  # and grading would refuse to start


@pytest.mark.slow
def test_student_code_inherits_the_filter(in_the_pod):
    facts = in_the_pod(profile(), "student", STUDENT.replace("COURSE_SOURCE", repr(str(REPO / "source"))))
    sandbox = {key: facts.pop(key) for key in ("uid", "CapEff", "NoNewPrivs", "Seccomp", "hostname", "course")}
    # the sandbox as bubblewrap and setpriv make it, inside the container as on a machine (test_sandbox.py)
    assert (sandbox["uid"], sandbox["CapEff"], sandbox["NoNewPrivs"], sandbox["hostname"]) == (
        SANDBOX_UID_BASE, "0" * 16, "1", "bac-a-sable")
    assert (REPO / "source").is_dir() and sandbox["course"] is False  # no solutions, no hidden tests
    # and the filter on top of it, inherited from the container
    assert sandbox["Seccomp"] == "2"
    assert facts == {**{name: "EPERM" for name in facts}, "socket(AF_VSOCK)": "EAFNOSUPPORT"}


@pytest.mark.slow
def test_in_a_container_autograder_grade_grades_under_the_profile(in_the_pod, synthetic_root):
    graded = in_the_pod(profile(), "grade", TP, "/synthetic-tp", timeout=600, also={"/synthetic-tp": synthetic_root.root})
    assert graded["returncode"] == 0, graded["stderr"]
    assert graded["score"] == synthetic_root.full_marks()
