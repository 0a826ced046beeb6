"""The sample class of TP 10 graded by `make demo`.

Each student is a mapping {grade_id: source} laid over the reference solution;
`None` is a student who handed in the release untouched.
"""

STUDENTS = {
    # the reference solution, as a student would write it
    "alice": {},
    # ReLU written with torch.max(x, 0) (a maximum along dimension 0), a sum instead of a mean in the loss,
    # transposed weight gradients in backward_pass
    "fabien": {
        "relu": "def relu(x: torch.Tensor) -> torch.Tensor:\n    return torch.max(x, 0)\n",
        "cross_entropy": (
            "def cross_entropy(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n"
            "    return -log_softmax(s)[torch.arange(len(y)), y].sum()\n"
        ),
        "backward_pass": (
            "def backward_pass(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,\n"
            "                  s1: torch.Tensor, x1: torch.Tensor, s2: torch.Tensor) -> dict[str, torch.Tensor]:\n"
            "    dl_s2 = dcross_entropy(s2, y)\n"
            "    dl_s1 = drelu(s1) * (dl_s2 @ params[\"w2\"])\n"
            "    return {\"w1\": x.T @ dl_s1, \"b1\": dl_s1.sum(dim=0), \"w2\": x1.T @ dl_s2, \"b2\": dl_s2.sum(dim=0)}\n"
        ),
    },
    # derivative 1 at 0 in drelu, gradient of the loss not divided by the batch size,
    # velocity started from zero at every step (plain SGD)
    "gaelle": {
        "drelu": "def drelu(x: torch.Tensor) -> torch.Tensor:\n    return (x >= 0).to(x.dtype)\n",
        "dcross_entropy": (
            "def dcross_entropy(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n"
            "    return torch.exp(log_softmax(s)) - F.one_hot(y, s.shape[1]).to(s.dtype)\n"
        ),
        "sgd_momentum_step": (
            "def sgd_momentum_step(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor],\n"
            "                      velocities: dict[str, torch.Tensor], lr: float, momentum: float) -> None:\n"
            "    for k in params:\n"
            "        v = torch.zeros_like(params[k])\n"
            "        v = momentum * v + grads[k]\n"
            "        params[k] -= lr * v\n"
        ),
        "question_moment": "Avec le moment, les courbes sont plus lisses.",
    },
    # no maximum subtracted in log_softmax, the variance used as the standard deviation in he_init,
    # the last (shorter) mini-batch dropped
    "hugo": {
        "log_softmax": (
            "def log_softmax(s: torch.Tensor) -> torch.Tensor:\n"
            "    return s - torch.log(torch.exp(s).sum(dim=1, keepdim=True))\n"
        ),
        "he_init": (
            "def he_init(nbOut: int, nbIn: int, generator: torch.Generator) -> torch.Tensor:\n"
            "    return torch.randn(nbOut, nbIn, generator=generator) * (2 / nbIn)\n"
        ),
        "minibatches": (
            "def minibatches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:\n"
            "    nb = n // batch_size\n"
            "    return list(torch.randperm(n, generator=generator)[: nb * batch_size].reshape(nb, batch_size))\n"
        ),
    },
    # handed in the release untouched
    "emma": None,
}

# What plain nbgrader gives each copy, per test cell, where it differs from full marks
# (the untouched release scores 0 everywhere; tests/contract/test_contract.py checks all of it).
EXPECTED = {
    "fabien": {"test_relu": 0, "test_cross_entropy": 0, "test_backward_pass": 1.5, "test_training": 0},
    "gaelle": {"test_drelu": 0, "test_dcross_entropy": 0, "test_sgd_momentum_step": 0, "test_training": 2.59},
    "hugo": {"test_log_softmax": 0, "test_he_init": 0, "test_minibatches": 0},
}
