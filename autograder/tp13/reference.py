"""Reference solution of TP 13: batch normalisation, dropout and Adam by hand.

Each function is copied into the solution cell of the same name in
`source/tp13/tp13_normaliser.ipynb` by `make release`; its docstring is
shown to students in the stub, so it is written in French. Never imported by the checks' oracles.
"""

import torch


def batchnorm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                      eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""$\hat{x} = (x - \mu) / \sqrt{\sigma^2 + \epsilon}$ sur le lot (variance biaisée), $y = \gamma \hat{x} + \beta$ ;
    renvoie `(y, xhat, inv_std)`, avec `inv_std` $= 1 / \sqrt{\sigma^2 + \epsilon}$."""
    mean = x.mean(dim=0)
    centred = x - mean
    var = (centred ** 2).mean(dim=0)
    inv_std = 1 / torch.sqrt(var + eps)
    xhat = centred * inv_std
    return gamma * xhat + beta, xhat, inv_std


def batchnorm_backward(dl_y: torch.Tensor, gamma: torch.Tensor, xhat: torch.Tensor,
                       inv_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""$(\partial \mathcal{L}/\partial x, \partial \mathcal{L}/\partial \gamma, \partial \mathcal{L}/\partial \beta)$
    de `batchnorm_forward`, connaissant $\partial \mathcal{L}/\partial y$ = `dl_y` (la formule fusionnée)."""
    N = dl_y.shape[0]
    dl_xhat = dl_y * gamma
    dl_x = inv_std / N * (N * dl_xhat - dl_xhat.sum(dim=0) - xhat * (dl_xhat * xhat).sum(dim=0))
    return dl_x, (dl_y * xhat).sum(dim=0), dl_y.sum(dim=0)


def update_running_stats(running_mean: torch.Tensor, running_var: torch.Tensor, x: torch.Tensor,
                         momentum: float) -> None:
    r"""En place : $\bar{\mu} \leftarrow (1 - m)\, \bar{\mu} + m\, \mu$, $\bar{\sigma}^2 \leftarrow (1 - m)\, \bar{\sigma}^2 + m\, s^2$,
    où $s^2$ est la variance **non biaisée** du lot (divisée par $N - 1$)."""
    N = x.shape[0]
    mean = x.mean(dim=0)
    var = ((x - mean) ** 2).sum(dim=0) / (N - 1)
    running_mean.mul_(1 - momentum).add_(momentum * mean)
    running_var.mul_(1 - momentum).add_(momentum * var)


def batchnorm_eval(x: torch.Tensor, running_mean: torch.Tensor, running_var: torch.Tensor, gamma: torch.Tensor,
                   beta: torch.Tensor, eps: float) -> torch.Tensor:
    r"""$y = \gamma\, (x - \bar{\mu}) / \sqrt{\bar{\sigma}^2 + \epsilon} + \beta$, avec les statistiques courantes."""
    return gamma * (x - running_mean) / torch.sqrt(running_var + eps) + beta


def make_mask(shape: tuple[int, ...], p: float, generator: torch.Generator) -> torch.Tensor:
    r"""Un masque de forme `shape` : $1$ (neurone gardé) avec la probabilité $1 - p$, $0$ (éteint) avec la probabilité $p$."""
    return (torch.rand(shape, generator=generator) >= p).to(torch.float32)


def dropout_forward(x: torch.Tensor, mask: torch.Tensor, p: float) -> torch.Tensor:
    r"""Le dropout inversé : $y = x \cdot \mathrm{mask} / (1 - p)$."""
    return x * mask / (1 - p)


def dropout_backward(dl_y: torch.Tensor, mask: torch.Tensor, p: float) -> torch.Tensor:
    r"""$\partial \mathcal{L}/\partial x$ de `dropout_forward`, connaissant $\partial \mathcal{L}/\partial y$ = `dl_y`."""
    return dl_y * mask / (1 - p)


def adam_step(params: dict[str, torch.Tensor], grads: dict[str, torch.Tensor], m: dict[str, torch.Tensor],
              v: dict[str, torch.Tensor], t: int, lr: float, betas: tuple[float, float], eps: float,
              weight_decay: float) -> None:
    r"""En place, le pas $t$ (compté à partir de 1) de `torch.optim.Adam` : $g \leftarrow g + \lambda p$,
    $m \leftarrow \beta_1 m + (1 - \beta_1) g$, $v \leftarrow \beta_2 v + (1 - \beta_2) g^2$,
    $p \leftarrow p - \eta\, \hat{m} / (\sqrt{\hat{v}} + \epsilon)$, avec $\hat{m} = m / (1 - \beta_1^t)$ et $\hat{v} = v / (1 - \beta_2^t)$."""
    beta1, beta2 = betas
    for k in params:
        g = grads[k] + weight_decay * params[k]
        m[k].mul_(beta1).add_((1 - beta1) * g)
        v[k].mul_(beta2).add_((1 - beta2) * g * g)
        m_hat = m[k] / (1 - beta1 ** t)
        v_hat = v[k] / (1 - beta2 ** t)
        params[k].sub_(lr * m_hat / (v_hat.sqrt() + eps))
