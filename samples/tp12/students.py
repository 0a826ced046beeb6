"""The sample class of TP 12 graded by `make demo`.

Each student is a mapping {grade_id: source} laid over the reference solution;
`None` is a student who handed in the release untouched.
"""

STUDENTS = {
    # the reference solution, as a student would write it
    "alice": {},
    # the bias added along the last axis in conv2d_forward (the training's 16 maps of 8 × 8 cannot take it:
    # the training stops on her function), the pooling's gradient copied over the whole window
    "mathis": {
        "conv2d_forward": (
            "def conv2d_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, padding: int) -> torch.Tensor:\n"
            "    N, C, H, W = x.shape\n"
            "    K, _, kh, kw = w.shape\n"
            "    y = w.reshape(K, -1) @ im2col(x, kh, kw, padding)\n"
            "    return y.reshape(N, K, H + 2 * padding - kh + 1, W + 2 * padding - kw + 1) + b\n"
        ),
        "maxpool2_backward": (
            "def maxpool2_backward(dl_y: torch.Tensor, argmax: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:\n"
            "    return dl_y.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)\n"
        ),
    },
    # col2im writing over the overlapping windows instead of adding (dl_x wrong, dl_w and dl_b right: the
    # training does not use dl_x), indices local to each window in maxpool2_forward (the training sends
    # every gradient to the first pixels of the image: the network still reaches 95,8 %, but its gradients
    # are not torch's, and the training keeps a third of its points)
    "nadia": {
        "conv2d_backward": (
            "def conv2d_backward(dl_y: torch.Tensor, x: torch.Tensor, w: torch.Tensor,\n"
            "                    padding: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:\n"
            "    N, C, H, W = x.shape\n"
            "    K, _, kh, kw = w.shape\n"
            "    Ho, Wo = dl_y.shape[2:]\n"
            "    p = padding\n"
            "    dy = dl_y.reshape(N, K, Ho * Wo)\n"
            "    dl_w = (dy @ im2col(x, kh, kw, p).transpose(1, 2)).sum(0).reshape(w.shape)\n"
            "    dl_b = dl_y.sum(dim=(0, 2, 3))\n"
            "    dl_cols = (w.reshape(K, -1).T @ dy).reshape(N, C, kh, kw, Ho, Wo)\n"
            "    rows = torch.arange(kh)[:, None, None, None] + torch.arange(Ho)[None, None, :, None]\n"
            "    cols = torch.arange(kw)[None, :, None, None] + torch.arange(Wo)[None, None, None, :]\n"
            "    dl_xp = torch.zeros(N, C, H + 2 * p, W + 2 * p, dtype=x.dtype)\n"
            "    dl_xp[:, :, rows, cols] = dl_cols\n"
            "    return dl_w, dl_b, dl_xp[:, :, p:p + H, p:p + W]\n"
        ),
        "maxpool2_forward": (
            "def maxpool2_forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:\n"
            "    N, C, H, W = x.shape\n"
            "    windows = x.reshape(N, C, H // 2, 2, W // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, W // 2, 4)\n"
            "    y, position = windows.max(dim=-1)\n"
            "    return y, position\n"
        ),
        "question_decalage": "Le perceptron n'a pas de convolution.",
    },
    # handed in the release untouched
    "emma": None,
}

# What plain nbgrader gives each copy, per test cell, where it differs from full marks
# (the untouched release scores 0 everywhere; tests/contract/test_contract.py checks all of it).
EXPECTED = {
    "mathis": {"test_conv2d_forward": 0, "test_maxpool2_backward": 0, "test_training": 0},
    "nadia": {"test_conv2d_backward": 2, "test_maxpool2_forward": 1, "test_training": 1},
}
