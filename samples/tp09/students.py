"""The sample class of TP 9 graded by `make demo`.

Each student is a mapping {grade_id: source} laid over the reference solution;
`None` is a student who handed in the release untouched.
"""

STUDENTS = {
    # the reference solution, as a student would write it
    "alice": {},
    # weight gradient transposed (with a shape that still runs), mean instead of sum in the loss
    "bastien": {
        "loss": "def loss(v, t):\n    return torch.mean((t - v) ** 2)\n",
        "backward_step": (
            "def backward_step(xIn, w, s, dl_xOut):\n"
            "    dl_s = dsigma(s) * dl_xOut\n"
            "    return xIn.T @ dl_s, dl_s.sum(dim=0), dl_s @ w\n"
        ),
    },
    # sigma' evaluated on the output, gradients rebound instead of accumulated in place
    "chloe": {
        "dsigma": "def dsigma(x):\n    return 1 - x ** 2\n",
        "backward_pass": (
            "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
            "    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dloss(x2, t))\n"
            "    dl_w1, dl_b1, _ = backward_step(x, w1, s1, dl_x1)\n"
            "    dl_dw1 = dl_dw1 + dl_w1\n"
            "    dl_db1 = dl_db1 + dl_b1\n"
            "    dl_dw2 = dl_dw2 + dl_w2\n"
            "    dl_db2 = dl_db2 + dl_b2\n"
        ),
        "question_zeta": "Parce que tanh ne vaut jamais 1.",
    },
    # a Python loop, autograd used for dsigma, missing factor 2 in dloss
    "damien": {
        "sigma": "def sigma(x):\n    return torch.stack([torch.tanh(row) for row in x.reshape(-1, x.shape[-1])]).reshape(x.shape)\n",
        "dsigma": (
            "def dsigma(x):\n"
            "    x = x.detach().clone().requires_grad_(True)\n"
            "    torch.tanh(x).sum().backward()\n"
            "    return x.grad\n"
        ),
        "dloss": "def dloss(v, t):\n    return v - t\n",
    },
    # handed in the release untouched
    "emma": None,
}

# What plain nbgrader gives each copy, per test cell, where it differs from full marks
# (the untouched release scores 0 everywhere; tests/contract/test_contract.py checks all of it).
EXPECTED = {
    "bastien": {"test_loss": 0, "test_backward_step": 2, "test_training": 0},
    "chloe": {"test_dsigma": 0, "test_backward_pass": 0, "test_training": 0},
    "damien": {"test_sigma": 0.75, "test_dsigma": 0, "test_dloss": 0},
}

# For `benchmarks/class_grading.py --class typical`: damien's `sigma` loops over the 1437 rows of
# every batch, so his training alone takes ~20 s whatever the grader; his typical copy keeps his
# other mistakes and loops over the 10 output columns of `dloss` instead, so that each copy's own
# computation stays around a second, as in a typical class.
TYPICAL = {"damien": {
    "sigma": "def sigma(x):\n    return torch.tanh(x)\n",
    "dloss": "def dloss(v, t):\n    return torch.stack([v[..., j] - t[..., j] for j in range(v.shape[-1])], -1)\n"}}
