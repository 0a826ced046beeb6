"""Checks of TP 14, named by the hidden tests of `source/tp14`: specs only (see `autograder.specs`).

Oracles (float64, never the reference): `torch.softmax` and its autograd; `F.scaled_dot_product_attention`
(`is_causal`) for `out`, the same with the identity as values for the weights `a`, and its autograd;
`F.layer_norm` and its autograd; `F.embedding`'s autograd; `F.multi_head_attention_forward` (separate
projection weights, per-head weights; causal: `nn.Transformer.generate_square_subsequent_mask`) for the
attention's output and weights, and its autograd; `nn.TransformerEncoderLayer` (pre-LN, ReLU, no dropout, in
training mode: no fast path), run on the case's parameters by `torch.func.functional_call`, and its autograd,
for the block; `x.unflatten(-1, (h, D // h)).transpose(1, 2)`, the head layout of `nn.MultiheadAttention`, for
`split_heads` and `merge_heads`.

The cases hold, by construction, what exposes each catalogued mistake: logits of ±1000 (no maximum subtracted),
3-D logits whose last two sizes differ (another axis), attention with Tq ≠ Tk and d ≠ dv, causal cases of 4
positions or more and a square one without the mask, d ≥ 2 (1/d and 1/√d differ), layer norm on 3-D inputs
(dl_gamma summed over the first dimension only), at D = 2 (unbiased variance) and with eps = 0,1, ids with a
repeated value and an unused last id, several heads and positions (a reshape without transpose mixes them),
biases that are not zero. A backward check receives what the forward pass gives, built by the oracles with the
notebook's keys (`x q k v a o` for the attention, `x mha xhat1 inv_std1 xhat2 inv_std2 n2 f1` for the block);
whether the attention is causal is read from its weights (every weight above the diagonal is 0).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.assignment import Assignment
from autograder.specs import Case, FunctionSpec, Mistake
from autograder.toolkit import (COMMON_HINTS, F32, F64, SOFTMAX_OPS, by_hand, cast, forbidden_ops, gradients,
                                randn, return_order)
from autograder.tp14 import training
from autograder.tp14.training import ATTENTION, EPS, block

VECTORISED = by_hand(loop_message="boucle Python détectée : le TP demande des opérations vectorisées sur le lot, les "
                                  "têtes et les positions")
LOOPS_ALLOWED = replace(VECTORISED, loops="allowed")  # a loop over q, k, v or over the parameters is fine
SOFTMAX = forbidden_ops({op: SOFTMAX_OPS[op] for op in ("softmax", "_softmax", "log_softmax", "special_softmax",
                                                        "softmin")},
                        "écrivez la softmax vous-même (torch.exp, max, sum… sont permis)")
ATTENTION_OPS = forbidden_ops({"scaled_dot_product_attention": "F.scaled_dot_product_attention",
                               "_scaled_dot_product_attention_math": "torch._scaled_dot_product_attention_math",
                               "multi_head_attention_forward": "F.multi_head_attention_forward (ou nn.MultiheadAttention, "
                                                               "nn.TransformerEncoderLayer)"},
                              "écrivez l'attention vous-même avec vos fonctions")
NORM = forbidden_ops({"layer_norm": "F.layer_norm (ou nn.LayerNorm)", "native_layer_norm": "torch.native_layer_norm",
                      "batch_norm": "F.batch_norm", "group_norm": "F.group_norm", "instance_norm": "F.instance_norm"},
                     "écrivez la normalisation vous-même (mean, sqrt… sont permis)")
EMBEDDING = forbidden_ops({"embedding": "F.embedding (ou nn.Embedding)"},
                          "écrivez le gradient vous-même (index_add_, ou index_put_ avec accumulate=True)")
EVERYTHING = (*SOFTMAX, *ATTENTION_OPS, *NORM)
KEEPDIM = ("must match the size", "formes incompatibles : gardez la dimension réduite (keepdim=True) pour que le "
                                  "maximum, la somme, la moyenne se diffusent sur la dernière dimension.")
MATMUL = ("shapes cannot be multiplied", "produit matriciel impossible : vérifiez les transpositions (q kᵀ, et les "
                                         "formes (…, Tq, Tk) des poids a).")
CONTIGUOUS = ("view size is not compatible", "après un transpose, le tenseur n'est plus contigu en mémoire et view refuse "
                                            "de le remettre à plat : utilisez reshape (ou .contiguous().view).")
HINTS = (KEEPDIM, MATMUL, CONTIGUOUS, *COMMON_HINTS)


# ------------------------------------------------------------------ oracles


def _future(tq: int, tk: int) -> torch.Tensor:
    return torch.ones(tq, tk, dtype=torch.bool).triu(1)


def _is_causal(a: torch.Tensor) -> bool:
    """Whether attention weights are causal: square, more than one position, every weight above the diagonal 0."""
    t = a.shape[-1]
    return a.shape[-2] == t and t > 1 and bool((a.triu(1) == 0).all())


def _weights(q: torch.Tensor, k: torch.Tensor, causal: bool) -> torch.Tensor:
    """The attention weights, as SDPA's output when the values are the identity."""
    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-1], k.shape[-2])
    return F.scaled_dot_product_attention(q, k, eye, is_causal=causal)


def _mha(p: dict, x: torch.Tensor, h: int, causal: bool, *, weights: bool = True, out: tuple | None = None) -> tuple:
    """F.multi_head_attention_forward on (B, T, D) inputs: (y, per-head weights); `out` replaces (W_o, b_o)."""
    xt = x.transpose(0, 1)
    mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], dtype=x.dtype) if causal else None
    wo, bo = out or (p["wo"], p["bo"])
    y, a = F.multi_head_attention_forward(
        xt, xt, xt, x.shape[-1], h, None, torch.cat([p["bq"], p["bk"], p["bv"]]), None, None, False, 0.0, wo, bo,
        training=True, need_weights=weights, attn_mask=mask, use_separate_proj_weight=True, q_proj_weight=p["wq"],
        k_proj_weight=p["wk"], v_proj_weight=p["wv"], average_attn_weights=False, is_causal=causal)
    return y.transpose(0, 1), a


def _heads(t: torch.Tensor, h: int) -> torch.Tensor:
    return t.unflatten(-1, (h, t.shape[-1] // h)).transpose(1, 2)


def _mha_cache(p: dict, x: torch.Tensor, h: int, causal: bool) -> dict:
    """The cache of `mha_forward`: x, q, k, v split into heads, the per-head weights, the heads merged (o)."""
    d = x.shape[-1]
    o, a = _mha(p, x, h, causal, out=(torch.eye(d, dtype=x.dtype), torch.zeros(d, dtype=x.dtype)))
    return {"x": x, **{n: _heads(F.linear(x, p["w" + n], p["b" + n]), h) for n in "qkv"}, "a": a, "o": o}


def _inv_std(x: torch.Tensor, eps: float) -> torch.Tensor:
    return 1 / torch.sqrt(torch.var(x, dim=-1, unbiased=False, keepdim=True) + eps)


def _block_oracle(a: dict) -> tuple:
    p, x, h, causal = a["params"], a["x"], a["h"], a["causal"]
    d = (x.shape[-1],)
    n1 = F.layer_norm(x, d, p["ln1_g"], p["ln1_b"], EPS)
    z = x + _mha(p, n1, h, causal)[0]
    n2 = F.layer_norm(z, d, p["ln2_g"], p["ln2_b"], EPS)
    with torch.no_grad():
        y = block(p, x, h, causal)
    return y, {"x": x, "mha": _mha_cache(p, n1, h, causal), "xhat1": F.layer_norm(x, d, eps=EPS),
               "inv_std1": _inv_std(x, EPS), "xhat2": F.layer_norm(z, d, eps=EPS), "inv_std2": _inv_std(z, EPS),
               "n2": n2, "f1": F.linear(n2, p["w1"], p["b1"])}


def _param_gradients(fn, x: torch.Tensor, p: dict) -> tuple:
    """(dl_x, {key: dl_key}) of the scalar fn(x, params)."""
    keys = list(p)
    found = gradients(lambda x, *t: fn(x, dict(zip(keys, t))), x, *(p[k] for k in keys))
    return found[0], dict(zip(keys, found[1:]))


# ------------------------------------------------------------------ softmax

# (label, dtype, shape, scale): 3-D logits whose last two sizes differ, logits of ±1000, a row of one value
SOFTMAXES = [("float64, logits (2, 3, 5)", F64, (2, 3, 5), 3.0), ("float32, logits (4, 6)", F32, (4, 6), 3.0),
             ("float64, logits vers ±1000, (3, 2, 4)", F64, (3, 2, 4), 1000.0),
             ("float32, logits vers ±1000, (5, 7)", F32, (5, 7), 1000.0),
             ("float64, une seule valeur par ligne, (3, 1)", F64, (3, 1), 2.0)]


def _softmax_cases(gen: torch.Generator) -> list[Case]:
    return [Case(label=label, dtype=dtype, inputs={"s": randn(gen, *shape, scale=scale).to(dtype)})
            for label, dtype, shape, scale in SOFTMAXES]


def _row_exp(s: torch.Tensor) -> torch.Tensor:
    return torch.exp(s - s.max(dim=-1, keepdim=True).values)


def _naive_softmax(s: torch.Tensor) -> torch.Tensor:
    e = torch.exp(s)
    return e / e.sum(dim=-1, keepdim=True)


SOFTMAX_SPEC = FunctionSpec(
    name="softmax", points=1, arguments=("s",), outputs=("softmax(s)",), cases=_softmax_cases,
    oracle=lambda a: (torch.softmax(a["s"], dim=-1),), policy=replace(VECTORISED, forbidden=SOFTMAX), error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="débordement sur de grands logits (exp(1000) = inf, puis inf / inf = NaN) : soustrayez "
                                  "d'abord le maximum de chaque ligne, softmax(s) = exp(s − m) / Σ exp(s − m).",
                predict=lambda a, e: _naive_softmax(a["s"])),
        Mistake(output=0, message="la softmax se calcule sur la dernière dimension (dim=-1), celle des clés : chaque "
                                  "ligne doit sommer à 1.", predict=lambda a, e: torch.softmax(a["s"], dim=0)),
        Mistake(output=0, message="la softmax se calcule sur la dernière dimension (dim=-1), celle des clés : chaque "
                                  "ligne doit sommer à 1.", predict=lambda a, e: torch.softmax(a["s"], dim=-2)),
        Mistake(output=0, message="le maximum se retire de chaque ligne (s.max(dim=-1, keepdim=True)), pas le maximum "
                                  "de tout le tenseur : une ligne loin de ce maximum donne 0 / 0.",
                predict=lambda a, e: torch.exp(a["s"] - a["s"].max()) / torch.exp(a["s"] - a["s"].max()).sum(
                    dim=-1, keepdim=True)),
        Mistake(output=0, message="la somme porte sur chaque ligne (dim=-1, keepdim=True), pas sur tout le tenseur.",
                predict=lambda a, e: _row_exp(a["s"]) / _row_exp(a["s"]).sum()),
    ),
)

# (label, dtype, shape, causal zeros): 3-D, non-square; probabilities with zeros (a causal row)
SOFTMAX_BACKWARDS = [("float64, (2, 3, 5)", F64, (2, 3, 5), False), ("float32, (4, 6)", F32, (4, 6), False),
                     ("float64, poids causaux (des zéros), (2, 4, 4)", F64, (2, 4, 4), True),
                     ("float64, une seule valeur par ligne, (3, 1)", F64, (3, 1), False)]


def _softmax_backward_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, shape, causal in SOFTMAX_BACKWARDS:
        s = randn(gen, *shape, scale=1.5)
        if causal:
            s = s.masked_fill(_future(shape[-2], shape[-1]), float("-inf"))
        cases.append(Case(label=label, dtype=dtype, inputs=cast({"dl_p": randn(gen, *shape),
                                                                  "p": torch.softmax(s, dim=-1)}, dtype)))
    return cases


SOFTMAX_BACKWARD = FunctionSpec(
    name="softmax_backward", points=2, arguments=("dl_p", "p"), outputs=("dl_s",), cases=_softmax_backward_cases,
    oracle=lambda a: gradients(lambda s: (torch.softmax(s, dim=-1) * a["dl_p"]).sum(), a["p"].log()),
    policy=replace(VECTORISED, forbidden=SOFTMAX), error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="seule la diagonale de la jacobienne est là (p (1 − p) · dl_p) : chaque p_j dépend "
                                  "aussi des autres s_i, dl_s = p · (dl_p − Σ_j p_j dl_p_j).",
                predict=lambda a, e: a["p"] * (1 - a["p"]) * a["dl_p"]),
        Mistake(output=0, message="la somme retirée est pondérée par p : dl_s = p · (dl_p − Σ_j p_j dl_p_j).",
                predict=lambda a, e: a["p"] * (a["dl_p"] - a["dl_p"].sum(dim=-1, keepdim=True))),
        Mistake(output=0, message="il manque le facteur p devant la parenthèse : dl_s = p · (dl_p − Σ_j p_j dl_p_j).",
                predict=lambda a, e: a["dl_p"] - (a["dl_p"] * a["p"]).sum(dim=-1, keepdim=True)),
        Mistake(output=0, message="la somme Σ_j p_j dl_p_j porte sur la dernière dimension (dim=-1, keepdim=True).",
                predict=lambda a, e: a["p"] * (a["dl_p"] - (a["dl_p"] * a["p"]).sum(dim=0, keepdim=True))),
        Mistake(output=0, message="signe : dl_s = p · (dl_p − Σ_j p_j dl_p_j), la somme se retranche.",
                predict=lambda a, e: a["p"] * (a["dl_p"] + (a["dl_p"] * a["p"]).sum(dim=-1, keepdim=True))),
    ),
)

# ------------------------------------------------------------------ attention

# (label, dtype, B, h, Tq, Tk, d, dv, causal): causal cases first (square), then Tq ≠ Tk, a single key, and a
# square case without the mask
ATTENTIONS = [("float32, causale, B = 1, 2 têtes, T = 5, d = 4, dv = 3", F32, 1, 2, 5, 5, 4, 3, True),
              ("float64, causale, B = 3, 1 tête, T = 4, d = 2, dv = 6", F64, 3, 1, 4, 4, 2, 6, True),
              ("float64, non causale, B = 2, T = 3, d = 5, dv = 2", F64, 2, 1, 3, 3, 5, 2, False),
              ("float64, B = 2, 3 têtes, Tq = 4, Tk = 6, d = 3, dv = 5", F64, 2, 3, 4, 6, 3, 5, False),
              ("float32, une seule clé (Tk = 1), Tq = 3, d = 4, dv = 2", F32, 2, 2, 3, 1, 4, 2, False)]


def _qkv(gen: torch.Generator, b: int, h: int, tq: int, tk: int, d: int, dv: int) -> dict:
    return {"q": randn(gen, b, h, tq, d), "k": randn(gen, b, h, tk, d), "v": randn(gen, b, h, tk, dv)}


def _attention_cases(gen: torch.Generator) -> list[Case]:
    return [Case(label=label, dtype=dtype, inputs=cast({**_qkv(gen, *sizes), "causal": causal}, dtype))
            for label, dtype, *sizes, causal in ATTENTIONS]


def _attention(a: dict) -> tuple:
    return F.scaled_dot_product_attention(a["q"], a["k"], a["v"], is_causal=a["causal"]), \
        _weights(a["q"], a["k"], a["causal"])


def _attention_with(a: dict, *, scale: float | None = None, mask: str | None = "causal", dim: int = -1) -> tuple:
    """The attention of a common mistake: another scale, another mask (`inverted`, `zero`, `after`, or none)."""
    q, k, v = a["q"], a["k"], a["v"]
    s = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    future = _future(s.shape[-2], s.shape[-1])
    kind = mask if a["causal"] else None
    if kind == "causal":
        s = s.masked_fill(future, float("-inf"))
    elif kind == "inverted":
        s = s.masked_fill(torch.ones_like(future).tril(-1), float("-inf"))
    elif kind == "zero":
        s = s.masked_fill(future, 0.0)
    weights = torch.softmax(s, dim=dim)
    if kind == "after":
        weights = weights.masked_fill(future, 0.0)
    return weights @ v, weights


ATTENTION_FORWARD = FunctionSpec(
    name="attention_forward", points=2, arguments=("q", "k", "v", "causal"), outputs=("out", "a"),
    cases=_attention_cases, oracle=_attention, policy=replace(VECTORISED, forbidden=EVERYTHING), error_hints=HINTS,
    mistakes=(
        Mistake(output=None, message="il manque la division par √d : a = softmax(q kᵀ / √d).",
                predict=lambda a, e: _attention_with(a, scale=1.0)),
        Mistake(output=None, message="les scores se divisent par √d, pas par d : a = softmax(q kᵀ / √d).",
                predict=lambda a, e: _attention_with(a, scale=1 / a["q"].shape[-1])),
        Mistake(output=None, message="d est la taille des requêtes et des clés (q.shape[-1]), pas celle des valeurs.",
                predict=lambda a, e: _attention_with(a, scale=1 / math.sqrt(a["v"].shape[-1]))),
        Mistake(output=None, message="la softmax porte sur les clés (dernière dimension, dim=-1) : chaque requête "
                                     "répartit ses poids entre les clés, pas l'inverse.",
                predict=lambda a, e: _attention_with(a, dim=-2)),
        Mistake(output=None, message="masque causal inversé : la position i doit voir les positions j ≤ i (le passé), "
                                     "et ne pas voir j > i (le futur) ; masquez le triangle strictement supérieur.",
                predict=lambda a, e: _attention_with(a, mask="inverted")),
        Mistake(output=None, message="les scores masqués sont mis à 0 au lieu de −inf : exp(0) = 1, le futur garde du "
                                     "poids ; masquez avec float('-inf') avant la softmax.",
                predict=lambda a, e: _attention_with(a, mask="zero")),
        Mistake(output=None, message="les poids du futur sont mis à 0 après la softmax : les lignes ne somment plus à 1 ; "
                                     "masquez les scores (−inf) avant la softmax.",
                predict=lambda a, e: _attention_with(a, mask="after")),
        Mistake(output=None, message="causal est ignoré : avec causal=True, la position i ne voit que les j ≤ i.",
                predict=lambda a, e: _attention_with(a, mask=None)),
        Mistake(output=None, message="le masque causal n'est appliqué que si causal est vrai.",
                predict=lambda a, e: _attention_with({**a, "causal": True}) if a["q"].shape[-2] == a["k"].shape[-2]
                else None),
        *return_order(("out", "a")),
    ),
)


def _attention_backward_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, *sizes, causal in ATTENTIONS:
        inputs = _qkv(gen, *sizes)
        a = _weights(inputs["q"], inputs["k"], causal)
        dl_out = randn(gen, *a.shape[:-1], inputs["v"].shape[-1])
        cases.append(Case(label=label, dtype=dtype, inputs=cast({"dl_out": dl_out, **inputs, "a": a}, dtype)))
    return cases


def _attention_gradients(a: dict) -> tuple:
    causal = _is_causal(a["a"])
    return gradients(lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, is_causal=causal) * a["dl_out"]).sum(),
                     a["q"], a["k"], a["v"])


def _dl_s(a: dict) -> torch.Tensor:
    """The gradient of the scores q kᵀ / √d."""
    dl_a = a["dl_out"] @ a["v"].transpose(-2, -1)
    return a["a"] * (dl_a - (dl_a * a["a"]).sum(dim=-1, keepdim=True))


ATTENTION_BACKWARD = FunctionSpec(
    name="attention_backward", points=3, arguments=("dl_out", "q", "k", "v", "a"), outputs=("dl_q", "dl_k", "dl_v"),
    cases=_attention_backward_cases, oracle=_attention_gradients, policy=replace(VECTORISED, forbidden=EVERYTHING),
    error_hints=HINTS,
    mistakes=(
        Mistake(output=2, message="dl_v = aᵀ · dl_out : il manque la transposée de a (a.transpose(-2, -1)).",
                predict=lambda a, e: a["a"] @ a["dl_out"]),
        Mistake(output=1, message="dl_k = dl_sᵀ · q / √d : il manque la transposée de dl_s.",
                predict=lambda a, e: _dl_s(a) @ a["q"] / math.sqrt(a["q"].shape[-1])),
        Mistake(output=None, message="dl_q et dl_k sont échangés : dl_q = dl_s · k / √d et dl_k = dl_sᵀ · q / √d.",
                predict=lambda a, e: (e[1], e[0], e[2])),
        Mistake(output=None, message="il manque le facteur 1/√d dans dl_q et dl_k : les scores sont q kᵀ / √d.",
                predict=lambda a, e: (e[0] * math.sqrt(a["q"].shape[-1]), e[1] * math.sqrt(a["q"].shape[-1]), e[2])),
        Mistake(output=0, message="il manque le facteur 1/√d dans dl_q : les scores sont q kᵀ / √d.",
                predict=lambda a, e: e[0] * math.sqrt(a["q"].shape[-1])),
        Mistake(output=1, message="il manque le facteur 1/√d dans dl_k : les scores sont q kᵀ / √d.",
                predict=lambda a, e: e[1] * math.sqrt(a["q"].shape[-1])),
        Mistake(output=None, message="le gradient de la softmax n'a que sa diagonale (a (1 − a) · dl_a) : utilisez "
                                     "softmax_backward, dl_s = a · (dl_a − Σ_j a_j dl_a_j).",
                predict=lambda a, e: _attention_diagonal(a)),
        *return_order(("dl_q", "dl_k", "dl_v")),
    ),
)


def _attention_diagonal(a: dict) -> tuple:
    dl_a = a["dl_out"] @ a["v"].transpose(-2, -1)
    dl_s = a["a"] * (1 - a["a"]) * dl_a / math.sqrt(a["q"].shape[-1])
    return dl_s @ a["k"], dl_s.transpose(-2, -1) @ a["q"], a["a"].transpose(-2, -1) @ a["dl_out"]


# ------------------------------------------------------------------ layer normalisation

# (label, dtype, shape, mean, std, eps): 3-D inputs (statistics over the first dimension do not broadcast into a
# right answer), D = 2 (the unbiased variance doubles), float32 of mean 10 at D = 32, a large eps. No float32 input
# of mean 10 with fewer features: a one-pass variance, E[x²] − E[x]², loses its precision there in float32 (at D = 2,
# 250 of 300 random cases beyond the tolerance, at D = 5, 15), and would be accepted on some draws only
LAYER_NORMS = [("float64, (2, 3, 5)", F64, (2, 3, 5), 0.0, 1.0, 1e-5),
               ("float64, (4, 2) : D = 2, entrées de moyenne 10", F64, (4, 2), 10.0, 1.0, 1e-5),
               ("float32, (3, 32), entrées de moyenne 10", F32, (3, 32), 10.0, 1.0, 1e-5),
               ("float64, (3, 4, 6), petites variances et eps = 0,1", F64, (3, 4, 6), -2.0, 0.3, 0.1),
               ("float64, (5, 7)", F64, (5, 7), 1.0, 2.0, 1e-5)]
# the backward pass from D = 3 (at D = 2, xhat = ±1 and dl_x is about 0 whatever the code)
LAYER_NORM_BACKWARDS = [("float64, (2, 3, 5)", F64, (2, 3, 5), 0.0, 1.0, 1e-5),
                        ("float32, (3, 6), entrées de moyenne 10", F32, (3, 6), 10.0, 1.0, 1e-5),
                        ("float64, (2, 4, 3), eps = 0,1", F64, (2, 4, 3), 1.0, 0.5, 0.1),
                        ("float32, (5, 32), moyenne 10 et écart-type 0,1", F32, (5, 32), 10.0, 0.1, 1e-5),
                        ("float64, (6, 4)", F64, (6, 4), -1.0, 3.0, 1e-5)]


def _features(gen: torch.Generator, shape: tuple, mean: float, std: float) -> torch.Tensor:
    """Rows of their own means and spreads around `mean` and `std`."""
    return mean + randn(gen, *shape[:-1], 1, scale=std) + randn(gen, *shape) * std * (
        0.5 + torch.rand(*shape[:-1], 1, generator=gen, dtype=torch.float64))


def _layer_norm_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, shape, mean, std, eps in LAYER_NORMS:
        d = shape[-1]
        inputs = {"x": _features(gen, shape, mean, std), "gamma": 1.5 + randn(gen, d, scale=0.3),
                  "beta": randn(gen, d, scale=0.5) - 0.5, "eps": eps}
        cases.append(Case(label=label, dtype=dtype, inputs=cast(inputs, dtype)))
    return cases


def _statistics(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(xhat, inv_std) of `x` in its own dtype, by two passes: what the student's forward pass gives."""
    centred = x - x.mean(dim=-1, keepdim=True)
    inv_std = 1 / torch.sqrt((centred ** 2).mean(dim=-1, keepdim=True) + eps)
    return centred * inv_std, inv_std


def _layer_norm_backward_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, shape, mean, std, eps in LAYER_NORM_BACKWARDS:
        x = _features(gen, shape, mean, std).to(dtype)
        gamma = (1.5 + randn(gen, shape[-1], scale=0.3)).to(dtype)
        xhat, inv_std = _statistics(x, eps)
        cases.append(Case(label=label, dtype=dtype, inputs={
            "dl_y": randn(gen, *shape).to(dtype), "gamma": gamma, "xhat": xhat, "inv_std": inv_std, "x": x, "eps": eps}))
    return cases


def _ln(a: dict) -> tuple:
    d = (a["x"].shape[-1],)
    return (F.layer_norm(a["x"], d, a["gamma"], a["beta"], a["eps"]), F.layer_norm(a["x"], d, eps=a["eps"]),
            _inv_std(a["x"], a["eps"]))


def _ln_with(a: dict, *, unbiased: bool = False, eps_outside: bool = False, dim: int = -1) -> tuple:
    x = a["x"]
    centred = x - x.mean(dim=dim, keepdim=True)
    var = torch.var(x, dim=dim, unbiased=unbiased, keepdim=True)
    inv_std = 1 / (var.sqrt() + a["eps"]) if eps_outside else 1 / torch.sqrt(var + a["eps"])
    xhat = centred * inv_std
    return a["gamma"] * xhat + a["beta"], xhat, inv_std


def _ln_gradients(a: dict) -> tuple:
    x = a["x"] if "x" in a else a["xhat"] / a["inv_std"]
    eps = a["eps"] if "eps" in a else ((1 - (a["xhat"] ** 2).mean(dim=-1, keepdim=True)) / a["inv_std"] ** 2)
    if isinstance(eps, torch.Tensor):  # as the stand-in: the eps the statistics were computed with
        return gradients(lambda x, g, b: ((g * (x - x.mean(-1, keepdim=True)) / torch.sqrt(
            torch.var(x, dim=-1, unbiased=False, keepdim=True) + eps) + b) * a["dl_y"]).sum(),
            x, a["gamma"], torch.zeros_like(a["gamma"]))
    return gradients(lambda x, g, b: (F.layer_norm(x, (x.shape[-1],), g, b, eps) * a["dl_y"]).sum(),
                     x, a["gamma"], torch.zeros_like(a["gamma"]))


def _g(a: dict) -> torch.Tensor:
    return a["dl_y"] * a["gamma"]


def _fused(a: dict, g: torch.Tensor) -> torch.Tensor:
    """The fused formula of dl_x with `g` as the gradient of xhat."""
    d = g.shape[-1]
    return a["inv_std"] / d * (d * g - g.sum(dim=-1, keepdim=True) - a["xhat"] * (g * a["xhat"]).sum(dim=-1, keepdim=True))


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


LAYER_NORM_FORWARD = FunctionSpec(
    name="layer_norm_forward", points=1, arguments=("x", "gamma", "beta", "eps"), outputs=("y", "xhat", "inv_std"),
    cases=_layer_norm_cases, oracle=_ln, policy=replace(VECTORISED, forbidden=NORM), error_hints=HINTS,
    mistakes=(
        Mistake(output=None, message="statistiques sur le lot (c'est la batch norm) : la layer norm normalise chaque "
                                     "vecteur sur ses caractéristiques, la dernière dimension (dim=-1, keepdim=True).",
                predict=lambda a, e: _ln_with(a, dim=0)),
        Mistake(output=None, message="variance non biaisée (divisée par D − 1) : la layer norm divise par D "
                                     "(unbiased=False, ou la moyenne des carrés des écarts).",
                predict=lambda a, e: _ln_with(a, unbiased=True)),
        Mistake(output=None, message="eps est hors de la racine : inv_std = 1 / √(σ² + ε), pas 1 / (√σ² + ε).",
                predict=lambda a, e: _ln_with(a, eps_outside=True)),
        Mistake(output=0, message="γ et β sont échangés : y = γ · xhat + β.",
                predict=lambda a, e: a["beta"] * e[1] + a["gamma"]),
        Mistake(output=0, message="y oublie γ et β : y = γ · xhat + β.", predict=lambda a, e: e[1]),
        Mistake(output=2, message="inv_std est l'inverse de l'écart-type, 1 / √(σ² + ε), pas l'écart-type.",
                predict=lambda a, e: 1 / e[2]),
        Mistake(output=2, message="inv_std garde la dimension réduite : forme (…, 1), avec keepdim=True.",
                predict=lambda a, e: e[2].squeeze(-1)),
    ),
)

LAYER_NORM_BACKWARD = FunctionSpec(
    name="layer_norm_backward", points=2, arguments=("dl_y", "gamma", "xhat", "inv_std"),
    outputs=("dl_x", "dl_gamma", "dl_beta"), cases=_layer_norm_backward_cases, oracle=_ln_gradients,
    policy=replace(VECTORISED, forbidden=NORM), error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="dl_x oublie que la moyenne et la variance dépendent de x : γ · inv_std · dl_y n'est "
                                  "que le chemin direct ; retirez aussi la moyenne de g = γ · dl_y et xhat fois la "
                                  "moyenne de g · xhat, sur la dernière dimension.",
                predict=lambda a, e: _g(a) * a["inv_std"]),
        Mistake(output=0, message="dl_x oublie le chemin de la variance : retirez aussi xhat · moyenne(g · xhat), sur "
                                  "la dernière dimension.",
                predict=lambda a, e: a["inv_std"] * (_g(a) - _g(a).mean(dim=-1, keepdim=True))),
        Mistake(output=0, message="dl_x oublie le chemin de la moyenne : retirez aussi la moyenne de g = γ · dl_y sur la "
                                  "dernière dimension.",
                predict=lambda a, e: a["inv_std"] * (_g(a) - a["xhat"] * (_g(a) * a["xhat"]).mean(dim=-1, keepdim=True))),
        Mistake(output=0, message="les moyennes de dl_x se prennent sur la dernière dimension (les caractéristiques), "
                                  "pas sur le lot.",
                predict=lambda a, e: a["inv_std"] * (_g(a) - _g(a).mean(dim=0, keepdim=True) - a["xhat"] * (
                    _g(a) * a["xhat"]).mean(dim=0, keepdim=True))),
        Mistake(output=0, message="dl_x oublie γ : le gradient de xhat est g = γ · dl_y.",
                predict=lambda a, e: _fused(a, a["dl_y"])),
        Mistake(output=1, message="dl_gamma n'est sommé que sur la première dimension : sommez sur toutes les dimensions "
                                  "sauf la dernière (dl_gamma a la forme (D,)).",
                predict=lambda a, e: (a["dl_y"] * a["xhat"]).sum(dim=0)),
        Mistake(output=2, message="dl_beta n'est sommé que sur la première dimension : sommez sur toutes les dimensions "
                                  "sauf la dernière (dl_beta a la forme (D,)).", predict=lambda a, e: a["dl_y"].sum(dim=0)),
        Mistake(output=1, message="dl_gamma est une somme sur toutes les positions, pas une moyenne.",
                predict=lambda a, e: _rows(a["dl_y"] * a["xhat"]).mean(dim=0)),
        Mistake(output=2, message="dl_beta est une somme sur toutes les positions, pas une moyenne.",
                predict=lambda a, e: _rows(a["dl_y"]).mean(dim=0)),
        Mistake(output=1, message="dl_gamma oublie xhat : dl_gamma = Σ dl_y · xhat.", predict=lambda a, e: e[2]),
        *return_order(("dl_x", "dl_gamma", "dl_beta")),
    ),
)

# ------------------------------------------------------------------ heads

# (label, dtype, B, T, D, h): several heads and positions; one head; a single position
SPLITS = [("float64, B = 2, T = 3, D = 12, 4 têtes", F64, 2, 3, 12, 4),
          ("float32, B = 1, T = 5, D = 6, 2 têtes", F32, 1, 5, 6, 2),
          ("float64, B = 3, T = 4, D = 10, 1 tête", F64, 3, 4, 10, 1),
          ("float64, B = 2, T = 1, D = 8, 2 têtes", F64, 2, 1, 8, 2)]
MERGES = [("float64, B = 2, 4 têtes, T = 3, dh = 3", F64, 2, 4, 3, 3),
          ("float32, B = 1, 2 têtes, T = 5, dh = 4", F32, 1, 2, 5, 4),
          ("float64, B = 3, 1 tête, T = 4, dh = 5", F64, 3, 1, 4, 5)]


def _split_cases(gen: torch.Generator) -> list[Case]:
    return [Case(label=label, dtype=dtype, inputs={"x": randn(gen, b, t, d).to(dtype), "h": h})
            for label, dtype, b, t, d, h in SPLITS]


def _merge_cases(gen: torch.Generator) -> list[Case]:
    return [Case(label=label, dtype=dtype, inputs={"x": randn(gen, *shape).to(dtype)})
            for label, dtype, *shape in MERGES]


SPLIT_HEADS = FunctionSpec(
    name="split_heads", points=1, arguments=("x", "h"), outputs=("split_heads(x, h)",), cases=_split_cases,
    oracle=lambda a: (_heads(a["x"], a["h"]),), policy=VECTORISED, error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="x.reshape(B, h, T, D/h) mélange positions et têtes : découpez d'abord la dernière "
                                  "dimension, reshape(B, T, h, D/h), puis échangez T et h (transpose(1, 2)).",
                predict=lambda a, e: a["x"].reshape(a["x"].shape[0], a["h"], a["x"].shape[1], -1)),
        Mistake(output=0, message="la tête i reçoit des caractéristiques consécutives, i·D/h … (i+1)·D/h − 1 : "
                                  "reshape(B, T, h, D/h), pas reshape(B, T, D/h, h).",
                predict=lambda a, e: a["x"].reshape(*a["x"].shape[:2], -1, a["h"]).permute(0, 3, 1, 2)),
    ),
)

MERGE_HEADS = FunctionSpec(
    name="merge_heads", points=1, arguments=("x",), outputs=("merge_heads(x)",), cases=_merge_cases,
    oracle=lambda a: (a["x"].transpose(1, 2).flatten(-2),), policy=VECTORISED, error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="sans transposer d'abord, le reshape mélange têtes et positions : "
                                  "x.transpose(1, 2) (B, T, h, dh), puis reshape(B, T, h·dh).",
                predict=lambda a, e: a["x"].reshape(a["x"].shape[0], a["x"].shape[2], -1)),
        Mistake(output=0, message="les caractéristiques de la tête i doivent rester consécutives : transposez en "
                                  "(B, T, h, dh) avant le reshape, pas en (B, T, dh, h).",
                predict=lambda a, e: a["x"].permute(0, 2, 3, 1).flatten(-2)),
    ),
)

# ------------------------------------------------------------------ embedding

# (label, dtype, ids shape, num, D): ids with a repeated value, the last id never used
EMBEDDINGS = [("float64, ids (2, 5), 6 lignes", F64, (2, 5), 6, 4), ("float32, ids (7,), 4 lignes", F32, (7,), 4, 3),
              ("float64, ids (1, 3), 5 lignes", F64, (1, 3), 5, 2)]


def _embedding_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, shape, num, d in EMBEDDINGS:
        ids = torch.randint(0, num - 1, shape, generator=gen)
        ids.view(-1)[1] = ids.view(-1)[0]  # a repeated id; `num - 1` is never used
        cases.append(Case(label=label, dtype=dtype, inputs={"dl_e": randn(gen, *shape, d).to(dtype), "ids": ids,
                                                             "num": num}))
    return cases


def _overwritten(a: dict) -> torch.Tensor:
    table = torch.zeros(a["num"], a["dl_e"].shape[-1], dtype=a["dl_e"].dtype)
    table[a["ids"]] = a["dl_e"]
    return table


EMBEDDING_BACKWARD = FunctionSpec(
    name="embedding_backward", points=1, arguments=("dl_e", "ids", "num"), outputs=("dl_table",),
    cases=_embedding_cases,
    oracle=lambda a: gradients(lambda t: (F.embedding(a["ids"], t) * a["dl_e"]).sum(),
                               torch.zeros(a["num"], a["dl_e"].shape[-1], dtype=a["dl_e"].dtype)),
    policy=replace(VECTORISED, forbidden=EMBEDDING), error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="un identifiant répété écrase sa ligne au lieu de s'y ajouter (table[ids] = dl_e, ou "
                                  "+=) : chaque utilisation d'une ligne ajoute son gradient, index_add_ (ou index_put_ "
                                  "avec accumulate=True).", predict=lambda a, e: _overwritten(a)),
        Mistake(output=0, message="la table a num lignes, même celles qu'aucun identifiant n'utilise (leur gradient "
                                  "est nul) : pas ids.max() + 1.",
                predict=lambda a, e: e[0][:int(a["ids"].max()) + 1]),
    ),
)

# ------------------------------------------------------------------ multi-head self-attention

# (label, dtype, B, T, D, h, causal): D not a power of two, several heads, one head, a single position
MHAS = [("float64, B = 2, T = 5, D = 12, 4 têtes", F64, 2, 5, 12, 4, False),
        ("float32, causale, B = 1, T = 4, D = 6, 2 têtes", F32, 1, 4, 6, 2, True),
        ("float64, causale, B = 2, T = 6, D = 10, 1 tête", F64, 2, 6, 10, 1, True),
        ("float64, B = 3, T = 1, D = 10, 2 têtes", F64, 3, 1, 10, 2, False),
        ("float32, B = 2, T = 3, D = 20, 4 têtes", F32, 2, 3, 20, 4, False)]
BLOCKS = [("float64, B = 2, T = 5, D = 12, 4 têtes, d_ff = 7", F64, 2, 5, 12, 4, False, 7),
          ("float32, causal, B = 1, T = 4, D = 6, 2 têtes, d_ff = 16", F32, 1, 4, 6, 2, True, 16),
          ("float64, causal, B = 2, T = 5, D = 10, 1 tête, d_ff = 5", F64, 2, 5, 10, 1, True, 5),
          ("float64, B = 3, T = 1, D = 10, 2 têtes, d_ff = 8", F64, 3, 1, 10, 2, False, 8)]


def _attention_params(gen: torch.Generator, d: int) -> dict:
    """Weights N(0, 1/D), biases that are not zero."""
    return {k: randn(gen, d, d, scale=d ** -0.5) if k[0] == "w" else randn(gen, d, scale=0.3) for k in ATTENTION}


def _block_params(gen: torch.Generator, d: int, d_ff: int) -> dict:
    return {**_attention_params(gen, d), "ln1_g": 1 + randn(gen, d, scale=0.3), "ln1_b": randn(gen, d, scale=0.3),
            "ln2_g": 1 + randn(gen, d, scale=0.3), "ln2_b": randn(gen, d, scale=0.3),
            "w1": randn(gen, d_ff, d, scale=d ** -0.5), "b1": randn(gen, d_ff, scale=0.3),
            "w2": randn(gen, d, d_ff, scale=d_ff ** -0.5), "b2": randn(gen, d, scale=0.3)}


def _mha_cases(gen: torch.Generator) -> list[Case]:
    return [Case(label=label, dtype=dtype, inputs=cast({"params": _attention_params(gen, d), "x": randn(gen, b, t, d),
                                                         "h": h, "causal": causal}, dtype))
            for label, dtype, b, t, d, h, causal in MHAS]


def _mha_backward_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, b, t, d, h, causal in MHAS:
        params, x = _attention_params(gen, d), randn(gen, b, t, d)
        cases.append(Case(label=label, dtype=dtype, inputs=cast({
            "params": params, "dl_y": randn(gen, b, t, d), "cache": _mha_cache(params, x, h, causal)}, dtype)))
    return cases


def _mha_oracle(a: dict) -> tuple:
    return _mha(a["params"], a["x"], a["h"], a["causal"])[0], _mha_cache(a["params"], a["x"], a["h"], a["causal"])


def _mha_variant(a: dict, *, split=_heads, transposed: bool = False, biases: bool = True, out: bool = True,
                 causal: bool | None = None) -> tuple:
    """(y, cache) of a multi-head attention written with one common mistake."""
    p, x, h = a["params"], a["x"], a["h"]
    causal = a["causal"] if causal is None else causal
    q, k, v = (split(x @ (p["w" + n] if transposed else p["w" + n].T) + (p["b" + n] if biases else 0), h)
               for n in "qkv")
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        s = s.masked_fill(_future(s.shape[-2], s.shape[-1]), float("-inf"))
    weights = torch.softmax(s, dim=-1)
    o = (weights @ v).transpose(1, 2).flatten(-2)
    return (o @ p["wo"].T + p["bo"] if out else o), {"x": x, "q": q, "k": k, "v": v, "a": weights, "o": o}


def _mixed(t: torch.Tensor, h: int) -> torch.Tensor:
    """The heads of a reshape without transpose."""
    return t.reshape(t.shape[0], h, t.shape[1], -1)


def _mha_gradients(a: dict, *, paths: str = "qkv") -> tuple:
    """(dl_x, grads) of sum(MHA(x) · dl_y) by autograd; only the projections in `paths` carry dl_x back."""
    cache, p = a["cache"], a["params"]
    h, causal = cache["q"].shape[1], _is_causal(cache["a"])

    def loss(x, p):
        xs = {n: x if n in paths else x.detach() for n in "qkv"}
        q, k, v = (F.linear(xs[n], p["w" + n], p["b" + n]) for n in "qkv")
        heads = [_heads(t, h) for t in (q, k, v)]
        o = F.scaled_dot_product_attention(*heads, is_causal=causal).transpose(1, 2).flatten(-2)
        return (F.linear(o, p["wo"], p["bo"]) * a["dl_y"]).sum()
    return _param_gradients(loss, cache["x"], p)


def _mha_backward_oracle(a: dict) -> tuple:
    cache, p = a["cache"], a["params"]
    h, causal = cache["q"].shape[1], _is_causal(cache["a"])
    return _param_gradients(lambda x, p: (_mha(p, x, h, causal, weights=False)[0] * a["dl_y"]).sum(), cache["x"], p)


MHA_FORWARD = FunctionSpec(
    name="mha_forward", points=2, arguments=("params", "x", "h", "causal"), outputs=("y", "cache"), cases=_mha_cases,
    oracle=_mha_oracle, policy=replace(LOOPS_ALLOWED, forbidden=EVERYTHING), error_hints=HINTS,
    mistakes=(
        Mistake(output=None, message="les têtes mélangent positions et caractéristiques (un reshape sans transpose) : "
                                     "utilisez split_heads.", predict=lambda a, e: _mha_variant(a, split=_mixed)),
        Mistake(output=None, message="les poids sont au format de nn.Linear, (sortie, entrée) : q = x W_qᵀ + b_q "
                                     "(x @ w.T), pas x @ w.", predict=lambda a, e: _mha_variant(a, transposed=True)),
        Mistake(output=None, message="les biais b_q, b_k, b_v sont oubliés : q = x W_qᵀ + b_q.",
                predict=lambda a, e: _mha_variant(a, biases=False)),
        Mistake(output=None, message="la projection de sortie est oubliée : y = o W_oᵀ + b_o.",
                predict=lambda a, e: _mha_variant(a, out=False)),
        Mistake(output=None, message="causal n'est pas transmis à attention_forward.",
                predict=lambda a, e: _mha_variant(a, causal=not a["causal"]) if a["x"].shape[1] > 1 else None),
    ),
)

MHA_BACKWARD = FunctionSpec(
    name="mha_backward", points=3, arguments=("params", "dl_y", "cache"), outputs=("dl_x", "grads"),
    cases=_mha_backward_cases, oracle=_mha_backward_oracle, policy=replace(LOOPS_ALLOWED, forbidden=EVERYTHING),
    error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="dl_x ne suit que le chemin de q : x sert aussi à k et à v, dl_x = dl_q W_q + dl_k W_k "
                                  "+ dl_v W_v.", predict=lambda a, e: _mha_gradients(a, paths="q")[0]),
        Mistake(output=0, message="dl_x oublie le chemin de v : dl_x = dl_q W_q + dl_k W_k + dl_v W_v.",
                predict=lambda a, e: _mha_gradients(a, paths="qk")[0]),
        *(Mistake(output=f'grads["w{n}"]', message="`{output}` est transposé : le gradient d'un poids a sa forme "
                                                   "(sortie, entrée), dlᵀ @ (entrée de la couche).",
                  predict=lambda a, e, n=n: e[1]["w" + n].T) for n in "qkvo"),
        *(Mistake(output=f'grads["b{n}"]', message="`{output}` : sommez sur le lot et les positions, ne faites pas la "
                                                   "moyenne.",
                  predict=lambda a, e, n=n: e[1]["b" + n] / a["dl_y"].shape[0]) for n in "qkvo"),
        *(Mistake(output=f'grads["b{n}"]', message="`{output}` : sommez sur le lot et les positions, ne faites pas la "
                                                   "moyenne.",
                  predict=lambda a, e, n=n: e[1]["b" + n] / (a["dl_y"].shape[0] * a["dl_y"].shape[1]))
          for n in "qkvo"),
    ),
)

# ------------------------------------------------------------------ the block


def _block_cases(gen: torch.Generator) -> list[Case]:
    return [Case(label=label, dtype=dtype, inputs=cast({"params": _block_params(gen, d, d_ff), "x": randn(gen, b, t, d),
                                                         "h": h, "causal": causal}, dtype))
            for label, dtype, b, t, d, h, causal, d_ff in BLOCKS]


def _block_backward_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, b, t, d, h, causal, d_ff in BLOCKS:
        params, x = _block_params(gen, d, d_ff), randn(gen, b, t, d)
        cache = _block_oracle({"params": params, "x": x, "h": h, "causal": causal})[1]
        cases.append(Case(label=label, dtype=dtype, inputs=cast({"params": params, "dl_y": randn(gen, b, t, d),
                                                                  "cache": cache}, dtype)))
    return cases


def _block_variant(p: dict, x: torch.Tensor, h: int, causal: bool, *, first: bool = True, second: bool = True,
                   post: bool = False, relu: bool = True, mask: bool = True, skip_x: bool = False,
                   skip_z: bool = False) -> torch.Tensor:
    """A block written with one common mistake: a residual forgotten (`first`, `second`), post-LN, no ReLU; for the
    backward pass, a ReLU whose gradient is not masked (`mask`), a residual whose gradient is not passed on
    (`skip_x`, `skip_z`: the forward pass is the same)."""
    d = (x.shape[-1],)
    ln1 = lambda t: F.layer_norm(t, d, p["ln1_g"], p["ln1_b"], EPS)  # noqa: E731
    ln2 = lambda t: F.layer_norm(t, d, p["ln2_g"], p["ln2_b"], EPS)  # noqa: E731

    def mlp(t):
        f1 = F.linear(t, p["w1"], p["b1"])
        hidden = (f1.clamp(min=0) if mask else f1 + (f1.clamp(min=0) - f1).detach()) if relu else f1
        return F.linear(hidden, p["w2"], p["b2"])
    if post:
        z = ln1(x + _mha(p, x, h, causal, weights=False)[0])
        return ln2(z + mlp(z))
    attended = _mha(p, ln1(x), h, causal, weights=False)[0]
    z = ((x.detach() if skip_x else x) + attended) if first else attended
    return ((z.detach() if skip_z else z) + mlp(ln2(z))) if second else mlp(ln2(z))


def _block_wrong(a: dict, **mistake) -> torch.Tensor:
    """block_forward's y from a block with one mistake."""
    with torch.no_grad():
        return _block_variant(a["params"], a["x"], a["h"], a["causal"], **mistake)


def _block_gradients(a: dict, **mistake) -> tuple:
    cache = a["cache"]
    h, causal = cache["mha"]["q"].shape[1], _is_causal(cache["mha"]["a"])
    return _param_gradients(lambda x, p: (_block_variant(p, x, h, causal, **mistake) * a["dl_y"]).sum(),
                            cache["x"], a["params"])


def _block_backward_oracle(a: dict) -> tuple:
    cache = a["cache"]
    h, causal = cache["mha"]["q"].shape[1], _is_causal(cache["mha"]["a"])
    return _param_gradients(lambda x, p: (block(p, x, h, causal) * a["dl_y"]).sum(), cache["x"], a["params"])


BLOCK_FORWARD = FunctionSpec(
    name="block_forward", points=2, arguments=("params", "x", "h", "causal"), outputs=("y", "cache"),
    cases=_block_cases, oracle=_block_oracle, policy=replace(LOOPS_ALLOWED, forbidden=EVERYTHING), error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="la connexion résiduelle de l'attention est oubliée : z = x + MHA(LN₁(x)).",
                predict=lambda a, e: _block_wrong(a, first=False)),
        Mistake(output=0, message="la connexion résiduelle du MLP est oubliée : y = z + MLP(LN₂(z)).",
                predict=lambda a, e: _block_wrong(a, second=False)),
        Mistake(output=0, message="c'est un bloc post-LN (la normalisation après la somme) : le bloc pré-LN normalise "
                                  "l'entrée de chaque branche, z = x + MHA(LN₁(x)), y = z + MLP(LN₂(z)).",
                predict=lambda a, e: _block_wrong(a, post=True)),
        Mistake(output=0, message="le ReLU du MLP est oublié : MLP(n) = W₂ relu(W₁ n + b₁) + b₂.",
                predict=lambda a, e: _block_wrong(a, relu=False)),
    ),
)

BLOCK_BACKWARD = FunctionSpec(
    name="block_backward", points=3, arguments=("params", "dl_y", "cache"), outputs=("dl_x", "grads"),
    cases=_block_backward_cases, oracle=_block_backward_oracle, policy=replace(LOOPS_ALLOWED, forbidden=EVERYTHING),
    error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="le gradient de la connexion résiduelle z = x + … n'est pas transmis : dl_x = dl_z + "
                                  "(ce qui revient par LN₁), pas la branche de LN₁ seule.",
                predict=lambda a, e: _block_gradients(a, skip_x=True)[0]),
        Mistake(output=None, message="le gradient de la connexion résiduelle y = z + … n'est pas transmis : dl_z = dl_y "
                                     "+ (ce qui revient par LN₂).",
                predict=lambda a, e: _block_gradients(a, skip_z=True)),
        Mistake(output=None, message="le gradient du ReLU n'est pas masqué : multipliez par (f1 > 0).",
                predict=lambda a, e: _block_gradients(a, mask=False)),
    ),
)

ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[
    SOFTMAX_SPEC, SOFTMAX_BACKWARD, ATTENTION_FORWARD, ATTENTION_BACKWARD, LAYER_NORM_FORWARD, LAYER_NORM_BACKWARD,
    SPLIT_HEADS, MERGE_HEADS, EMBEDDING_BACKWARD, MHA_FORWARD, MHA_BACKWARD, BLOCK_FORWARD, BLOCK_BACKWARD,
    training.SPEC])
grade = ASSIGNMENT.grade
