"""Checks of TP 12, named by the hidden tests of `source/tp12`: specs only (see `autograder.specs`).

Oracles: `F.conv2d`, `F.unfold`, `F.max_pool2d(return_indices=True)` and their autograd in float64; the
reference functions only stand in for the exercises a function calls. The cases hold, by construction,
what exposes each catalogued mistake: a first convolution whose output has K rows and K columns (a bias
added on the wrong axis still runs), several channels and kernels of two rows and two columns or more
(patch order, flipped kernel), padding 1 (padding ignored), C = K (a kernel not transposed still runs,
with a 1×1 kernel and a 3×3 one), a 1×1 kernel, batches of 1 and more; tie-free max-pooling inputs
(normal draws) of even sizes; in the CNN, a channel whose pre-activations are all negative (its windows
are all zeros after ReLU: there the pooling's indices and the gradient depend on ReLU's place). The
convolutions get one extra case of random sizes on top (`_with_random`).
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F
from torch.utils._pytree import tree_map

from autograder.assignment import Assignment
from autograder.specs import Case, FunctionSpec, Mistake
from autograder.toolkit import (COMMON_HINTS, F32, F64, by_hand, forbidden, gradients, labels, layer_gradients, randn,
                                table)
from autograder.tp12 import training

VECTORISED = by_hand(loop_message="boucle Python détectée : hors de conv2d_naive, le TP demande du code sans boucle "
                                  "(indexation par des arange diffusés, reshape, produits matriciels)")
LOOPS_ALLOWED = replace(VECTORISED, loops="allowed")

CONV = forbidden("`F.conv2d` (ou nn.Conv2d, torch.convolution)", "écrivez la somme vous-même",
                 "op:conv2d", "op:convolution", "op:_convolution")
UNFOLD = forbidden("`F.unfold` (ou nn.Unfold)", "extrayez les fenêtres vous-même (indexation, Tensor.unfold, "
                   "as_strided sont permis)", "call:im2col")
FOLD = forbidden("`F.fold` (ou nn.Fold)", "ajoutez les fenêtres à leur place vous-même (index_add_)", "call:col2im",
                 work="col2im, que demande dl_x")
CONV_TRANSPOSE = forbidden("`F.conv_transpose2d`", "calculez dl_x vous-même", "op:conv_transpose2d",
                           work="dl_x")
CONV_GRAD = forbidden("`torch.nn.grad.conv2d_weight` / `conv2d_input` (l'op convolution_backward)",
                      "calculez les gradients vous-même", "op:convolution_backward")
POOL = (*forbidden("`F.max_pool2d` (ou nn.MaxPool2d)", "prenez le maximum de chaque fenêtre vous-même",
                   "op:max_pool2d", "op:max_pool2d_with_indices"),
        *forbidden("`F.adaptive_max_pool2d`", "prenez le maximum de chaque fenêtre vous-même",
                   "op:adaptive_max_pool2d", "op:adaptive_max_pool2d_with_indices"))
UNPOOL = forbidden("`F.max_unpool2d`", "renvoyez chaque gradient à sa place vous-même (scatter_, index_put_…)",
                   "op:max_unpool2d")

BIAS_HINT = ("must match the size", "formes incompatibles : le biais b a la forme (K,) et se diffuse sur la dernière "
                                    "dimension ; pour l'ajouter à toute la carte k, donnez-lui la forme (K, 1, 1) "
                                    "(b[:, None, None]) — sinon comparez les formes de vos tenseurs.")
INDEX_HINT = ("out of bounds", "indice hors limites : vérifiez les indices de ligne et de colonne calculés avec arange, "
                               "et la taille de l'image rembourrée (H + 2·padding, W + 2·padding).")
PRODUCT_HINT = ("cannot be multiplied", "produit matriciel impossible : w.reshape(K, -1) a la forme (K, C·kh·kw) et "
                                        "im2col(x) la forme (N, C·kh·kw, L) — vérifiez les transpositions.")
CONV_HINTS = (BIAS_HINT, INDEX_HINT, PRODUCT_HINT, *COMMON_HINTS)

# ------------------------------------------------------------------ convolutions: inputs and oracles

# (label, dtype, N, C, H, W, K, kh, kw, padding); the first output is K × K (4×4): b added along the last
# axis, or with the shape (K, 1), still runs there
CONVOLUTIONS = [
    ("float64, lot 2, image 3×6×5, 4 filtres 3×2, sans rembourrage", F64, 2, 3, 6, 5, 4, 3, 2, 0),
    ("float32, lot 3, image 2×5×7, 3 filtres 2×3, rembourrage 1", F32, 3, 2, 5, 7, 3, 2, 3, 1),
    ("float64, lot de taille 1, image 1×4×6, 2 filtres 1×1, rembourrage 1", F64, 1, 1, 4, 6, 2, 1, 1, 1),
    ("float64, lot 2, image 3×5×4, 3 filtres 3×3 (C = K), rembourrage 1", F64, 2, 3, 5, 4, 3, 3, 3, 1),
    ("float32, lot 2, image 2×4×5, 2 filtres 1×1 (C = K), sans rembourrage", F32, 2, 2, 4, 5, 2, 1, 1, 0),
]
# for the gradients, C = K first: dl_x without its transpose runs there (w.reshape(K, -1) @ dl_y with a 1×1 kernel)
GRADIENTS = [CONVOLUTIONS[i] for i in (4, 3, 0, 1, 2)]
NAIVE = [(label.replace("rembourrage 1", "sans rembourrage"), *sizes[:-1], 0) for label, *sizes in CONVOLUTIONS]


def _with_random(rows: list[tuple], draw, padding: bool = True):
    """The built cases of `rows`, then one extra case of random sizes (float64, N, C, K from 1, kernels of
    1 to 3 rows and columns, images as small as the kernel), drawn after them."""
    built = table(rows, draw)

    def cases(gen: torch.Generator) -> list[Case]:
        found = built(gen)
        n, c, k, kh, kw, p, dh, dw = (int(v) for v in torch.randint(0, 100, (8,), generator=gen))
        n, c, k, kh, kw, p = 1 + n % 3, 1 + c % 3, 1 + k % 4, 1 + kh % 3, 1 + kw % 3, p % 2 if padding else 0
        h, w = kh + dh % 4, kw + dw % 4
        label = f"float64, au hasard : lot {n}, image {c}×{h}×{w}, {k} filtre(s) {kh}×{kw}, rembourrage {p}"
        return [*found, Case(label=label, inputs=draw(gen, n, c, h, w, k, kh, kw, p), extra=True)]
    return cases


def _conv(gen: torch.Generator, n, c, h, w, k, kh, kw, padding) -> dict:
    return {"x": randn(gen, n, c, h, w), "w": randn(gen, k, c, kh, kw), "b": randn(gen, k), "padding": padding}


def _windows(gen: torch.Generator, *sizes) -> dict:
    inputs = _conv(gen, *sizes)
    return {"x": inputs["x"], "kh": sizes[5], "kw": sizes[6], "padding": inputs["padding"]}


def _conv_gradient(gen: torch.Generator, *sizes) -> dict:
    inputs = _conv(gen, *sizes)
    y = F.conv2d(inputs["x"], inputs["w"], padding=inputs["padding"])
    return {"dl_y": randn(gen, *y.shape), "x": inputs["x"], "w": inputs["w"], "padding": inputs["padding"]}


def _conv_oracle(a: dict, w=None, padding=None) -> torch.Tensor:
    return F.conv2d(a["x"], a["w"] if w is None else w, a["b"], padding=a.get("padding", 0) if padding is None else padding)


def _conv_gradients(a: dict, w=None) -> tuple:
    """(dl_w, dl_b, dl_x) of sum(conv2d(x, w, b, padding) · dl_y), by autograd."""
    weight = a["w"] if w is None else w
    bias = torch.zeros(weight.shape[0], dtype=weight.dtype)
    dl_w, dl_b, dl_x = gradients(lambda w_, b_, x_: (F.conv2d(x_, w_, b_, padding=a["padding"]) * a["dl_y"]).sum(),
                                 weight, bias, a["x"])
    return dl_w, dl_b, dl_x


def _unfold(a: dict, kh=None, kw=None, padding=None) -> torch.Tensor:
    """F.unfold of x padded by F.pad: the same for padding ≥ 0, and, as the stand-in of a student's im2col,
    a crop for a negative padding (F.pad's), as `im2col` written with F.pad gives."""
    p = a["padding"] if padding is None else padding
    return F.unfold(F.pad(a["x"], (p, p, p, p)), (a["kh"] if kh is None else kh, a["kw"] if kw is None else kw))


def _patch_order(a: dict, order: str) -> torch.Tensor:
    """im2col with the rows of a window in another order than (c, i, j)."""
    n, kh, kw = len(a["x"]), a["kh"], a["kw"]
    cols = _unfold(a)
    c, L = a["x"].shape[1], cols.shape[-1]
    cols = cols.reshape(n, c, kh, kw, L)
    cols = cols.permute(0, 2, 3, 1, 4) if order == "ijc" else cols.permute(0, 1, 3, 2, 4)
    return cols.reshape(n, c * kh * kw, L)


def _positions_transposed(a: dict) -> torch.Tensor:
    """im2col with the windows listed column after column."""
    n, _, h, w = a["x"].shape
    ho, wo = h + 2 * a["padding"] - a["kh"] + 1, w + 2 * a["padding"] - a["kw"] + 1
    cols = _unfold(a)
    return cols.reshape(n, -1, ho, wo).transpose(2, 3).reshape(n, -1, ho * wo)


def _bias_on(axis: str):
    def predict(a: dict, e: tuple) -> torch.Tensor:
        y = F.conv2d(a["x"], a["w"], padding=a.get("padding", 0))
        return y + a["b"] if axis == "last" else y + a["b"][:, None]
    return predict


FLIPPED = ("le noyau est retourné : c'est la convolution des mathématiciens. En apprentissage profond (et dans "
           "F.conv2d), on calcule une corrélation croisée : y[n, k, i, j] = b[k] + Σ w[k, c, u, v] · x[n, c, i + u, j + v].")
BIAS_AXIS = ("le biais est ajouté sur le mauvais axe : b[k] s'ajoute à toute la carte k de la sortie (N, K, H', W'), "
             "soit b[:, None, None] (forme (K, 1, 1)) ou b.reshape(1, K, 1, 1).")


def _conv_mistakes(padding: bool) -> tuple[Mistake, ...]:
    mistakes = (
        Mistake(output=0, message=FLIPPED,
                predict=lambda a, e: _conv_oracle(a, w=a["w"].flip(-2, -1))),
        Mistake(output=0, message=BIAS_AXIS, predict=_bias_on("last")),
        Mistake(output=0, message=BIAS_AXIS, predict=_bias_on("rows")),
        Mistake(output=0, message="le biais b est oublié : y[n, k] = b[k] + …",
                predict=lambda a, e: e[0] - a["b"][:, None, None]),
    )
    if padding:
        mistakes += (Mistake(output=0, message="le rembourrage est ignoré : entourez x de `padding` zéros sur chaque "
                                               "bord (F.pad) avant d'extraire les fenêtres ; la sortie a alors "
                                               "H + 2·padding − kh + 1 lignes.",
                             predict=lambda a, e: _conv_oracle(a, padding=0)),)
    return mistakes


CONV2D_NAIVE = FunctionSpec(
    name="conv2d_naive", points=1, arguments=("x", "w", "b"), outputs=("conv2d_naive(x, w, b)",),
    cases=_with_random(NAIVE, _conv, padding=False), oracle=lambda a: (_conv_oracle(a),), error_hints=CONV_HINTS,
    policy=replace(LOOPS_ALLOWED, forbidden=(*CONV, *UNFOLD)), mistakes=_conv_mistakes(padding=False),
)

IM2COL = FunctionSpec(
    name="im2col", points=2, arguments=("x", "kh", "kw", "padding"), outputs=("im2col(x, kh, kw, padding)",),
    cases=_with_random(CONVOLUTIONS, _windows), oracle=lambda a: (_unfold(a),), error_hints=CONV_HINTS,
    policy=replace(VECTORISED, forbidden=(*UNFOLD, *CONV)),
    mistakes=(
        Mistake(output=0, message="ordre des lignes d'une fenêtre : F.unfold range la fenêtre (c, i, j), canal d'abord, "
                                  "puis ligne, puis colonne ; ici le canal vient en dernier.",
                predict=lambda a, e: _patch_order(a, "ijc")),
        Mistake(output=0, message="ordre des lignes d'une fenêtre : F.unfold range la fenêtre (c, i, j), canal, "
                                  "puis ligne, puis colonne ; ici la colonne passe avant la ligne.",
                predict=lambda a, e: _patch_order(a, "cji")),
        Mistake(output=0, message="ordre des fenêtres : la colonne l = i · W' + j parcourt les positions ligne par "
                                  "ligne (comme reshape), pas colonne par colonne.",
                predict=lambda a, e: _positions_transposed(a)),
        Mistake(output=0, message="le rembourrage est ignoré : entourez x de `padding` zéros sur chaque bord (F.pad) "
                                  "avant d'extraire les fenêtres.", predict=lambda a, e: _unfold(a, padding=0)),
        Mistake(output=0, message="kh et kw sont échangés : une fenêtre a kh lignes et kw colonnes.",
                predict=lambda a, e: _unfold(a, kh=a["kw"], kw=a["kh"])),
    ),
)

CONV2D_FORWARD = FunctionSpec(
    name="conv2d_forward", points=2, arguments=("x", "w", "b", "padding"),
    outputs=("conv2d_forward(x, w, b, padding)",), cases=_with_random(CONVOLUTIONS, _conv),
    oracle=lambda a: (_conv_oracle(a),), error_hints=CONV_HINTS,
    policy=replace(VECTORISED, forbidden=(*CONV, *UNFOLD)), mistakes=_conv_mistakes(padding=True),
)


def _dl_w_per_example(a: dict) -> torch.Tensor:
    return torch.stack([_conv_gradients({**a, "x": a["x"][n:n + 1], "dl_y": a["dl_y"][n:n + 1]})[0]
                        for n in range(len(a["x"]))])


def _col2im_overwritten(a: dict) -> torch.Tensor:
    """dl_x when each window's gradient is written over (`=`) what the windows before it put there."""
    n, c, h, w = a["x"].shape
    k, _, kh, kw = a["w"].shape
    p, (ho, wo) = a["padding"], a["dl_y"].shape[2:]
    dl_cols = torch.einsum("kcuv,nkij->ncuvij", a["w"], a["dl_y"])
    dl_xp = torch.zeros(n, c, h + 2 * p, w + 2 * p, dtype=a["x"].dtype)
    for u in range(kh):
        for v in range(kw):
            dl_xp[:, :, u:u + ho, v:v + wo] = dl_cols[:, :, u, v]
    return dl_xp[:, :, p:p + h, p:p + w]


def _dl_x_padded(a: dict) -> torch.Tensor:
    p = a["padding"]
    padded = F.pad(a["x"], (p, p, p, p))
    return gradients(lambda x_: (F.conv2d(x_, a["w"]) * a["dl_y"]).sum(), padded)[0]


def _full_convolution_square(a: dict) -> torch.Tensor:
    """dl_x as a full convolution padded by kh − 1 − p on both axes, right for square kernels only."""
    kh, p = a["w"].shape[2], a["padding"]
    return F.conv2d(a["dl_y"], a["w"].flip(-2, -1).transpose(0, 1), padding=kh - 1 - p)


CONV2D_BACKWARD = FunctionSpec(
    name="conv2d_backward", points=3, arguments=("dl_y", "x", "w", "padding"), outputs=("dl_w", "dl_b", "dl_x"),
    cases=_with_random(GRADIENTS, _conv_gradient), oracle=_conv_gradients, error_hints=CONV_HINTS,
    policy=replace(VECTORISED, forbidden=(*CONV_GRAD, *CONV_TRANSPOSE, *CONV, *UNFOLD, *FOLD)),
    mistakes=(
        Mistake(output=0, message="dl_w n'est pas sommé sur le lot : chaque exemple donne un gradient de w, et "
                                  "dl_w, de la forme de w, est leur somme (dim=0).",
                predict=lambda a, e: _dl_w_per_example(a)),
        Mistake(output=0, message="dl_w est une moyenne sur le lot : sommez (dl_y contient déjà le facteur 1/N de la "
                                  "perte).", predict=lambda a, e: e[0] / len(a["x"])),
        Mistake(output=0, message="dl_w a ses deux premiers axes échangés : il a la forme de w, (K, C, kh, kw).",
                predict=lambda a, e: e[0].transpose(0, 1)),
        Mistake(output=1, message="dl_b n'est sommé que sur le lot : b[k] s'ajoute à chaque position de la carte k, "
                                  "sommez aussi sur l'espace, dl_b = dl_y.sum(dim=(0, 2, 3)).",
                predict=lambda a, e: a["dl_y"].sum(dim=0)),
        Mistake(output=1, message="dl_b n'est sommé que sur l'espace : sommez aussi sur le lot, "
                                  "dl_b = dl_y.sum(dim=(0, 2, 3)).", predict=lambda a, e: a["dl_y"].sum(dim=(2, 3))),
        Mistake(output=1, message="dl_b est une moyenne : b[k] s'ajoute à chaque position de chaque exemple, "
                                  "dl_b = dl_y.sum(dim=(0, 2, 3)).",
                predict=lambda a, e: a["dl_y"].mean(dim=(0, 2, 3))),
        Mistake(output=2, message="dl_x sans la transposée : le gradient d'une fenêtre est w.reshape(K, -1).T @ dl_y "
                                  "(en convolution pleine : le noyau retourné et ses axes K et C échangés).",
                predict=lambda a, e: _conv_gradients(a, w=a["w"].transpose(0, 1))[2]),
        Mistake(output=2, message="dl_x sans retourner le noyau : en convolution pleine, dl_x se calcule avec le noyau "
                                  "retourné (flip sur ses deux derniers axes) et ses axes K et C échangés.",
                predict=lambda a, e: _conv_gradients(a, w=a["w"].flip(-2, -1))[2]),
        Mistake(output=2, message="col2im écrase au lieu d'ajouter : les fenêtres se recouvrent, et un pixel reçoit la "
                                  "somme des gradients de toutes les fenêtres qui le contiennent (index_add_, ou += "
                                  "sur des tranches).", predict=lambda a, e: _col2im_overwritten(a)),
        Mistake(output=2, message="dl_x a la forme de l'entrée rembourrée : retirez le rembourrage, "
                                  "dl_x[:, :, p:p + H, p:p + W].", predict=lambda a, e: _dl_x_padded(a)),
        Mistake(output=2, message="avec un noyau non carré, la convolution pleine se rembourre de kh − 1 − p lignes et "
                                  "de kw − 1 − p colonnes (un seul argument padding ne suffit pas : F.pad prend les "
                                  "quatre bords).", predict=lambda a, e: _full_convolution_square(a)),
    ),
)

# ------------------------------------------------------------------ max-pooling

POOLINGS = [("float64, lot 2, 3 canaux 4×6", F64, 2, 3, 4, 6), ("float32, lot de taille 1, 2 canaux 6×4", F32, 1, 2, 6, 4),
            ("float64, lot 3, 1 canal 2×2", F64, 3, 1, 2, 2), ("float64, lot 2, 2 canaux 8×8", F64, 2, 2, 8, 8)]


def _pool_input(gen: torch.Generator, n, c, h, w) -> dict:
    return {"x": randn(gen, n, c, h, w)}  # normal draws: no tie in a window


def _pool_gradient(gen: torch.Generator, n, c, h, w) -> dict:
    x = randn(gen, n, c, h, w)
    return {"dl_y": randn(gen, n, c, h // 2, w // 2), "argmax": F.max_pool2d(x, 2, return_indices=True)[1],
            "x_shape": (n, c, h, w)}


def _local(a: dict, e: tuple) -> torch.Tensor:
    w = a["x"].shape[3]
    return ((e[1] // w) % 2 * 2 + e[1] % w % 2).to(torch.float64)


def _plane_offsets(shape: tuple) -> torch.Tensor:
    n, c, h, w = shape
    return (torch.arange(n * c) * h * w).reshape(n, c, 1, 1)


def _windows_of_rows(a: dict) -> torch.Tensor:
    n, c, h, w = a["x"].shape
    return a["x"].reshape(n, c, h // 2, w // 2, 4).max(dim=-1).values


def _unpooled(a: dict, how: str) -> torch.Tensor:
    n, c, h, w = a["x_shape"]
    dl_y = a["dl_y"]
    if how == "spread":
        return dl_y.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    if how == "quarter":
        return dl_y.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3) / 4
    dl_x = torch.zeros(n, c, h, w, dtype=dl_y.dtype)
    if how == "corner":
        dl_x[:, :, ::2, ::2] = dl_y
    else:  # "flat": indices taken in the whole tensor, not in each H×W plane
        dl_x.view(-1).scatter_(0, a["argmax"].reshape(-1), dl_y.reshape(-1))
    return dl_x


MAXPOOL2_FORWARD = FunctionSpec(
    name="maxpool2_forward", points=2, arguments=("x",), outputs=("y", "argmax"), cases=table(POOLINGS, _pool_input),
    oracle=lambda a: F.max_pool2d(a["x"], 2, return_indices=True),
    policy=replace(VECTORISED, forbidden=POOL), error_hints=(INDEX_HINT, *COMMON_HINTS),
    mistakes=(
        Mistake(output=0, message="c'est la moyenne de chaque fenêtre (average pooling) : le max-pooling garde son "
                                  "maximum.", predict=lambda a, e: F.avg_pool2d(a["x"], 2)),
        Mistake(output=0, message="les fenêtres ne sont pas les blocs 2×2 : x.reshape(N, C, H // 2, W // 2, 4) groupe "
                                  "quatre pixels voisins d'une même ligne ; passez par reshape(N, C, H // 2, 2, W // 2, 2) "
                                  "puis permute.", predict=lambda a, e: _windows_of_rows(a)),
        Mistake(output=1, message="les indices doivent être des entiers int64 (torch.long), comme ceux de "
                                  "F.max_pool2d : convertissez-les avec .long().",
                predict=lambda a, e: e[1].to(torch.float64)),
        Mistake(output=1, message="argmax donne la position dans la fenêtre (0 à 3) : il faut l'indice du maximum dans "
                                  "l'image H × W, ligne · W + colonne (de 0 à H·W − 1).", predict=_local),
        Mistake(output=1, message="argmax compte les pixels colonne par colonne : l'indice est ligne · W + colonne.",
                predict=lambda a, e: e[1] % a["x"].shape[3] * a["x"].shape[2] + e[1] // a["x"].shape[3]),
        Mistake(output=1, message="argmax est un indice dans tout le tenseur : il faut l'indice dans l'image H × W de "
                                  "chaque (exemple, canal), de 0 à H·W − 1.",
                predict=lambda a, e: e[1] + _plane_offsets(tuple(a["x"].shape))),
    ),
)

MAXPOOL2_BACKWARD = FunctionSpec(
    name="maxpool2_backward", points=2, arguments=("dl_y", "argmax", "x_shape"), outputs=("dl_x",),
    cases=table(POOLINGS, _pool_gradient),
    oracle=lambda a: (F.max_unpool2d(a["dl_y"], a["argmax"], 2, output_size=a["x_shape"][2:]),),
    policy=replace(VECTORISED, forbidden=(*POOL, *UNPOOL)), error_hints=(INDEX_HINT, *COMMON_HINTS),
    mistakes=(
        Mistake(output=0, message="le gradient est copié sur toute la fenêtre : seul le maximum (argmax) a influé sur "
                                  "la sortie, les trois autres pixels reçoivent 0.",
                predict=lambda a, e: _unpooled(a, "spread")),
        Mistake(output=0, message="le gradient est divisé par 4 sur la fenêtre : c'est celui de la moyenne (average "
                                  "pooling) ; au max-pooling, le maximum reçoit tout dl_y, les autres 0.",
                predict=lambda a, e: _unpooled(a, "quarter")),
        Mistake(output=0, message="le gradient va toujours au coin haut-gauche de la fenêtre : envoyez-le à la position "
                                  "argmax du maximum.", predict=lambda a, e: _unpooled(a, "corner")),
        Mistake(output=0, message="les indices argmax comptent dans chaque image H × W, pas dans tout le tenseur : "
                                  "aplatissez en (N, C, H·W) et dispersez sur la dernière dimension "
                                  "(scatter_(2, …)).", predict=lambda a, e: _unpooled(a, "flat")),
    ),
)

# ------------------------------------------------------------------ the CNN

# (label, dtype, N, H, W, filters, classes)
NETWORKS = [("float64, lot 3, images 1×4×6, 3 filtres, 4 classes", F64, 3, 4, 6, 3, 4),
            ("float32, lot 4, images 1×6×4, 2 filtres, 3 classes", F32, 4, 6, 4, 2, 3),
            ("float64, lot de taille 1, image 1×4×4, 2 filtres, 5 classes", F64, 1, 4, 4, 2, 5)]
KEYS = ("w1", "b1", "w2", "b2")
CACHE = ("s1", "x1", "x2", "argmax", "s2")


def _network(p: dict, x: torch.Tensor, relu=torch.relu, pool_first: bool = False, channels_last: bool = False) -> dict:
    """The oracle's forward pass: the cache the notebook asks for."""
    s1 = F.conv2d(x, p["w1"], p["b1"], padding=1)
    x1 = relu(s1)
    x2, argmax = F.max_pool2d(s1 if pool_first else x1, 2, return_indices=True)
    x2 = relu(x2) if pool_first else x2
    flat = x2.permute(0, 2, 3, 1) if channels_last else x2
    return {"s1": s1, "x1": x1, "x2": x2, "argmax": argmax, "s2": F.linear(flat.reshape(len(x), -1), p["w2"], p["b2"])}


def _network_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, n, h, w, filters, classes in NETWORKS:
        x = randn(gen, n, 1, h, w)
        params = {"w1": randn(gen, filters, 1, 3, 3, scale=0.7), "b1": randn(gen, filters, scale=0.3),
                  "w2": randn(gen, classes, filters * (h // 2) * (w // 2), scale=0.5), "b2": randn(gen, classes, scale=0.3)}
        # channel 0 all negative before ReLU: its pooling windows are all zeros after it
        params["b1"][0] = -(params["w1"][0].abs().sum() * x.abs().max()) - 1
        inputs = {"params": params, "x": x, "y": labels(gen, n, classes), "cache": _network(params, x)}
        cases.append(Case(label=label, dtype=dtype, inputs=tree_map(
            lambda v: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v, inputs)))
    return cases


def _relu_without_derivative(s: torch.Tensor) -> torch.Tensor:
    """ReLU's values, with the identity's derivative: a backward pass that forgets relu'."""
    return s + (torch.relu(s) - s).detach()


def _cnn_gradients(a: dict, relu=torch.relu) -> tuple:
    def mean_loss(*values):
        return F.cross_entropy(_network(dict(zip(KEYS, values)), a["x"], relu)["s2"], a["y"])
    return (dict(zip(KEYS, gradients(mean_loss, *(a["params"][k] for k in KEYS)))),)


CNN_POLICY = replace(VECTORISED, forbidden=(*CONV, *UNFOLD, *POOL))

CNN_FORWARD = FunctionSpec(
    name="cnn_forward", points=2, arguments=("params", "x"), outputs=("cache",), cases=_network_cases,
    oracle=lambda a: (_network(a["params"], a["x"]),), policy=CNN_POLICY,
    error_hints=(("cannot be multiplied", "produit impossible : aplatissez x2 en (N, F·H/2·W/2) avant la couche "
                                          "linéaire, s2 = x2.reshape(N, -1) @ w2.T + b2."), *CONV_HINTS),
    mistakes=(  # ReLU forgotten gives the argmax of pooling first: that mistake is the one looked for first
        Mistake(output='cache["argmax"]', message="le max-pooling est pris avant ReLU : les valeurs de x2 sont les "
                                                  "mêmes, mais pas les indices argmax là où toute une fenêtre est "
                                                  "négative ; appliquez ReLU d'abord, x2, argmax = maxpool2_forward(x1).",
                predict=lambda a, e: _network(a["params"], a["x"], pool_first=True)["argmax"]),
        Mistake(output=None, message="ReLU est oubliée : x1 = relu(s1), puis le max-pooling de x1.",
                predict=lambda a, e: (_network(a["params"], a["x"], relu=lambda s: s),)),
        Mistake(output='cache["s2"]', message="x2 est aplati dans le mauvais ordre : x2.reshape(N, -1) range chaque "
                                              "exemple (canal, ligne, colonne).",
                predict=lambda a, e: _network(a["params"], a["x"], channels_last=True)["s2"]),
    ),
)

CNN_BACKWARD = FunctionSpec(
    name="cnn_backward", points=3, arguments=("params", "x", "y", "cache"), outputs=("grads",),
    cases=_network_cases, oracle=_cnn_gradients,
    policy=replace(CNN_POLICY, forbidden=(*CNN_POLICY.forbidden, *UNPOOL, *CONV_TRANSPOSE, *CONV_GRAD, *FOLD)),
    error_hints=(("cannot be multiplied", "produit impossible : dl_s2 est (N, 10), w2 (10, F·H/2·W/2) et x2 aplati "
                                          "(N, F·H/2·W/2) ; dl_w2 = dl_s2.T @ x2 aplati."), *CONV_HINTS),
    mistakes=(
        *layer_gradients('grads["w2"]', 'grads["b2"]', dl_w=lambda e: e[0]["w2"], dl_b=lambda e: e[0]["b2"],
                         batch=lambda a: len(a["x"])),
        Mistake(output='grads["b1"]', message='`grads["b1"]` : sommez sur le lot, ne faites pas la moyenne.',
                predict=lambda a, e: e[0]["b1"] / len(a["x"])),
        Mistake(output=None, message="le gradient n'est pas divisé par la taille du lot N : la perte est une moyenne, "
                                     "dl_s2 = (softmax(s2) − onehot(y)) / N.",
                predict=lambda a, e: ({k: v * len(a["x"]) for k, v in e[0].items()},)),
        Mistake(output=None, message="gradient divisé deux fois par N : dl_s2 = (softmax(s2) − onehot(y)) / N contient "
                                     "déjà le facteur de la moyenne.",
                predict=lambda a, e: ({k: v / len(a["x"]) for k, v in e[0].items()},)),
        Mistake(output=None, message="la dérivée de ReLU est oubliée : après le max-pooling arrière, "
                                     "dl_s1 = dl_x1 · (s1 > 0).",
                predict=lambda a, e: _cnn_gradients(a, relu=_relu_without_derivative)),
    ),
)

# ------------------------------------------------------------------ training: `training.py`

ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[
    CONV2D_NAIVE, IM2COL, CONV2D_FORWARD, CONV2D_BACKWARD, MAXPOOL2_FORWARD, MAXPOOL2_BACKWARD, CNN_FORWARD,
    CNN_BACKWARD, training.SPEC])
grade = ASSIGNMENT.grade
