"""Reference solution of TP 9: a two-layer MLP trained without autograd.

Each function is copied into the solution cell of the same name in
`source/tp09/tp09_mlp_sans_autograd.ipynb` by `make release`; its docstring is
shown to students in the stub, so it is written in French.
"""

import torch


def sigma(x: torch.Tensor) -> torch.Tensor:
    r"""$\sigma(x) = \tanh(x)$, terme à terme."""
    return torch.tanh(x)


def dsigma(x: torch.Tensor) -> torch.Tensor:
    r"""$\sigma'(x) = 1 - \tanh^2(x)$, terme à terme."""
    return 1.0 - torch.tanh(x) ** 2


def loss(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    r"""$\mathcal{L}(v, t) = \|t - v\|_2^2 = \sum_i (t_i - v_i)^2$ (un scalaire)."""
    return torch.sum((t - v) ** 2)


def dloss(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    r"""$\partial \mathcal{L} / \partial v = 2\,(v - t)$, de la forme de `v`."""
    return 2.0 * (v - t)


def forward_step(xIn: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$s = x_{in} w^T + b$, $x = \sigma(s)$ ; renvoie `(s, x)`."""
    s = xIn @ w.T + b
    x = sigma(s)
    return s, x


def forward_pass(
    w1: torch.Tensor, b1: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""$x_0 = x$, $(s_1, x_1)$ puis $(s_2, x_2)$ par `forward_step` ; renvoie `(s1, x1, s2, x2)`."""
    s1, x1 = forward_step(x, w1, b1)
    s2, x2 = forward_step(x1, w2, b2)
    return s1, x1, s2, x2


def backward_step(
    xIn: torch.Tensor, w: torch.Tensor, s: torch.Tensor, dl_xOut: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""`dl_xOut` $= \partial \mathcal{L} / \partial x_{out}$, où $x_{out} = \sigma(s)$.

    Renvoie `(dl_w, dl_b, dl_xIn)`, les gradients de $\mathcal{L}$ par rapport à $w$, $b$ et $x_{in}$.
    """
    dl_s = dsigma(s) * dl_xOut
    dl_w = dl_s.T @ xIn
    dl_b = dl_s.sum(dim=0)
    dl_xIn = dl_s @ w
    return dl_w, dl_b, dl_xIn


def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2) -> None:
    r"""Ajoute en place à `dl_dw1, dl_db1, dl_dw2, dl_db2` le gradient de $\mathcal{L}(x_2, t)$."""
    dl_x2 = dloss(x2, t)
    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dl_x2)
    dl_w1, dl_b1, _ = backward_step(x, w1, s1, dl_x1)
    dl_dw1 += dl_w1
    dl_db1 += dl_b1
    dl_dw2 += dl_w2
    dl_db2 += dl_b2
