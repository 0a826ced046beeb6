"""Reference solution of TP 12: convolutions and pooling by hand (naive, im2col, gradients, max-pooling, a CNN).

Each function is copied into the solution cell of the same name in
`source/tp12/tp12_convolutions.ipynb` by `make release`; its docstring is
shown to students in the stub, so it is written in French. Never imported by the checks' oracles.
"""

import torch
import torch.nn.functional as F


def conv2d_naive(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""$y_{nkij} = b_k + \sum_{c, u, v} w_{kcuv}\, x_{nc(i+u)(j+v)}$, sans rembourrage, avec des boucles."""
    N, C, H, W = x.shape
    K, _, kh, kw = w.shape
    y = torch.zeros(N, K, H - kh + 1, W - kw + 1, dtype=x.dtype)
    for i in range(H - kh + 1):
        for j in range(W - kw + 1):
            patch = x[:, :, i:i + kh, j:j + kw].reshape(N, -1)  # (N, C·kh·kw)
            y[:, :, i, j] = patch @ w.reshape(K, -1).T + b
    return y


def im2col(x: torch.Tensor, kh: int, kw: int, padding: int) -> torch.Tensor:
    r"""Les fenêtres $k_h \times k_w$ de `x` rembourré, une par colonne : forme $(N, C k_h k_w, L)$, comme `F.unfold`."""
    N, C, H, W = x.shape
    xp = F.pad(x, (padding, padding, padding, padding))
    Hp, Wp = H + 2 * padding, W + 2 * padding
    Ho, Wo = Hp - kh + 1, Wp - kw + 1
    rows = torch.arange(kh)[:, None, None, None] + torch.arange(Ho)[None, None, :, None]  # (kh, 1, Ho, 1)
    cols = torch.arange(kw)[None, :, None, None] + torch.arange(Wo)[None, None, None, :]  # (1, kw, 1, Wo)
    patches = xp.reshape(N, C, Hp * Wp)[:, :, rows * Wp + cols]  # (N, C, kh, kw, Ho, Wo)
    return patches.reshape(N, C * kh * kw, Ho * Wo)


def conv2d_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, padding: int) -> torch.Tensor:
    r"""La convolution de `conv2d_naive`, avec rembourrage `padding`, par `im2col` et un seul produit matriciel."""
    N, _, H, W = x.shape
    K, _, kh, kw = w.shape
    y = w.reshape(K, -1) @ im2col(x, kh, kw, padding) + b[:, None]  # (N, K, L)
    return y.reshape(N, K, H + 2 * padding - kh + 1, W + 2 * padding - kw + 1)


def conv2d_backward(dl_y: torch.Tensor, x: torch.Tensor, w: torch.Tensor,
                    padding: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""Les gradients $(\partial \mathcal{L}/\partial w, \partial \mathcal{L}/\partial b, \partial \mathcal{L}/\partial x)$
    de `conv2d_forward(x, w, b, padding)`, connaissant $\partial \mathcal{L}/\partial y$ = `dl_y`."""
    N, C, H, W = x.shape
    K, _, kh, kw = w.shape
    Ho, Wo = dl_y.shape[2:]
    dl_y = dl_y.reshape(N, K, Ho * Wo)
    dl_w = (dl_y @ im2col(x, kh, kw, padding).transpose(1, 2)).sum(dim=0).reshape(w.shape)
    dl_b = dl_y.sum(dim=(0, 2))
    dl_cols = w.reshape(K, -1).T @ dl_y  # (N, C·kh·kw, L) : le gradient de chaque fenêtre
    Hp, Wp = H + 2 * padding, W + 2 * padding
    rows = torch.arange(kh)[:, None, None, None] + torch.arange(Ho)[None, None, :, None]
    cols = torch.arange(kw)[None, :, None, None] + torch.arange(Wo)[None, None, None, :]
    dl_xp = torch.zeros(N, C, Hp * Wp, dtype=x.dtype)
    dl_xp.index_add_(2, (rows * Wp + cols).flatten(), dl_cols.reshape(N, C, -1))  # les fenêtres se recouvrent : on ajoute
    dl_x = dl_xp.reshape(N, C, Hp, Wp)[:, :, padding:padding + H, padding:padding + W]
    return dl_w, dl_b, dl_x


def maxpool2_forward(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Le max-pooling $2 \times 2$ de pas 2 : `(y, argmax)`, `argmax` donnant la position du maximum dans $H \times W$
    (un indice `int64` de $0$ à $HW - 1$, comme `F.max_pool2d(..., return_indices=True)`)."""
    N, C, H, W = x.shape
    windows = x.reshape(N, C, H // 2, 2, W // 2, 2).permute(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, W // 2, 4)
    y, local = windows.max(dim=-1)  # local : 0, 1, 2 ou 3, la position dans la fenêtre
    rows = 2 * torch.arange(H // 2)[:, None] + local // 2
    cols = 2 * torch.arange(W // 2)[None, :] + local % 2
    return y, rows * W + cols


def maxpool2_backward(dl_y: torch.Tensor, argmax: torch.Tensor, x_shape: tuple[int, ...]) -> torch.Tensor:
    r"""$\partial \mathcal{L}/\partial x$, de forme `x_shape` : chaque `dl_y` va au maximum de sa fenêtre, $0$ ailleurs."""
    N, C, H, W = x_shape
    dl_x = torch.zeros(N, C, H * W, dtype=dl_y.dtype)
    dl_x.scatter_(2, argmax.reshape(N, C, -1), dl_y.reshape(N, C, -1))
    return dl_x.reshape(N, C, H, W)


def cnn_forward(params: dict[str, torch.Tensor], x: torch.Tensor) -> dict[str, torch.Tensor]:
    r"""$s_1 = \mathrm{conv}(x)$ (3×3, rembourrage 1), $x_1 = \mathrm{relu}(s_1)$, $(x_2, \mathrm{argmax}) = \mathrm{maxpool}(x_1)$,
    $s_2 = x_2 w_2^T + b_2$ ($x_2$ aplati) ; renvoie le dictionnaire de ces tenseurs."""
    s1 = conv2d_forward(x, params["w1"], params["b1"], 1)
    x1 = s1.clamp(min=0)
    x2, argmax = maxpool2_forward(x1)
    s2 = x2.reshape(len(x), -1) @ params["w2"].T + params["b2"]
    return {"s1": s1, "x1": x1, "x2": x2, "argmax": argmax, "s2": s2}


def cnn_backward(params: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor,
                 cache: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    r"""Le gradient de $\mathcal{L}(s_2, y)$ (entropie croisée moyenne) selon chaque paramètre, aux clés de `params`."""
    N = len(x)
    dl_s2 = (torch.softmax(cache["s2"], dim=1) - F.one_hot(y, len(params["b2"])).to(x.dtype)) / N
    dl_x2 = (dl_s2 @ params["w2"]).reshape(cache["x2"].shape)
    dl_x1 = maxpool2_backward(dl_x2, cache["argmax"], tuple(cache["x1"].shape))
    dl_s1 = dl_x1 * (cache["s1"] > 0)
    dl_w1, dl_b1, _ = conv2d_backward(dl_s1, x, params["w1"], 1)
    return {"w1": dl_w1, "b1": dl_b1, "w2": dl_s2.T @ cache["x2"].reshape(N, -1), "b2": dl_s2.sum(dim=0)}
