"""Checks of TP 13, named by the hidden tests of `source/tp13`: specs only (see `autograder.specs`).

Oracles: `F.batch_norm` in training mode, its autograd and its running buffers, `F.batch_norm` in eval
mode, `x * mask / (1 - p)` and its autograd, `torch.optim.Adam`'s update (`torch.optim.adam.adam`) over
several steps, and statistics for `make_mask`; the reference is never used. The cases hold, by
construction, what exposes each catalogued mistake: batches that are not square (statistics over the
wrong dimension), a batch of two (the unbiased variance doubles), a large eps (eps outside the square
root), gamma and beta that differ, a backward pass whose `xhat` and `inv_std` the grader computes from `x`
in the case's dtype (two passes), batches of three or more there (at two, `dl_x` is about 0 whatever the
code), float32 inputs of mean 10 at std 1 and N ≥ 8 (the one-pass variance stays right there); dropout
probabilities 0.2 and 0.7 (1/p and 1/(1 − p) differ, an inverted probability shows), masks with kept and
dropped units; Adam with a changing learning rate, weight decay, and gradients of 1e-3 (eps inside the
square root), compared after every step. No batch of one in training mode: F.batch_norm refuses it
(ValueError); `batchnorm_eval` and dropout have one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch.optim.adam import adam

from autograder.assignment import Assignment
from autograder.french import percent
from autograder.specs import Case, FunctionSpec, Mistake, SequenceSpec, StatisticalSpec
from autograder.toolkit import (COMMON_HINTS, F32, F64, by_hand, cast, forbidden, forbidden_ops, gradients,
                                randn, return_order, seeded, two_sided)
from autograder.tp13 import training
from autograder.verdict import Remark

VECTORISED = by_hand(loop_message="boucle Python détectée : le TP demande des opérations vectorisées sur tout le lot")
LOOPS_ALLOWED = replace(VECTORISED, loops="allowed")  # a loop over the parameters of a dict is fine
NORM_OPS = {"batch_norm": "F.batch_norm (ou nn.BatchNorm1d)", "native_batch_norm": "torch.native_batch_norm",
            "_native_batch_norm_legit": "torch._native_batch_norm_legit",
            "_batch_norm_with_update": "torch._batch_norm_with_update", "layer_norm": "F.layer_norm",
            "instance_norm": "F.instance_norm", "group_norm": "F.group_norm"}
NORM = forbidden_ops(NORM_OPS, "écrivez la normalisation vous-même (mean, var, sqrt… sont permis)")
DROPOUT = forbidden_ops({"dropout": "F.dropout (ou nn.Dropout)", "dropout_": "F.dropout(…, inplace=True)",
                         "feature_dropout": "F.dropout1d/2d", "alpha_dropout": "F.alpha_dropout",
                         "native_dropout": "torch.native_dropout"},
                        "écrivez le masque et la mise à l'échelle vous-même")
OPTIM = forbidden("torch.optim", "écrivez la mise à jour vous-même", "module:torch.optim")
DIMENSION_HINT = ("must match the size", "formes incompatibles : les statistiques se calculent sur le lot, pour chaque "
                                         "neurone (dim=0) : mean(dim=0) a la forme (D,) et se diffuse sur (N, D).")
HINTS = (DIMENSION_HINT, *COMMON_HINTS)

# ------------------------------------------------------------------ batch normalisation: inputs and oracles

# (label, dtype, N, D, mean, std, eps): never square (statistics over the wrong dimension do not broadcast
# into a right-looking answer), a batch of two, a large eps, float32 of mean 10 at std 1 with N >= 8
FORWARDS = [("float64, lot 6, 5 neurones", F64, 6, 5, 0.0, 1.0, 1e-5),
            ("float32, lot 8, 3 neurones, entrées de moyenne 10", F32, 8, 3, 10.0, 1.0, 1e-5),
            ("float64, lot de 2, 4 neurones", F64, 2, 4, 1.0, 2.0, 1e-5),
            ("float64, lot 5, 7 neurones, petites variances et eps = 0,1", F64, 5, 7, -2.0, 0.3, 0.1),
            ("float32, lot 16, 6 neurones", F32, 16, 6, 0.5, 2.0, 1e-3)]
# the backward pass from N = 3 (at N = 2 each column normalises to ±1 and dl_x is about 0 whatever the code)
BACKWARDS = [("float64, lot 5, 4 neurones", F64, 5, 4, 0.0, 1.0, 1e-5),
             ("float32, lot 8, 6 neurones, entrées de moyenne 10", F32, 8, 6, 10.0, 1.0, 1e-5),
             ("float64, lot 3, 5 neurones, eps = 0,1", F64, 3, 5, 1.0, 0.5, 0.1),
             ("float32, lot 4, 3 neurones, entrées de moyenne 10 et d'écart-type 0,1", F32, 4, 3, 10.0, 0.1, 1e-5),
             ("float64, lot 12, 2 neurones", F64, 12, 2, -1.0, 3.0, 1e-5)]


def _batch(gen: torch.Generator, n: int, d: int, mean: float, std: float) -> torch.Tensor:
    """A batch whose columns have their own means and spreads around `mean` and `std`."""
    return mean + randn(gen, 1, d, scale=std) + randn(gen, n, d) * std * (0.5 + torch.rand(1, d, generator=gen,
                                                                                      dtype=torch.float64))


def _affine(gen: torch.Generator, d: int) -> tuple[torch.Tensor, torch.Tensor]:
    """gamma and beta that differ (swapped, they give another answer), gamma away from 0 and 1."""
    return 1.5 + randn(gen, d, scale=0.3), randn(gen, d, scale=0.5) - 0.5


def _forward_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, n, d, mean, std, eps in FORWARDS:
        x = _batch(gen, n, d, mean, std)
        gamma, beta = _affine(gen, d)
        cases.append(Case(label=label, dtype=dtype, inputs={"x": x.to(dtype), "gamma": gamma.to(dtype),
                                                             "beta": beta.to(dtype), "eps": eps}))
    return cases


def _statistics(x: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(xhat, inv_std) of `x` in its own dtype, by two passes: what the student's forward pass gives."""
    centred = x - x.mean(dim=0)
    inv_std = 1 / torch.sqrt((centred ** 2).mean(dim=0) + eps)
    return centred * inv_std, inv_std


def _backward_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, n, d, mean, std, eps in BACKWARDS:
        x = _batch(gen, n, d, mean, std).to(dtype)
        gamma = (1.5 + randn(gen, d, scale=0.3)).to(dtype)
        xhat, inv_std = _statistics(x, eps)
        cases.append(Case(label=label, dtype=dtype, inputs={
            "dl_y": randn(gen, n, d).to(dtype), "gamma": gamma, "xhat": xhat, "inv_std": inv_std, "x": x, "eps": eps}))
    return cases


def _bn(a: dict, x: torch.Tensor | None = None) -> tuple:
    """F.batch_norm in training mode: (y, xhat, inv_std)."""
    x = a["x"] if x is None else x
    var = torch.var(x, dim=0, unbiased=False)
    return (F.batch_norm(x, None, None, a["gamma"], a["beta"], training=True, eps=a["eps"]),
            F.batch_norm(x, None, None, training=True, eps=a["eps"]), 1 / torch.sqrt(var + a["eps"]))


def _bn_with(a: dict, *, var: torch.Tensor | None = None, eps_outside: bool = False, dim: int = 0) -> tuple:
    """The forward pass of a common mistake: another variance, eps outside the square root, another dimension."""
    x = a["x"]
    mean = x.mean(dim=dim, keepdim=True)
    var = torch.var(x, dim=dim, unbiased=False, keepdim=True) if var is None else var
    inv_std = 1 / (var.sqrt() + a["eps"]) if eps_outside else 1 / torch.sqrt(var + a["eps"])
    xhat = (x - mean) * inv_std
    return a["gamma"] * xhat + a["beta"], xhat, inv_std.squeeze(dim)


def _bn_gradients(a: dict) -> tuple:
    """(dl_x, dl_gamma, dl_beta) of sum(F.batch_norm(x, gamma, beta) · dl_y), by autograd."""
    beta = torch.zeros_like(a["gamma"])
    return gradients(lambda x, g, b: (F.batch_norm(x, None, None, g, b, training=True, eps=a["eps"]) * a["dl_y"]).sum(),
                     a["x"], a["gamma"], beta)


def _dl_xhat(a: dict) -> torch.Tensor:
    return a["dl_y"] * a["gamma"]


BATCHNORM_FORWARD = FunctionSpec(
    name="batchnorm_forward", points=2, arguments=("x", "gamma", "beta", "eps"), outputs=("y", "xhat", "inv_std"),
    cases=_forward_cases, oracle=_bn, policy=replace(VECTORISED, forbidden=NORM), error_hints=HINTS,
    mistakes=(
        Mistake(output=None, message="variance non biaisée (divisée par N − 1) : la normalisation de la batch norm "
                                     "divise par N (x.var(dim=0, unbiased=False), ou la moyenne des carrés des écarts).",
                predict=lambda a, e: _bn_with(a, var=torch.var(a["x"], dim=0, keepdim=True))),
        Mistake(output=None, message="eps est hors de la racine : inv_std = 1 / √(σ² + ε), pas 1 / (√σ² + ε).",
                predict=lambda a, e: _bn_with(a, eps_outside=True)),
        Mistake(output=None, message="statistiques sur la mauvaise dimension : la moyenne et la variance se calculent "
                                     "sur le lot (dim=0), pour chaque neurone, pas sur les neurones d'un exemple.",
                predict=lambda a, e: _bn_with(a, dim=1)),
        Mistake(output=0, message="γ et β sont échangés : y = γ · xhat + β (γ multiplie, β s'ajoute).",
                predict=lambda a, e: a["beta"] * e[1] + a["gamma"]),
        Mistake(output=0, message="y oublie γ et β : y = γ · xhat + β.", predict=lambda a, e: e[1]),
        Mistake(output=2, message="inv_std est l'inverse de l'écart-type, 1 / √(σ² + ε), pas l'écart-type.",
                predict=lambda a, e: 1 / e[2]),
        Mistake(output=1, message="xhat est centré mais pas réduit : xhat = (x − μ) · inv_std.",
                predict=lambda a, e: a["x"] - a["x"].mean(dim=0)),
    ),
)

BATCHNORM_BACKWARD = FunctionSpec(
    name="batchnorm_backward", points=3, arguments=("dl_y", "gamma", "xhat", "inv_std"),
    outputs=("dl_x", "dl_gamma", "dl_beta"), cases=_backward_cases, oracle=_bn_gradients,
    policy=replace(VECTORISED, forbidden=NORM), error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="dl_x oublie que la moyenne et la variance du lot dépendent de x : dl_x = γ · inv_std "
                                  "· dl_y n'est que le premier terme ; retirez aussi la moyenne de dl_xhat et celle de "
                                  "dl_xhat · xhat, multipliée par xhat.",
                predict=lambda a, e: _dl_xhat(a) * a["inv_std"]),
        Mistake(output=0, message="dl_x oublie le chemin de la variance : après la moyenne de dl_xhat, retirez aussi "
                                  "xhat · moyenne(dl_xhat · xhat), sur le lot.",
                predict=lambda a, e: a["inv_std"] * (_dl_xhat(a) - _dl_xhat(a).mean(dim=0))),
        Mistake(output=0, message="dl_x oublie le chemin de la moyenne : retirez aussi la moyenne de dl_xhat sur le lot.",
                predict=lambda a, e: a["inv_std"] * (_dl_xhat(a) - a["xhat"] * (_dl_xhat(a) * a["xhat"]).mean(dim=0))),
        Mistake(output=0, message="dl_x oublie γ : le gradient de xhat est dl_xhat = γ · dl_y.",
                predict=lambda a, e: e[0] / a["gamma"]),
        Mistake(output=1, message="dl_gamma n'est pas sommé sur le lot : γ sert à chaque exemple, "
                                  "dl_gamma = (dl_y · xhat).sum(dim=0).", predict=lambda a, e: a["dl_y"] * a["xhat"]),
        Mistake(output=1, message="dl_gamma est une moyenne : sommez sur le lot, dl_gamma = (dl_y · xhat).sum(dim=0).",
                predict=lambda a, e: e[1] / len(a["dl_y"])),
        Mistake(output=2, message="dl_beta n'est pas sommé sur le lot : dl_beta = dl_y.sum(dim=0).",
                predict=lambda a, e: a["dl_y"]),
        Mistake(output=2, message="dl_beta est une moyenne : sommez sur le lot, dl_beta = dl_y.sum(dim=0).",
                predict=lambda a, e: e[2] / len(a["dl_y"])),
        *return_order(("dl_x", "dl_gamma", "dl_beta")),
    ),
)

# ------------------------------------------------------------------ running statistics: a sequence of calls

# (label, dtype, N, D, momentum, mean, std, steps, start): small batches (N − 1 and N differ), momentum far from
# 1/2 (the weights swapped show), statistics starting where torch starts them or elsewhere
RUNNING = [("float64, lots de 4, 5 neurones, moment 0,1, 3 appels", F64, 4, 5, 0.1, 0.0, 1.0, 3, "torch"),
           ("float32, lots de 8, 3 neurones, entrées de moyenne 10, moment 0,3, 3 appels", F32, 8, 3, 0.3, 10.0, 1.0,
            3, "random"),
           ("float64, lots de 2, 4 neurones, moment 0,2, 2 appels", F64, 2, 4, 0.2, 2.0, 2.0, 2, "random")]


def _running_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, n, d, momentum, mean, std, count, start in RUNNING:
        if start == "torch":
            stats = torch.zeros(d, dtype=torch.float64), torch.ones(d, dtype=torch.float64)
        else:
            stats = randn(gen, d) + mean, 0.5 + torch.rand(d, generator=gen, dtype=torch.float64) * std ** 2
        steps = [{"x": _batch(gen, n, d, mean, std).to(dtype), "momentum": momentum} for _ in range(count)]
        cases.append(Case(label=label, dtype=dtype, inputs={"running_mean": stats[0].to(dtype),
                                                            "running_var": stats[1].to(dtype), "steps": steps}))
    return cases


def _running(a: dict, update=None) -> tuple:
    """The running statistics after each call: F.batch_norm's buffers, or `update(mean, var, x, momentum)`."""
    mean, var = a["running_mean"].clone(), a["running_var"].clone()
    means, variances = [], []
    for step in a["steps"]:
        if update is None:
            F.batch_norm(step["x"], mean, var, training=True, momentum=step["momentum"])
        else:
            mean, var = update(mean, var, step["x"], step["momentum"])
        means.append(mean.clone())
        variances.append(var.clone())
    return means, variances


def _weighted(biased: bool = False, swapped: bool = False, std: bool = False):
    def update(mean, var, x, momentum):
        batch_var = torch.var(x, dim=0, unbiased=not biased)
        batch_var = batch_var.sqrt() if std else batch_var
        w = 1 - momentum if swapped else momentum
        return (1 - w) * mean + w * x.mean(dim=0), (1 - w) * var + w * batch_var
    return update


UPDATE_RUNNING_STATS = SequenceSpec(
    name="update_running_stats", points=2, arguments=("running_mean", "running_var", "x", "momentum"),
    state=("running_mean", "running_var"), compared=("running_mean", "running_var"),
    in_place=("running_mean", "running_var"), cases=_running_cases, oracle=_running,
    policy=replace(VECTORISED, forbidden=NORM), error_hints=HINTS,
    rebound_message="les statistiques {state} doivent être modifiées en place.",
    mistakes=(
        Mistake(output=1, message="la variance courante doit être la variance non biaisée du lot (divisée par N − 1), "
                                  "comme celle que F.batch_norm garde ; la normalisation, elle, utilise la variance "
                                  "biaisée.", predict=lambda a, e: _running(a, _weighted(biased=True))[1]),
        Mistake(output=None, message="les poids du moment sont échangés : la nouvelle statistique pèse `momentum`, "
                                     "l'ancienne 1 − momentum (la convention de torch).",
                predict=lambda a, e: _running(a, _weighted(swapped=True))),
        Mistake(output=None, message="les statistiques sont remplacées par celles du lot : faites la moyenne mobile, "
                                     "(1 − momentum) · ancienne + momentum · statistique du lot.",
                predict=lambda a, e: _running(a, lambda m, v, x, mom: (x.mean(dim=0), torch.var(x, dim=0)))),
        Mistake(output=1, message="running_var reçoit l'écart-type du lot : c'est sa variance (non biaisée) qu'il faut.",
                predict=lambda a, e: _running(a, _weighted(std=True))[1]),
        Mistake(output=None, message="les statistiques ne changent pas : modifiez les tenseurs reçus en place "
                                     "(running_mean.mul_(…).add_(…), ou running_mean.copy_(…)) ; `running_mean = …` ne "
                                     "fait que renommer un nouveau tenseur dans la fonction.",
                predict=lambda a, e: ([a["running_mean"]] * len(a["steps"]), [a["running_var"]] * len(a["steps"]))),
    ),
)

# ------------------------------------------------------------------ batch norm at evaluation

# (label, dtype, N, D, mean, std, eps): a batch of one (batch statistics have no variance there), a large eps
EVALS = [("float64, lot 5, 3 neurones", F64, 5, 3, 0.0, 1.0, 1e-5),
         ("float32, lot 7, 4 neurones, entrées de moyenne 10", F32, 7, 4, 10.0, 1.0, 1e-5),
         ("float64, lot de taille 1, 6 neurones", F64, 1, 6, 1.0, 2.0, 1e-5),
         ("float64, lot 4, 2 neurones, eps = 0,1", F64, 4, 2, -1.0, 0.5, 0.1)]


def _eval_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, n, d, mean, std, eps in EVALS:
        x = _batch(gen, n, d, mean, std)
        gamma, beta = _affine(gen, d)
        running_mean = mean + randn(gen, d, scale=std)
        running_var = std ** 2 * (0.5 + torch.rand(d, generator=gen, dtype=torch.float64))
        cases.append(Case(label=label, dtype=dtype, inputs=cast({
            "x": x, "running_mean": running_mean, "running_var": running_var, "gamma": gamma, "beta": beta,
            "eps": eps}, dtype)))
    return cases


def _eval(a: dict) -> tuple:
    return (F.batch_norm(a["x"], a["running_mean"], a["running_var"], a["gamma"], a["beta"], training=False,
                         eps=a["eps"]),)


BATCHNORM_EVAL = FunctionSpec(
    name="batchnorm_eval", points=1, arguments=("x", "running_mean", "running_var", "gamma", "beta", "eps"),
    outputs=("batchnorm_eval(x, running_mean, running_var, gamma, beta, eps)",), cases=_eval_cases, oracle=_eval,
    policy=replace(VECTORISED, forbidden=NORM), error_hints=HINTS,
    mistakes=(
        Mistake(output=0, message="ce sont les statistiques du lot : en évaluation, on normalise avec les statistiques "
                                  "courantes running_mean et running_var (un exemple seul doit recevoir la même "
                                  "réponse que dans un lot).",
                predict=lambda a, e: a["gamma"] * (a["x"] - a["x"].mean(dim=0)) / torch.sqrt(
                    torch.var(a["x"], dim=0, unbiased=False) + a["eps"]) + a["beta"]),
        Mistake(output=0, message="eps est hors de la racine : divisez par √(running_var + ε).",
                predict=lambda a, e: a["gamma"] * (a["x"] - a["running_mean"]) / (a["running_var"].sqrt() + a["eps"])
                + a["beta"]),
        Mistake(output=0, message="running_var est une variance : divisez par sa racine, √(running_var + ε).",
                predict=lambda a, e: a["gamma"] * (a["x"] - a["running_mean"]) / (a["running_var"] + a["eps"])
                + a["beta"]),
        Mistake(output=0, message="γ et β sont échangés : y = γ · xhat + β.",
                predict=lambda a, e: a["beta"] * (e[0] - a["beta"]) / a["gamma"] + a["gamma"]),
    ),
)

# ------------------------------------------------------------------ dropout

MASKS = [("p = 0,2, forme (400, 50)", (400, 50), 0.2), ("p = 0,7, forme (60, 300)", (60, 300), 0.7)]


def _mask_properties(a: dict, mask: Any) -> list:
    shape, p = tuple(a["shape"]), a["p"]
    if type(mask) is not torch.Tensor:
        return ["make_mask doit renvoyer un tenseur torch."]
    if tuple(mask.shape) != shape:
        return [f"forme attendue {shape}, obtenue {tuple(mask.shape)}."]
    values = mask.to(torch.float64)
    if not bool(((values == 0) | (values == 1)).all()):
        if bool(torch.isclose(values.max(), torch.tensor(1 / (1 - p), dtype=torch.float64))):
            return ["le masque ne contient que des 0 et des 1 : la division par 1 − p se fait dans dropout_forward, "
                    "pas dans le masque."]
        return ["le masque ne doit contenir que des 0 (neurone éteint) et des 1 (neurone gardé)."]
    if bool((values == values[:1]).all()):
        return ["toutes les lignes du masque sont identiques : chaque exemple du lot doit avoir son propre tirage "
                "(tirez un tenseur de la forme entière)."]
    n, kept = values.numel(), values.mean().item()
    if not training.kept_as_drawn(kept, p, n):
        if training.kept_as_drawn(1 - kept, p, n):  # p taken for the probability of keeping
            return [Remark(text="p est la probabilité d'éteindre un neurone : ici {gardes} des neurones sont gardés "
                                "au lieu de {attendus} ; gardez-le quand le tirage uniforme est ≥ p (avec la "
                                "probabilité 1 − p).", values={"gardes": percent(kept, 0), "attendus": percent(1 - p, 0)})]
        return [Remark(text="{gardes} des neurones sont gardés au lieu de {attendus} environ : chacun doit être gardé "
                            "avec la probabilité 1 − p, indépendamment des autres.",
                       values={"gardes": percent(kept), "attendus": percent(1 - p, 0)})]
    return []


MAKE_MASK = StatisticalSpec(
    name="make_mask", points=1, arguments=("shape", "p", "generator"), cases=seeded(MASKS, "shape", "p"),
    properties=_mask_properties, false_rejection=len(MASKS) * two_sided(training.Z_KEPT),
    policy=replace(VECTORISED, forbidden=DROPOUT),
)

# (label, dtype, N, D, p): p = 0.2 and 0.7 (1/p differs from 1/(1 − p), and 1 − p from p)
DROPOUTS = [("float64, lot 6, 5 neurones, p = 0,2", F64, 6, 5, 0.2), ("float32, lot 4, 7 neurones, p = 0,7", F32, 4, 7, 0.7),
            ("float64, lot de taille 1, 8 neurones, p = 0,7", F64, 1, 8, 0.7)]


def _mask(gen: torch.Generator, n: int, d: int, p: float) -> torch.Tensor:
    """A mask of kept (1) and dropped (0) units, with at least one of each."""
    mask = (torch.rand(n, d, generator=gen, dtype=torch.float64) >= p).to(torch.float64)
    mask.view(-1)[0], mask.view(-1)[-1] = 1.0, 0.0
    return mask


def _dropout_cases(first: str):
    def cases(gen: torch.Generator) -> list[Case]:
        return [Case(label=label, dtype=dtype, inputs={first: randn(gen, n, d).to(dtype),
                                                       "mask": _mask(gen, n, d, p).to(dtype), "p": p})
                for label, dtype, n, d, p in DROPOUTS]
    return cases


def _scaling_mistakes(first: str) -> tuple[Mistake, ...]:
    return (
        Mistake(output=0, message="pas de mise à l'échelle : le dropout inversé divise les neurones gardés par 1 − p.",
                predict=lambda a, e: a[first] * a["mask"]),
        Mistake(output=0, message="mise à l'échelle par 1/p : p est la probabilité d'éteindre, on divise par la "
                                  "probabilité de garder, 1 − p.", predict=lambda a, e: a[first] * a["mask"] / a["p"]),
        Mistake(output=0, message="multiplié par 1 − p au lieu de divisé : y = x · mask / (1 − p).",
                predict=lambda a, e: a[first] * a["mask"] * (1 - a["p"])),
        Mistake(output=0, message="le masque est inversé : mask vaut 1 pour un neurone gardé, on multiplie par mask.",
                predict=lambda a, e: a[first] * (1 - a["mask"]) / (1 - a["p"])),
    )


DROPOUT_FORWARD = FunctionSpec(
    name="dropout_forward", points=1, arguments=("x", "mask", "p"), outputs=("dropout_forward(x, mask, p)",),
    cases=_dropout_cases("x"), oracle=lambda a: (a["x"] * a["mask"] / (1 - a["p"]),),
    policy=replace(VECTORISED, forbidden=DROPOUT), error_hints=COMMON_HINTS, mistakes=_scaling_mistakes("x"),
)

DROPOUT_BACKWARD = FunctionSpec(
    name="dropout_backward", points=1, arguments=("dl_y", "mask", "p"), outputs=("dl_x",),
    cases=_dropout_cases("dl_y"),
    oracle=lambda a: gradients(lambda x: (x * a["mask"] / (1 - a["p"]) * a["dl_y"]).sum(), torch.zeros_like(a["dl_y"])),
    policy=replace(VECTORISED, forbidden=DROPOUT), error_hints=COMMON_HINTS,
    mistakes=(*_scaling_mistakes("dl_y"),
              Mistake(output=0, message="le gradient passe partout : seuls les neurones gardés ont influé sur la sortie, "
                                        "dl_x = dl_y · mask / (1 − p).", predict=lambda a, e: a["dl_y"] / (1 - a["p"])),
              Mistake(output=0, message="dl_x oublie la mise à l'échelle du dropout inversé : dl_x = dl_y · mask / (1 − p).",
                      predict=lambda a, e: a["dl_y"])),
)

# ------------------------------------------------------------------ Adam: a sequence of calls

# (label, dtype, steps, gradient scale, betas, eps, weight decay): a changing learning rate in each; gradients of
# 1e-3 with eps 1e-6 (eps inside or outside the square root differ); weight decay (L2 or decoupled differ), in
# float64 and strong, with a large eps: there every catalogued mistake makes the parameters wrong enough that,
# through λ p in the gradient, m and v are wrong too, far beyond the tolerance on every draw (one score per copy)
ADAMS = [("float64, 6 pas, β = (0,9 ; 0,999), sans pénalité", F64, 6, 1.0, (0.9, 0.999), 1e-8, 0.0),
         ("float32, 5 pas, β = (0,8 ; 0,99), sans pénalité", F32, 5, 1.0, (0.8, 0.99), 1e-8, 0.0),
         ("float64, 5 pas, gradients de l'ordre de 1e-3, eps = 1e-6", F64, 5, 1e-3, (0.9, 0.999), 1e-6, 0.0),
         ("float64, 4 pas, β = (0,8 ; 0,99), eps = 1e-2, weight_decay = 1", F64, 4, 1.0, (0.8, 0.99), 1e-2, 1.0)]
RATES = (1e-2, 5e-3, 2e-2, 1e-2, 1e-3, 3e-3)


def _adam_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, dtype, count, scale, betas, eps, decay in ADAMS:
        params = {"w": randn(gen, 3, 4).to(dtype), "b": randn(gen, 3).to(dtype)}
        steps = [{"grads": {k: randn(gen, *v.shape, scale=scale).to(dtype) for k, v in params.items()}, "t": i + 1,
                  "lr": RATES[i], "betas": betas, "eps": eps, "weight_decay": decay} for i in range(count)]
        cases.append(Case(label=label, dtype=dtype, inputs={
            "params": params, "m": {k: torch.zeros_like(v) for k, v in params.items()},
            "v": {k: torch.zeros_like(v) for k, v in params.items()}, "steps": steps}))
    return cases


def _adam_oracle(a: dict) -> tuple:
    """torch.optim.Adam (L2 weight decay added to the gradient), the learning rate changed between steps: the function
    its `step` runs, `torch.optim.adam.adam` (the step itself imports torch._dynamo: 2 s in a student's kernel)."""
    keys = list(a["params"])
    params = {k: a["params"][k].clone() for k in keys}
    m, v = {k: a["m"][k].clone() for k in keys}, {k: a["v"][k].clone() for k in keys}
    steps = [torch.tensor(0.0, dtype=torch.float64) for _ in keys]
    trajectory = ([], [], [])
    for step in a["steps"]:
        beta1, beta2 = step["betas"]
        adam([params[k] for k in keys], [step["grads"][k] for k in keys], [m[k] for k in keys], [v[k] for k in keys],
             [], steps, foreach=False, amsgrad=False, beta1=beta1, beta2=beta2, lr=step["lr"],
             weight_decay=step["weight_decay"], eps=step["eps"], maximize=False)
        for found, state in zip(trajectory, (params, m, v)):
            found.append({k: t.clone() for k, t in state.items()})
    return trajectory


def _adam_variant(a: dict, *, correction: bool = True, shift: int = 0, eps_inside: bool = False,
                  decoupled: bool = False, store_hat: bool = False) -> tuple:
    """The trajectories (params, m, v) of a hand-written Adam with one common mistake."""
    params = {k: t.clone() for k, t in a["params"].items()}
    m, v = {k: t.clone() for k, t in a["m"].items()}, {k: t.clone() for k, t in a["v"].items()}
    trajectory = ([], [], [])
    for step in a["steps"]:
        (beta1, beta2), t, lr, eps, decay = step["betas"], step["t"] + shift, step["lr"], step["eps"], step["weight_decay"]
        for k in params:
            g = step["grads"][k] + (0 if decoupled else decay * params[k])
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            m_hat = m[k] / (1 - beta1 ** t) if correction else m[k]
            v_hat = v[k] / (1 - beta2 ** t) if correction else v[k]
            if store_hat:
                m[k], v[k] = m_hat, v_hat
            denominator = (v_hat + eps).sqrt() if eps_inside else v_hat.sqrt() + eps
            params[k] = params[k] * (1 - lr * decay if decoupled else 1) - lr * m_hat / denominator
        for found, state in zip(trajectory, (params, m, v)):
            found.append({k: t.clone() for k, t in state.items()})
    return trajectory


ADAM_STEP = SequenceSpec(
    name="adam_step", points=2,
    arguments=("params", "grads", "m", "v", "t", "lr", "betas", "eps", "weight_decay"),
    state=("params", "m", "v"), compared=("params", "m", "v"), in_place=("params",), cases=_adam_cases,
    oracle=_adam_oracle,
    rebound_message=("les tenseurs de {state} sont remplacés au lieu d'être modifiés en place : `params[k] = "
                     "params[k] - …` crée un nouveau tenseur, et celui que l'appelant a donné (et qu'il garde) ne "
                     "change pas. Écrivez `params[k] -= …` (ou `.sub_(…)`)."),
    policy=replace(LOOPS_ALLOWED, forbidden=OPTIM), error_hints=COMMON_HINTS,
    mistakes=(
        Mistake(output=None, message="pas de correction du biais : m et v partent de 0, et leurs premières valeurs sont "
                                     "trop petites ; divisez par 1 − β₁ᵗ et 1 − β₂ᵗ (m̂ et v̂) avant le pas.",
                predict=lambda a, e: _adam_variant(a, correction=False)),
        Mistake(output=None, message="t compte à partir de 1 : au premier appel, t = 1 et la correction est "
                                     "1 − β₁¹ ; n'ajoutez ni ne retirez 1 à t.",
                predict=lambda a, e: _adam_variant(a, shift=1)),
        Mistake(output=None, message="t compte à partir de 1 : avec t − 1, la correction 1 − β₁⁰ vaut 0 au premier pas "
                                     "(division par zéro).", predict=lambda a, e: _adam_variant(a, shift=-1)),
        Mistake(output=None, message="eps est dans la racine : le pas est m̂ / (√v̂ + ε), pas m̂ / √(v̂ + ε) — la "
                                     "différence se voit quand les gradients sont petits.",
                predict=lambda a, e: _adam_variant(a, eps_inside=True)),
        Mistake(output=None, message="c'est la pénalité découplée d'AdamW (p ← p − η λ p à part) : ici, comme dans "
                                     "torch.optim.Adam, λ p s'ajoute au gradient avant m et v.",
                predict=lambda a, e: _adam_variant(a, decoupled=True)),
        Mistake(output=None, message="m̂ et v̂ sont rangés dans m et v : gardez m et v sans correction (la correction "
                                     "se refait à chaque pas avec le t du pas).",
                predict=lambda a, e: _adam_variant(a, store_hat=True)),
    ),
)

ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[
    BATCHNORM_FORWARD, BATCHNORM_BACKWARD, UPDATE_RUNNING_STATS, BATCHNORM_EVAL, MAKE_MASK, DROPOUT_FORWARD,
    DROPOUT_BACKWARD, ADAM_STEP, training.SPEC])
grade = ASSIGNMENT.grade
