"""Reference solution of TP 14: softmax, attention, layer normalisation, multi-head self-attention and one
pre-LN transformer block, forward and backward, by hand.

Each function is copied into the solution cell of the same name in `source/tp14/tp14_attention.ipynb` by
`make release`; its docstring is shown to students in the stub, so it is written in French. Never imported by
the checks' oracles.
"""

import math

import torch

def softmax(s: torch.Tensor) -> torch.Tensor:
    r"""$p_i = e^{s_i - m} / \sum_j e^{s_j - m}$ sur la dernière dimension, avec $m = \max_j s_j$ (stable)."""
    e = torch.exp(s - s.max(dim=-1, keepdim=True).values)
    return e / e.sum(dim=-1, keepdim=True)


def softmax_backward(dl_p: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    r"""$\partial \mathcal{L}/\partial s_i = p_i \big(\partial \mathcal{L}/\partial p_i - \sum_j p_j\, \partial \mathcal{L}/\partial p_j\big)$, sur la dernière dimension."""
    return p * (dl_p - (dl_p * p).sum(dim=-1, keepdim=True))


def attention_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                      causal: bool) -> tuple[torch.Tensor, torch.Tensor]:
    r"""$a = \mathrm{softmax}(q k^T / \sqrt{d})$ (avec `causal`, les scores des positions $j > i$ à $-\infty$),
    `out` $= a\, v$ ; renvoie `(out, a)`."""
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        future = torch.ones(s.shape[-2], s.shape[-1], dtype=torch.bool).triu(1)
        s = s.masked_fill(future, float("-inf"))
    a = softmax(s)
    return a @ v, a


def attention_backward(dl_out: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                       a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""$(\partial \mathcal{L}/\partial q, \partial \mathcal{L}/\partial k, \partial \mathcal{L}/\partial v)$ de
    `attention_forward`, connaissant $\partial \mathcal{L}/\partial \mathrm{out}$ = `dl_out` et les poids `a`."""
    dl_v = a.transpose(-2, -1) @ dl_out
    dl_s = softmax_backward(dl_out @ v.transpose(-2, -1), a) / math.sqrt(q.shape[-1])
    return dl_s @ k, dl_s.transpose(-2, -1) @ q, dl_v


def layer_norm_forward(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor,
                       eps: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""$\hat{x} = (x - \mu) / \sqrt{\sigma^2 + \epsilon}$ sur la **dernière** dimension (variance biaisée),
    $y = \gamma \hat{x} + \beta$ ; renvoie `(y, xhat, inv_std)`, `inv_std` de forme $(\dots, 1)$."""
    centred = x - x.mean(dim=-1, keepdim=True)
    inv_std = 1 / torch.sqrt((centred ** 2).mean(dim=-1, keepdim=True) + eps)
    xhat = centred * inv_std
    return gamma * xhat + beta, xhat, inv_std


def layer_norm_backward(dl_y: torch.Tensor, gamma: torch.Tensor, xhat: torch.Tensor,
                        inv_std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    r"""$(\partial \mathcal{L}/\partial x, \partial \mathcal{L}/\partial \gamma, \partial \mathcal{L}/\partial \beta)$
    de `layer_norm_forward` ; les gradients de $\gamma$ et $\beta$ sont sommés sur toutes les dimensions sauf la dernière."""
    D = xhat.shape[-1]
    g = dl_y * gamma
    dl_x = inv_std / D * (D * g - g.sum(dim=-1, keepdim=True) - xhat * (g * xhat).sum(dim=-1, keepdim=True))
    return dl_x, (dl_y * xhat).reshape(-1, D).sum(dim=0), dl_y.reshape(-1, D).sum(dim=0)


def split_heads(x: torch.Tensor, h: int) -> torch.Tensor:
    r"""$(B, T, D) \to (B, h, T, D/h)$ : la tête $i$ reçoit les caractéristiques $i D/h$ à $(i + 1) D/h - 1$."""
    B, T, D = x.shape
    return x.reshape(B, T, h, D // h).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    r"""$(B, h, T, d_h) \to (B, T, h\, d_h)$, l'inverse de `split_heads`."""
    B, h, T, dh = x.shape
    return x.transpose(1, 2).reshape(B, T, h * dh)


def embedding_backward(dl_e: torch.Tensor, ids: torch.Tensor, num: int) -> torch.Tensor:
    r"""Le gradient de $e = \mathrm{table}[\mathrm{ids}]$ par rapport à la table $(\mathrm{num}, D)$ : les lignes
    d'un même identifiant s'additionnent."""
    D = dl_e.shape[-1]
    grad = torch.zeros(num, D, dtype=dl_e.dtype)
    return grad.index_add_(0, ids.reshape(-1), dl_e.reshape(-1, D))


def mha_forward(params: dict[str, torch.Tensor], x: torch.Tensor, h: int,
                causal: bool) -> tuple[torch.Tensor, dict]:
    r"""L'auto-attention à `h` têtes : $q = x W_q^T + b_q$ (de même $k$, $v$), séparées en têtes, l'attention,
    les têtes réunies en $o$, $y = o W_o^T + b_o$ ; renvoie `(y, cache)`, cache aux clés `x q k v a o`."""
    q, k, v = (split_heads(x @ params["w" + n].T + params["b" + n], h) for n in "qkv")
    out, a = attention_forward(q, k, v, causal)
    o = merge_heads(out)
    return o @ params["wo"].T + params["bo"], {"x": x, "q": q, "k": k, "v": v, "a": a, "o": o}


def mha_backward(params: dict[str, torch.Tensor], dl_y: torch.Tensor,
                 cache: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""$(\partial \mathcal{L}/\partial x, \text{grads})$ de `mha_forward`, connaissant $\partial \mathcal{L}/\partial y$
    = `dl_y` ; `grads` a les clés de `params`."""
    h = cache["q"].shape[1]
    x, o = cache["x"].flatten(0, 1), cache["o"].flatten(0, 1)
    grads = {"wo": dl_y.flatten(0, 1).T @ o, "bo": dl_y.sum(dim=(0, 1))}
    dl_heads = attention_backward(split_heads(dl_y @ params["wo"], h), cache["q"], cache["k"], cache["v"], cache["a"])
    dl_x = torch.zeros_like(cache["x"])
    for n, dl_head in zip("qkv", dl_heads):
        dl = merge_heads(dl_head)
        grads["w" + n] = dl.flatten(0, 1).T @ x
        grads["b" + n] = dl.sum(dim=(0, 1))
        dl_x = dl_x + dl @ params["w" + n]
    return dl_x, grads


def block_forward(params: dict[str, torch.Tensor], x: torch.Tensor, h: int,
                  causal: bool) -> tuple[torch.Tensor, dict]:
    r"""Le bloc pré-LN : $z = x + \mathrm{MHA}(\mathrm{LN}_1(x))$, $y = z + W_2\, \mathrm{relu}(W_1 \mathrm{LN}_2(z) + b_1) + b_2$
    ($\epsilon = 10^{-5}$) ; renvoie `(y, cache)`, cache aux clés `x mha xhat1 inv_std1 xhat2 inv_std2 n2 f1`."""
    attention = {k: params[k] for k in ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")}
    n1, xhat1, inv_std1 = layer_norm_forward(x, params["ln1_g"], params["ln1_b"], 1e-5)
    attended, mha = mha_forward(attention, n1, h, causal)
    z = x + attended
    n2, xhat2, inv_std2 = layer_norm_forward(z, params["ln2_g"], params["ln2_b"], 1e-5)
    f1 = n2 @ params["w1"].T + params["b1"]
    y = z + f1.clamp(min=0) @ params["w2"].T + params["b2"]
    return y, {"x": x, "mha": mha, "xhat1": xhat1, "inv_std1": inv_std1, "xhat2": xhat2, "inv_std2": inv_std2,
               "n2": n2, "f1": f1}


def block_backward(params: dict[str, torch.Tensor], dl_y: torch.Tensor,
                   cache: dict) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    r"""$(\partial \mathcal{L}/\partial x, \text{grads})$ de `block_forward`, connaissant $\partial \mathcal{L}/\partial y$
    = `dl_y` ; `grads` a les clés de `params`."""
    f1, n2 = cache["f1"], cache["n2"]
    grads = {"w2": dl_y.flatten(0, 1).T @ f1.clamp(min=0).flatten(0, 1), "b2": dl_y.sum(dim=(0, 1))}
    dl_f1 = (dl_y @ params["w2"]) * (f1 > 0)
    grads["w1"] = dl_f1.flatten(0, 1).T @ n2.flatten(0, 1)
    grads["b1"] = dl_f1.sum(dim=(0, 1))
    dl_z2, grads["ln2_g"], grads["ln2_b"] = layer_norm_backward(dl_f1 @ params["w1"], params["ln2_g"], cache["xhat2"],
                                                                cache["inv_std2"])
    dl_z = dl_y + dl_z2
    attention = {k: params[k] for k in ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")}
    dl_n1, attention_grads = mha_backward(attention, dl_z, cache["mha"])
    grads.update(attention_grads)
    dl_x1, grads["ln1_g"], grads["ln1_b"] = layer_norm_backward(dl_n1, params["ln1_g"], cache["xhat1"],
                                                                cache["inv_std1"])
    return dl_z + dl_x1, grads
