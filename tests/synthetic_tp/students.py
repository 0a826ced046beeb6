"""Student code for TP 0 (`synthetic_tp`), as data.

`STUDENTS`, the sample class: each student is a mapping {grade_id: source} laid over the reference
solution; `None` is a student who handed in the release untouched. `EXPECTED`: per copy, the test cells
whose score is not full marks. `WRONG` and `CORRECT`: catalogued student code, (function, source[, what the
verdict says]), the first wrong one of each function being its first catalogued mistake.
"""

STUDENTS = {
    # the reference solution, as a student would write it
    "alice": {},
    # the factor 2 of dloss forgotten, dl_w transposed (the training then fails inside backward)
    "bruno": {
        "dloss": "def dloss(v, t):\n    return v - t\n",
        "gradient": "def gradient(x, s, dl_v):\n    dl_s = (1 - sigma(s) ** 2) * dl_v\n"
                    "    return x.T @ dl_s, dl_s.sum(dim=0)\n",
    },
    # the sigmoid for tanh, gradients rebound instead of accumulated (the training never moves), one answer
    "chloe": {
        "sigma": "def sigma(x):\n    return torch.sigmoid(x)\n",
        "backward": "def backward(x, t, s, v, dl_dw, dl_db):\n    dl_w, dl_b = gradient(x, s, dloss(v, t))\n"
                    "    dl_dw = dl_dw + dl_w\n    dl_db = dl_db + dl_b\n",
        "question_cibles": "Parce que tanh ne vaut jamais 1.",
    },
    # a Python loop in sigma, autograd in dloss
    "damien": {
        "sigma": "def sigma(x):\n    return torch.stack([torch.tanh(row) for row in x])\n",
        "dloss": "def dloss(v, t):\n    v = v.detach().clone().requires_grad_(True)\n"
                 "    ((t - v) ** 2).sum().backward()\n    return v.grad\n",
    },
    # handed in the release untouched
    "emma": None,
}

EXPECTED = {
    "bruno": {"test_dloss": 0, "test_gradient": 1, "test_training": 0},
    "chloe": {"test_sigma": 0, "test_backward": 0, "test_training": 0},
    "damien": {"test_sigma": 0.75, "test_dloss": 0},
}

WRONG = [
    ("sigma", "def sigma(x):\n    return torch.sigmoid(x)", "σ est la tangente hyperbolique tanh, pas la sigmoïde."),
    ("dloss", "def dloss(v, t):\n    return v - t", "il manque le facteur 2 : la dérivée de (vᵢ − tᵢ)² est 2 (vᵢ − tᵢ)."),
    ("forward", "def forward(w, b, x):\n    s = x @ w.T\n    return s, sigma(s)", "le biais b n'est pas ajouté : s = x @ w.T + b."),
    ("gradient", "def gradient(x, s, dl_v):\n    dl_s = (1 - sigma(s) ** 2) * dl_v\n    return x.T @ dl_s, dl_s.sum(dim=0)",
     "gradient de w transposé : dl_w doit avoir la forme de w (nbOut, nbIn), soit dl_s.T @ x."),
    ("backward", "def backward(x, t, s, v, dl_dw, dl_db):\n    dl_w, dl_b = gradient(x, s, dloss(v, t))\n"
                 "    dl_dw = dl_dw + dl_w\n    dl_db = dl_db + dl_b",
     "`dl_dw = dl_dw + …` crée un nouveau tenseur"),
    ("dloss", "def dloss(v, t):\n    return 2 * (t - v)", "signe inversé"),
    ("gradient", "def gradient(x, s, dl_v):\n    dl_s = (1 - sigma(s) ** 2) * dl_v\n    return dl_s.T @ x, dl_s.mean(dim=0)",
     "ne faites pas la moyenne"),
]

CORRECT = [
    ("sigma", "def sigma(x):\n    return 2 * torch.sigmoid(2 * x) - 1"),
    ("backward", "def backward(x, t, s, v, dl_dw, dl_db):\n    dl_w, dl_b = gradient(x, s, dloss(v, t))\n"
                 "    dl_dw.add_(dl_w)\n    dl_db.add_(dl_b)"),
]
