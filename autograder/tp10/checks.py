"""Checks of TP 10, named by the hidden tests of `source/tp10`: specs only (see `autograder.specs`).

Oracles: autograd of `torch.relu`, `torch.log_softmax` and `F.cross_entropy` in float64,
`torch.optim.SGD` for the momentum step, statistics for `he_init`, properties for
`minibatches`; the reference functions only stand in for the exercises a function calls.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F
from torch.optim.sgd import sgd

from autograder.assignment import Assignment
from autograder.codec import Foreign
from autograder.toolkit import (CLASS_INDICES, COMMON_HINTS, F32, F64, NOT_DIVIDED_BY_N, ONE_HOT_WIDTH, OVERFLOW,
                                SHAPE_HINT, SOFTMAX_OPS, by_hand, forbidden, forbidden_ops, gradients, labels,
                                layer_gradients, normal_draw, normal_false_rejection, one_hot, randn, seeded,
                                softmax, table, update_trajectory, with_kinks)
from autograder.training import DigitsTraining
from autograder.specs import Case, FunctionSpec, Mistake, SequenceSpec, StatisticalSpec

VECTORISED = by_hand(loop_message="boucle Python détectée : le TP demande des opérations vectorisées sur tout le lot")
# a loop over the four parameters or the two layers is fine: the batch dimension is what must be vectorised,
# and the bytecode cannot tell one loop from the other
LOOPS_ALLOWED = replace(VECTORISED, loops="allowed")
SOFTMAX_POLICY = replace(VECTORISED, forbidden=forbidden_ops(
    SOFTMAX_OPS, "écrivez le calcul vous-même (torch.exp, torch.log, torch.logsumexp… sont permis)"))

# ------------------------------------------------------------------ inputs

_elementwise_cases = table([("float64, tenseur 5×7 avec des zéros", F64, (5, 7)),
                            ("float32, tenseur 4×3 avec des zéros", F32, (4, 3)),
                            ("float64, vecteur de taille 6", F64, (6,)), ("float64, lot de taille 1", F64, (1, 4))],
                           lambda gen, shape: {"x": with_kinks(randn(gen, *shape, scale=1.5))})
_logits_cases = table([("float64, lot 5, 4 classes", F64, 5, 4, 2.0), ("float32, lot 6, 10 classes", F32, 6, 10, 3.0),
                       ("float64, lot de taille 1, 3 classes", F64, 1, 3, 2.0),
                       ("float64, logits vers ±1000", F64, 6, 5, 1000.0), ("float32, logits vers ±1000", F32, 4, 7, 1000.0)],
                      lambda gen, batch, classes, scale: {"s": randn(gen, batch, classes, scale=scale),
                                                         "y": labels(gen, batch, classes)})


NETWORKS = [("float64, lot 5, 7→4→3", 5, 7, 4, 3, torch.float64),
            ("float32, lot 6, 8→10→4", 6, 8, 10, 4, torch.float32),
            ("float64, lot de taille 1, 5→3→2", 1, 5, 3, 2, torch.float64)]


def _network_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, batch, nb_in, nb_hidden, nb_out, dtype in NETWORKS:
        params = {"w1": randn(gen, nb_hidden, nb_in, scale=0.7), "b1": randn(gen, nb_hidden, scale=0.5),
                  "w2": randn(gen, nb_out, nb_hidden, scale=0.7), "b2": randn(gen, nb_out, scale=0.5)}
        params = {k: v.to(dtype) for k, v in params.items()}
        x = randn(gen, batch, nb_in).to(dtype)
        y = torch.randint(0, nb_out, (batch,), generator=gen)
        s1, x1, s2 = _forward(params, x)
        cases.append(Case(label=label, inputs={"params": params, "x": x, "y": y, "s1": s1, "x1": x1, "s2": s2},
                          dtype=dtype))
    return cases


# ------------------------------------------------------------------ oracles (autograd, torch)


def _forward(p: dict, x: torch.Tensor, relu=torch.relu) -> tuple:
    s1 = F.linear(x, p["w1"], p["b1"])
    x1 = relu(s1)
    return s1, x1, F.linear(x1, p["w2"], p["b2"])


def _backward_pass_oracle(a: dict, relu=torch.relu) -> tuple:
    names = ("w1", "b1", "w2", "b2")

    def mean_loss(*values):
        return F.cross_entropy(_forward(dict(zip(names, values)), a["x"], relu)[2], a["y"])
    return (dict(zip(names, gradients(mean_loss, *(a["params"][k] for k in names)))),)


def _relu_without_derivative(s: torch.Tensor) -> torch.Tensor:
    """ReLU's values, with the identity's derivative: a backward pass that forgets relu'."""
    return s + (torch.relu(s) - s).detach()


def _naive_log_softmax(s: torch.Tensor) -> torch.Tensor:
    return s - torch.log(torch.exp(s).sum(dim=1, keepdim=True))


# ------------------------------------------------------------------ exercises

RELU = FunctionSpec(
    name="relu", points=1, arguments=("x",), outputs=("relu(x)",), cases=_elementwise_cases,
    oracle=lambda a: (torch.relu(a["x"]),), error_hints=COMMON_HINTS,
    policy=replace(VECTORISED, forbidden=forbidden(
        "`torch.relu` (ou F.relu, torch.threshold)", "écrivez max(x, 0) vous-même (x.clamp(min=0), torch.where… sont permis)",
        "op:relu", "op:relu_", "op:threshold", "op:threshold_")),
    mistakes=(
        Mistake(output=0, message="torch.max(x, 0) cherche le maximum le long de la dimension 0 (il renvoie valeurs "
                                  "et indices) : pour max(x, 0) terme à terme, écrivez x.clamp(min=0) ou "
                                  "torch.maximum(x, torch.zeros_like(x)).",
                predict=lambda a, e: Foreign("torch.return_types.max")),
        Mistake(output=0, message="ReLU garde les valeurs positives et met les négatives à 0 (pas l'inverse).",
                predict=lambda a, e: a["x"].clamp(max=0)),
        Mistake(output=0, message="ReLU renvoie max(x, 0), pas la dérivée (1 si x > 0).",
                predict=lambda a, e: (a["x"] > 0).to(a["x"].dtype)),
    ),
)

DRELU = FunctionSpec(
    name="drelu", points=1, arguments=("x",), outputs=("drelu(x)",), cases=_elementwise_cases,
    oracle=lambda a: gradients(lambda x: torch.relu(x).sum(), a["x"]), policy=VECTORISED, error_hints=COMMON_HINTS,
    mistakes=(
        Mistake(output=0, message="en 0, la dérivée de ReLU vaut 0 (c'est ce que donne autograd) : utilisez x > 0, "
                                  "pas x >= 0.", predict=lambda a, e: (a["x"] >= 0).to(a["x"].dtype)),
        Mistake(output=0, message="drelu doit renvoyer la dérivée (0 ou 1), pas ReLU elle-même.",
                predict=lambda a, e: torch.relu(a["x"])),
        Mistake(output=0, message="signe inversé : la dérivée vaut 1 là où x > 0 et 0 ailleurs.",
                predict=lambda a, e: (a["x"] < 0).to(a["x"].dtype)),
    ),
)

LOG_SOFTMAX = FunctionSpec(
    name="log_softmax", points=2, arguments=("s",), outputs=("log_softmax(s)",), cases=_logits_cases,
    oracle=lambda a: (torch.log_softmax(a["s"], dim=1),), policy=SOFTMAX_POLICY, error_hints=COMMON_HINTS,
    mistakes=(
        Mistake(output=0, message=OVERFLOW, predict=lambda a, e: _naive_log_softmax(a["s"])),
        Mistake(output=0, message="log(softmax(s)) donne −inf quand une probabilité est trop petite pour un flottant : "
                                  "calculez (s − m) − log Σ exp(s − m) directement, sans passer par softmax.",
                predict=lambda a, e: torch.log(softmax(a["s"]))),
        Mistake(output=0, message="la normalisation porte sur chaque ligne (dim=1, les classes d'un exemple), "
                                  "pas sur les colonnes (dim=0).", predict=lambda a, e: torch.log_softmax(a["s"], dim=0)),
        Mistake(output=0, message="c'est softmax(s) : il manque le logarithme.", predict=lambda a, e: softmax(a["s"])),
        Mistake(output=0, message="il manque le terme − log Σ exp(s − m) : log_softmax(s) = (s − m) − log Σ exp(s − m).",
                predict=lambda a, e: a["s"] - a["s"].max(1, keepdim=True).values),
        Mistake(output=0, message="le maximum retiré doit l'être dans le log-sum-exp aussi : "
                                  "log_softmax(s) = (s − m) − log Σ exp(s − m).",
                predict=lambda a, e: e[0] - a["s"].max(1, keepdim=True).values),
    ),
)

CROSS_ENTROPY = FunctionSpec(
    name="cross_entropy", points=2, arguments=("s", "y"), outputs=("cross_entropy(s, y)",), cases=_logits_cases,
    oracle=lambda a: (F.cross_entropy(a["s"], a["y"]),), policy=SOFTMAX_POLICY,
    error_hints=(CLASS_INDICES, ONE_HOT_WIDTH, *COMMON_HINTS),
    mistakes=(
        Mistake(output=0, message="somme au lieu de moyenne : la perte est la moyenne sur le lot (divisez par N).",
                predict=lambda a, e: e[0] * a["s"].shape[0]),
        Mistake(output=0, message="s[:, y] prend toutes les lignes pour chaque y (une matrice N×N) : il faut un seul "
                                  "élément par exemple, s[torch.arange(N), y] ou gather.",
                predict=lambda a, e: -torch.log_softmax(a["s"], 1)[:, a["y"]].mean()),
        Mistake(output=0, message="débordement sur de grands logits : calculez la perte avec un log_softmax stable "
                                  "(maximum soustrait), pas avec exp(s) directement.",
                predict=lambda a, e: -_naive_log_softmax(a["s"]).gather(1, a["y"][:, None]).mean()),
        Mistake(output=0, message="signe inversé : la perte est −(1/N) Σ log softmax(s)[n, y[n]], un nombre positif.",
                predict=lambda a, e: -e[0]),
        Mistake(output=0, message="la perte doit être un scalaire : faites la moyenne sur le lot.",
                predict=lambda a, e: -torch.log_softmax(a["s"], 1).gather(1, a["y"][:, None]).squeeze(1)),
    ),
)

DCROSS_ENTROPY = FunctionSpec(
    name="dcross_entropy", points=2, arguments=("s", "y"), outputs=("dcross_entropy(s, y)",), cases=_logits_cases,
    oracle=lambda a: gradients(lambda s: F.cross_entropy(s, a["y"]), a["s"]), policy=SOFTMAX_POLICY,
    error_hints=(ONE_HOT_WIDTH, *COMMON_HINTS),
    mistakes=(
        Mistake(output=0, message=NOT_DIVIDED_BY_N, predict=lambda a, e: e[0] * a["s"].shape[0]),
        Mistake(output=0, message="il manque le −1 sur la classe correcte : le gradient est (softmax(s) − onehot(y)) / N.",
                predict=lambda a, e: softmax(a["s"]) / a["s"].shape[0]),
        Mistake(output=0, message="le one-hot doit être celui de la vraie classe y, pas de la classe prédite (argmax).",
                predict=lambda a, e: (softmax(a["s"]) - one_hot(a["s"].argmax(1), a["s"])) / a["s"].shape[0]),
        Mistake(output=0, message="signe inversé : le gradient est (softmax(s) − onehot(y)) / N.",
                predict=lambda a, e: -e[0]),
    ),
)

# ------------------------------------------------------------------ he_init: statistics

HE_SHAPES = [("200×50", 200, 50), ("40×500", 40, 500)]


def _he_properties(a: dict, w: Any) -> list:
    nb_out, nb_in = a["nbOut"], a["nbIn"]
    return normal_draw(w, (nb_out, nb_in), 2 / nb_in, shape_name="(nbOut, nbIn)", variance_name="2/nbIn", known=(
        ((2 / nb_in) ** 2, "2/nbIn est la variance, pas l'écart-type : multipliez par √(2/nbIn)."),
        (2 / nb_out, "la variance de He se calcule avec nbIn (les entrées du neurone), pas nbOut."),
        (1 / nb_in, "il manque le facteur 2 de He : variance 2/nbIn (1/nbIn est l'initialisation de LeCun)."),
        (1.0, "torch.randn donne une variance 1 : multipliez par √(2/nbIn)."),
        (2 / nb_in ** 2, "l'écart-type est √(2/nbIn), pas √2/nbIn."),
        (2 / (nb_in + nb_out), "c'est l'initialisation de Glorot, 2/(nbIn + nbOut) : He utilise 2/nbIn.")))


HE_INIT = StatisticalSpec(
    name="he_init", points=1, arguments=("nbOut", "nbIn", "generator"), cases=seeded(HE_SHAPES, "nbOut", "nbIn"),
    properties=_he_properties, false_rejection=len(HE_SHAPES) * normal_false_rejection(),
    policy=replace(VECTORISED, forbidden=forbidden(
        "torch.nn.init", "tirez les poids avec torch.randn(…, generator=generator)", "module:torch.nn.init")),
)

# ------------------------------------------------------------------ network

FORWARD_PASS = FunctionSpec(
    name="forward_pass", points=1, arguments=("params", "x"), outputs=("s1", "x1", "s2"), cases=_network_cases,
    oracle=lambda a: _forward(a["params"], a["x"]), policy=LOOPS_ALLOWED, error_hints=(SHAPE_HINT, *COMMON_HINTS),
    mistakes=(
        Mistake(output=1, message="ReLU est oubliée : x1 = relu(s1).", predict=lambda a, e: e[0]),
        Mistake(output=2, message="s2 sont les logits : pas de ReLU après la deuxième couche.",
                predict=lambda a, e: torch.relu(e[2])),
        Mistake(output=2, message="la deuxième couche prend x1 = relu(s1) en entrée, pas s1.",
                predict=lambda a, e: F.linear(e[0], a["params"]["w2"], a["params"]["b2"])),
    ),
)

BACKWARD_PASS = FunctionSpec(
    name="backward_pass", points=3, arguments=("params", "x", "y", "s1", "x1", "s2"), outputs=("grads",),
    cases=_network_cases, oracle=_backward_pass_oracle, policy=LOOPS_ALLOWED,
    error_hints=(("shapes cannot be multiplied", "produit impossible : dl_s2 est (N, 10) et w2 (10, 100) ; "
                  "dl_w2 = dl_s2.T @ x1 et dl_x1 = dl_s2 @ w2."), *COMMON_HINTS),
    mistakes=(
        *(mistake for k in "12" for mistake in layer_gradients(
            f'grads["w{k}"]', f'grads["b{k}"]', dl_w=lambda e, k=k: e[0]["w" + k], dl_b=lambda e, k=k: e[0]["b" + k],
            batch=lambda a: a["x"].shape[0])),
        Mistake(output=None, message="gradient divisé deux fois par N : dcross_entropy renvoie déjà le gradient "
                                     "de la moyenne.",
                predict=lambda a, e: ({k: v / a["x"].shape[0] for k, v in e[0].items()},)),
        Mistake(output=None, message="la dérivée de ReLU est oubliée : dl_s1 = drelu(s1) * dl_x1.",
                predict=lambda a, e: _backward_pass_oracle(a, relu=_relu_without_derivative)),
    ),
)

# ------------------------------------------------------------------ mini-batches: properties

BATCHES = [("n = 100, lots de 32", 100, 32), ("n = 64, lots de 16", 64, 16), ("n = 30, lots de 1", 30, 1),
           ("n = 37, un seul lot de 100", 37, 100)]


def _batch_properties(a: dict, batches: Any) -> list[str]:
    n, size = a["n"], a["batch_size"]
    if not isinstance(batches, (list, tuple)) or not all(type(b) is torch.Tensor for b in batches):
        return ["minibatches doit renvoyer une liste de tenseurs d'indices."]
    if any(b.dtype != torch.int64 or b.dim() != 1 for b in batches):
        return ["chaque lot doit être un tenseur d'indices int64 à une dimension (comme torch.randperm)."]
    every = torch.cat(list(batches)) if batches else torch.empty(0, dtype=torch.int64)
    sizes = [len(b) for b in batches]
    expected_sizes = [size] * (n // size) + ([n % size] if n % size else [])
    if len(every) and (every.min() < 0 or every.max() >= n):
        return [f"des indices sortent de range(n) = 0 … {n - 1}."]
    if len(set(every.tolist())) < len(every):
        return ["des indices apparaissent plusieurs fois (tirage avec remise ?) : les lots doivent partager "
                "une permutation de range(n), sans chevauchement."]
    if len(every) < n:
        if sizes == [size] * (n // size) and n % size:
            return ["le dernier lot, plus court, est oublié : tous les exemples doivent servir à chaque époque."]
        return [f"{n - len(every)} indices de range(n) manquent : chaque exemple doit être dans un lot."]
    if sizes != expected_sizes:
        return [f"tailles des lots {sizes[:6]}{'…' if len(sizes) > 6 else ''} : attendu des lots de {size}, "
                "le dernier pouvant être plus court."]
    if n > 1 and torch.equal(every, torch.arange(n)):
        return ["les indices ne sont pas mélangés : tirez une permutation avec torch.randperm(n, generator=generator)."]
    return []


MINIBATCHES = StatisticalSpec(
    name="minibatches", points=1, arguments=("n", "batch_size", "generator"), cases=seeded(BATCHES, "n", "batch_size"),
    properties=_batch_properties,
    false_rejection=sum(1 / math.factorial(n) for _, n, _ in BATCHES),  # a shuffle that leaves range(n) in order
    policy=LOOPS_ALLOWED,
)

# ------------------------------------------------------------------ SGD with momentum: a sequence of calls


def _sgd_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, momentum, dtype in (("float64, moment 0,9, 4 appels", 0.9, torch.float64),
                                   ("float32, moment 0,5, 4 appels", 0.5, torch.float32)):
        params = {"w": randn(gen, 3, 4).to(dtype), "b": randn(gen, 3).to(dtype)}
        steps = [{"grads": {k: randn(gen, *v.shape).to(dtype) for k, v in params.items()},
                  "lr": lr, "momentum": momentum} for lr in (0.1, 0.05, 0.2, 0.01)]
        velocities = {k: torch.zeros_like(v) for k, v in params.items()}
        cases.append(Case(label=label, inputs={"params": params, "velocities": velocities, "steps": steps},
                          dtype=dtype))
    return cases


def _sgd_oracle(a: dict) -> tuple:
    """torch.optim.SGD(momentum=μ, dampening=0, nesterov=False), the learning rate changed between steps: the function
    its `step` runs, `torch.optim.sgd.sgd` (the step itself imports torch._dynamo: 2 s in a student's kernel)."""
    params, buffers, trajectory = {k: v.clone() for k, v in a["params"].items()}, [None] * len(a["params"]), []
    for step in a["steps"]:
        sgd(list(params.values()), [step["grads"][k] for k in params], buffers, foreach=False, weight_decay=0.0,
            momentum=step["momentum"], lr=step["lr"], dampening=0.0, nesterov=False, maximize=False)
        trajectory.append({k: v.clone() for k, v in params.items()})
    return (trajectory,)


def _sgd_variant(a: dict, update) -> tuple:
    """The trajectory of a common mistake, `update(p, v, g, lr, μ) -> (p, v)` applied to each parameter."""
    return (update_trajectory(a["params"], a["steps"], lambda p, v, g, lr, momentum: update(p, v, g, lr, momentum)),)


SGD_MOMENTUM_STEP = SequenceSpec(
    name="sgd_momentum_step", points=2, arguments=("params", "grads", "velocities", "lr", "momentum"),
    state=("params", "velocities"), compared=("params",), in_place=("params", "velocities"), cases=_sgd_cases,
    oracle=_sgd_oracle,
    rebound_message=("les tenseurs de {state} sont remplacés au lieu d'être modifiés en place : `params[k] = "
                     "params[k] - …` crée un nouveau tenseur, et celui que l'appelant a donné (et qu'il garde) ne "
                     "change pas. Écrivez `params[k] -= lr * velocities[k]` (ou `.sub_(…)`) et "
                     "`velocities[k].mul_(momentum).add_(grads[k])`."),
    policy=replace(LOOPS_ALLOWED, forbidden=forbidden("torch.optim", "écrivez la mise à jour vous-même",
                                                      "module:torch.optim")),
    error_hints=COMMON_HINTS,
    mistakes=(
        Mistake(output=None, message="les paramètres ne changent pas : mettez-les à jour en place "
                                     "(params[k] -= lr * v, ou params[k].sub_(…)), la fonction ne renvoie rien.",
                predict=lambda a, e: ([{k: v for k, v in a["params"].items()}] * len(a["steps"]),)),
        Mistake(output=None, message="la vitesse repart de zéro à chaque appel (c'est une descente de gradient "
                                     "simple) : gardez-la dans velocities[k], mise à jour en place.",
                predict=lambda a, e: _sgd_variant(a, lambda p, v, g, lr, mu: (p - lr * g, v))),
        Mistake(output=None, message="pas d'amortissement : v ← μ v + g (torch.optim.SGD, dampening=0), "
                                     "pas μ v + (1 − μ) g.",
                predict=lambda a, e: _sgd_variant(a, lambda p, v, g, lr, mu: (
                    p - lr * (mu * v + (1 - mu) * g), mu * v + (1 - mu) * g))),
        Mistake(output=None, message="signe inversé : on descend le gradient, p ← p − lr · v.",
                predict=lambda a, e: _sgd_variant(a, lambda p, v, g, lr, mu: (p + lr * (mu * v + g), mu * v + g))),
        Mistake(output=None, message="c'est le moment de Nesterov : ici p ← p − lr · v, avec v ← μ v + g.",
                predict=lambda a, e: _sgd_variant(a, lambda p, v, g, lr, mu: (
                    p - lr * (g + mu * (mu * v + g)), mu * v + g))),
        Mistake(output=None, message="le pas d'apprentissage ne va pas dans la vitesse : v ← μ v + g, puis p ← p − "
                                     "lr · v (la convention de torch.optim.SGD, qui reste juste quand lr change).",
                predict=lambda a, e: _sgd_variant(a, lambda p, v, g, lr, mu: (
                    p + (mu * v - lr * g), mu * v - lr * g))),
    ),
)

# ------------------------------------------------------------------ training

TRAINING = DigitsTraining(  # the reference: mean 0.974 over training seeds 0-9, 0.961-0.986 (benchmarks/seeds.py)
    logits=lambda p, x: _forward(p, x)[2],
    uses="vos fonctions (forward_pass, cross_entropy, backward_pass, minibatches, sgd_momentum_step)").spec()

ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[
    RELU, DRELU, LOG_SOFTMAX, CROSS_ENTROPY, DCROSS_ENTROPY, HE_INIT, FORWARD_PASS, BACKWARD_PASS, MINIBATCHES,
    SGD_MOMENTUM_STEP, TRAINING])
grade = ASSIGNMENT.grade
