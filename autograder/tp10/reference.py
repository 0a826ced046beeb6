"""Reference solution of TP 10: multi-class classification by hand (ReLU, softmax, cross-entropy,
mini-batches, momentum).

Each function is copied into the solution cell of the same name in
`source/tp10/tp10_classification.ipynb` by `make release`; its docstring is
shown to students in the stub, so it is written in French.
"""

import math

import torch
import torch.nn.functional as F


def relu(x: torch.Tensor) -> torch.Tensor:
    r"""$\mathrm{relu}(x) = \max(x, 0)$, terme à terme."""
    return x.clamp(min=0)


def drelu(x: torch.Tensor) -> torch.Tensor:
    r"""$\mathrm{relu}'(x) = 1$ si $x > 0$, $0$ sinon (donc $0$ en $0$), terme à terme."""
    return (x > 0).to(x.dtype)


def log_softmax(s: torch.Tensor) -> torch.Tensor:
    r"""$\log \mathrm{softmax}(s)_{nj} = s_{nj} - m_n - \log \sum_k e^{s_{nk} - m_n}$, avec $m_n = \max_k s_{nk}$."""
    z = s - s.max(dim=1, keepdim=True).values
    return z - torch.log(torch.exp(z).sum(dim=1, keepdim=True))


def cross_entropy(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""$\mathcal{L}(s, y) = -\frac{1}{N} \sum_{n=1}^{N} \log \mathrm{softmax}(s_n)_{y_n}$ (un scalaire)."""
    return -log_softmax(s).gather(1, y[:, None]).mean()


def dcross_entropy(s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""$\partial \mathcal{L} / \partial s = \left(\mathrm{softmax}(s) - \mathrm{onehot}(y)\right) / N$, de la forme de `s`."""
    return (torch.exp(log_softmax(s)) - F.one_hot(y, s.shape[1]).to(s.dtype)) / s.shape[0]


def he_init(nbOut: int, nbIn: int, generator: torch.Generator) -> torch.Tensor:
    r"""Poids $w_{ij} \sim \mathcal{N}(0, 2 / n_{in})$ tirés avec `generator`, de forme `(nbOut, nbIn)`."""
    return torch.randn(nbOut, nbIn, generator=generator) * math.sqrt(2.0 / nbIn)


def forward_pass(params: dict[str, torch.Tensor], x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""$s_1 = x w_1^T + b_1$, $x_1 = \mathrm{relu}(s_1)$, $s_2 = x_1 w_2^T + b_2$ ; renvoie `(s1, x1, s2)`."""
    s1 = x @ params["w1"].T + params["b1"]
    x1 = relu(s1)
    s2 = x1 @ params["w2"].T + params["b2"]
    return s1, x1, s2


def backward_pass(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                  s1: torch.Tensor, x1: torch.Tensor, s2: torch.Tensor) -> dict[str, torch.Tensor]:
    r"""Le gradient de $\mathcal{L}(s_2, y)$ selon chaque paramètre, dans un dictionnaire aux mêmes clés que `params`."""
    dl_s2 = dcross_entropy(s2, y)
    dl_x1 = dl_s2 @ params["w2"]
    dl_s1 = drelu(s1) * dl_x1
    return {"w1": dl_s1.T @ x, "b1": dl_s1.sum(dim=0), "w2": dl_s2.T @ x1, "b2": dl_s2.sum(dim=0)}


def minibatches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    r"""Les indices $0, \dots, n-1$ mélangés avec `generator`, en lots de `batch_size` (le dernier peut être plus court)."""
    return list(torch.randperm(n, generator=generator).split(batch_size))


def sgd_momentum_step(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor],
                      velocities: dict[str, torch.Tensor], lr: float, momentum: float) -> None:
    r"""En place, pour chaque clé : $v \leftarrow \mu\, v + g$, puis $p \leftarrow p - \eta\, v$."""
    for k in params:
        velocities[k].mul_(momentum).add_(grads[k])
        params[k].sub_(lr * velocities[k])
