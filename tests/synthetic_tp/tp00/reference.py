"""Reference solution of TP 0, the synthetic TP of the system tests (not a TP of the course): one tanh
layer trained without autograd to tell three clouds of points apart.

`tests/synthetic_tp` writes each function into the solution cell of the same name (`make release`'s
job for a TP of the course); the docstrings are shown to students, so they are in French.
"""

import torch


def sigma(x: torch.Tensor) -> torch.Tensor:
    r"""$\sigma(x) = \tanh(x)$, terme à terme."""
    return torch.tanh(x)


def dloss(v: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    r"""Le gradient de $\mathcal{L}(v, t) = \sum_i (t_i - v_i)^2$ par rapport à $v$ : $2\,(v - t)$."""
    return 2.0 * (v - t)


def forward(w: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$s = x\, w^T + b$, $v = \sigma(s)$ ; renvoie `(s, v)`."""
    s = x @ w.T + b
    v = sigma(s)
    return s, v


def gradient(x: torch.Tensor, s: torch.Tensor, dl_v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""`dl_v` $= \partial \mathcal{L} / \partial v$, où $v = \sigma(s)$ ; renvoie `(dl_w, dl_b)`."""
    dl_s = (1.0 - sigma(s) ** 2) * dl_v
    dl_w = dl_s.T @ x
    dl_b = dl_s.sum(dim=0)
    return dl_w, dl_b


def backward(x: torch.Tensor, t: torch.Tensor, s: torch.Tensor, v: torch.Tensor,
             dl_dw: torch.Tensor, dl_db: torch.Tensor) -> None:
    r"""Ajoute en place à `dl_dw, dl_db` le gradient de $\mathcal{L}(v, t)$."""
    dl_w, dl_b = gradient(x, s, dloss(v, t))
    dl_dw += dl_w
    dl_db += dl_b
