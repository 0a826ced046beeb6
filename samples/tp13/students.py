"""The sample class of TP 13 graded by `make demo`.

Each student is a mapping {grade_id: source} laid over the reference solution;
`None` is a student who handed in the release untouched.
"""

STUDENTS = {
    # the reference solution, as a student would write it
    "alice": {},
    # the unbiased variance in the normalisation (x.var's default), dropout rescaled by 1/p: the network still
    # learns (97 % or more), but its gradients are not torch's, and the training keeps a third of its points
    "oscar": {
        "batchnorm_forward": (
            "def batchnorm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,\n"
            "                      eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:\n"
            "    mean = x.mean(dim=0)\n"
            "    inv_std = 1 / torch.sqrt(x.var(dim=0) + eps)\n"
            "    xhat = (x - mean) * inv_std\n"
            "    return gamma * xhat + beta, xhat, inv_std\n"
        ),
        "dropout_forward": (
            "def dropout_forward(x: torch.Tensor, mask: torch.Tensor, p: float) -> torch.Tensor:\n"
            "    return x * mask / p\n"
        ),
        "question_dropout": "Pour que l'espérance de la sortie ne change pas entre l'entraînement et le test.",
    },
    # the batch-norm backward pass without the paths through the batch's mean and variance (dl_gamma and dl_beta
    # right: 2 / 3), Adam without bias correction (0: where there is weight decay, the wrong parameters make m and v
    # wrong too), batch statistics at evaluation: the network learns, but neither its gradients, nor its first
    # steps, nor its test scores are torch's
    "pauline": {
        "batchnorm_backward": (
            "def batchnorm_backward(dl_y: torch.Tensor, gamma: torch.Tensor, xhat: torch.Tensor,\n"
            "                       inv_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:\n"
            "    return gamma * inv_std * dl_y, (dl_y * xhat).sum(dim=0), dl_y.sum(dim=0)\n"
        ),
        "adam_step": (
            "def adam_step(params, grads, m, v, t, lr, betas, eps, weight_decay):\n"
            "    for k in params:\n"
            "        g = grads[k] + weight_decay * params[k]\n"
            "        m[k].mul_(betas[0]).add_((1 - betas[0]) * g)\n"
            "        v[k].mul_(betas[1]).add_((1 - betas[1]) * g * g)\n"
            "        params[k] -= lr * m[k] / (v[k].sqrt() + eps)\n"
        ),
        "batchnorm_eval": (
            "def batchnorm_eval(x, running_mean, running_var, gamma, beta, eps):\n"
            "    return batchnorm_forward(x, gamma, beta, eps)[0]\n"
        ),
    },
    # handed in the release untouched
    "emma": None,
}

# What plain nbgrader gives each copy, per test cell, where it differs from full marks
# (the untouched release scores 0 everywhere; tests/contract/test_contract.py checks all of it).
EXPECTED = {
    "oscar": {"test_batchnorm_forward": 0, "test_dropout_forward": 0, "test_training": 1},
    "pauline": {"test_batchnorm_backward": 2, "test_adam_step": 0, "test_batchnorm_eval": 0, "test_training": 1},
}
