"""Checks of TP 9, named by the hidden tests of `source/tp09`: specs only (see `autograder.specs`).

The oracle is torch autograd in float64, never the reference module; the reference
functions only stand in for the other exercises a function calls while it is graded.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from autograder.assignment import Assignment
from autograder.toolkit import (F32, F64, SHAPE_HINT, SIZES_DIFFER, UNDEFINED_NAME, by_hand, gradients, layer_gradients,
                                randn, return_order, table)
from autograder.training import DigitsTraining
from autograder.specs import Case, FunctionSpec, Mistake

# TP 9 asks for vectorised code without autograd in every exercise.
POLICY = by_hand(loop_message="boucle Python détectée : le TP demande des opérations vectorisées")

# ------------------------------------------------------------------ inputs


def _elementwise_cases(*names: str) -> Callable[[torch.Generator], list[Case]]:
    return table([("float64, tenseur 5×7", F64, (5, 7)), ("float32, tenseur 4×3", F32, (4, 3)),
                  ("float64, vecteur de taille 6", F64, (6,)), ("float64, lot de taille 1", F64, (1, 4))],
                 lambda gen, shape: {n: randn(gen, *shape, scale=1.5) for n in names})


LAYER_SHAPES = [  # (label, batch, nbIn, nbHidden, nbOut, dtype)
    ("float64, lot 5, 7→4→3", 5, 7, 4, 3, torch.float64),
    ("float32, lot 4, 6→8→5", 4, 6, 8, 5, torch.float32),
    ("float64, lot de taille 1, 5→3→2", 1, 5, 3, 2, torch.float64),
]


def _layer_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, batch, nb_in, _, nb_out, dtype in LAYER_SHAPES:
        xIn, w, b = randn(gen, batch, nb_in), randn(gen, nb_out, nb_in, scale=0.5), randn(gen, nb_out)
        s = F.linear(xIn, w, b)
        dl_xOut = randn(gen, batch, nb_out)
        inputs = {"xIn": xIn, "w": w, "b": b, "s": s, "dl_xOut": dl_xOut}
        label = f"{label.split(',')[0]}, lot {batch}, {nb_in}→{nb_out}"
        cases.append(Case(label=label, inputs={k: v.to(dtype) for k, v in inputs.items()}, dtype=dtype))
    return cases


def _network_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, batch, nb_in, nb_hidden, nb_out, dtype in LAYER_SHAPES:
        p = {"w1": randn(gen, nb_hidden, nb_in, scale=0.5), "b1": randn(gen, nb_hidden),
             "w2": randn(gen, nb_out, nb_hidden, scale=0.5), "b2": randn(gen, nb_out),
             "x": randn(gen, batch, nb_in), "t": randn(gen, batch, nb_out, scale=0.5)}
        p = {k: v.to(dtype) for k, v in p.items()}
        p["s1"], p["x1"], p["s2"], p["x2"] = _forward(p["w1"], p["b1"], p["w2"], p["b2"], p["x"])
        for name in ("w1", "b1", "w2", "b2"):  # gradients already hold something: they must be accumulated
            p["dl_d" + name] = randn(gen, *p[name].shape, dtype=dtype)
        cases.append(Case(label=label, inputs=p, dtype=dtype))
    return cases


# ------------------------------------------------------------------ oracles (autograd)


def _forward(w1, b1, w2, b2, x):
    s1 = F.linear(x, w1, b1)
    x1 = torch.tanh(s1)
    s2 = F.linear(x1, w2, b2)
    return s1, x1, s2, torch.tanh(s2)


def _squared_error(v, t):
    return ((t - v) ** 2).sum()


def _dsigma_oracle(a):
    return gradients(lambda x: torch.tanh(x).sum(), a["x"])


def _dloss_oracle(a):
    return gradients(lambda v: _squared_error(v, a["t"]), a["v"])


def _backward_step_oracle(a, activation_input=None):
    offset = a["s"] - F.linear(a["xIn"], a["w"])  # s is given: keep its value, let gradients flow
    s_for_sigma = a["s"] if activation_input is None else activation_input(a["s"])

    def upstream(xIn, w, b):
        s = F.linear(xIn, w, b) + offset
        s = s + (s_for_sigma - s).detach()
        return (torch.tanh(s) * a["dl_xOut"]).sum()
    dl_xIn, dl_w, dl_b = gradients(upstream, a["xIn"], a["w"], torch.zeros_like(a["s"][0]))
    return dl_w, dl_b, dl_xIn


def _backward_step_variant(a, dl_s):
    return dl_s.T @ a["xIn"], dl_s.sum(0), dl_s @ a["w"]


def _backward_pass_oracle(a):
    def total_loss(w1, b1, w2, b2):
        return _squared_error(_forward(w1, b1, w2, b2, a["x"])[3], a["t"])
    return gradients(total_loss, a["w1"], a["b1"], a["w2"], a["b2"])


def _backward_pass_variant(a, dl_x2, activation_at):
    """Gradients with the reference chain rule, but σ' taken at `activation_at(s, x)`."""
    dl_s2 = (1 - torch.tanh(activation_at(a["s2"], a["x2"])) ** 2) * dl_x2
    dl_s1 = (1 - torch.tanh(activation_at(a["s1"], a["x1"])) ** 2) * (dl_s2 @ a["w2"])
    return dl_s1.T @ a["x"], dl_s1.sum(0), dl_s2.T @ a["x1"], dl_s2.sum(0)


# ------------------------------------------------------------------ common mistakes


BROADCAST_HINTS = (
    SIZES_DIFFER, ("doesn't match the broadcast shape", "un gradient n'a pas la forme du paramètre auquel vous l'ajoutez."),
    UNDEFINED_NAME,
)

SIGMA = FunctionSpec(
    name="sigma", points=1, outputs=("sigma(x)",), cases=_elementwise_cases("x"), arguments=("x",), policy=POLICY,
    oracle=lambda a: (torch.tanh(a["x"]),),
    mistakes=(Mistake(output=0, message="σ est la tangente hyperbolique tanh, pas la sigmoïde.", predict=lambda a, e: torch.sigmoid(a["x"])),
              Mistake(output=0, message="c'est la dérivée de tanh : sigma doit renvoyer tanh(x).", predict=lambda a, e: 1 - torch.tanh(a["x"]) ** 2)),
    error_hints=BROADCAST_HINTS,
)

DSIGMA = FunctionSpec(
    name="dsigma", points=1, outputs=("dsigma(x)",), cases=_elementwise_cases("x"), arguments=("x",), policy=POLICY,
    oracle=_dsigma_oracle,
    mistakes=(
        Mistake(output=0, message="dsigma reçoit l'entrée s de tanh : calculez 1 − tanh(s)², pas 1 − s² "
                   "(cette formule vaut pour la sortie σ(s), pas pour s).", predict=lambda a, e: 1 - a["x"] ** 2),
        Mistake(output=0, message="il manque le carré : σ'(x) = 1 − tanh(x)².", predict=lambda a, e: 1 - torch.tanh(a["x"])),
        Mistake(output=0, message="signe inversé : σ'(x) = 1 − tanh(x)², pas tanh(x)² − 1.", predict=lambda a, e: torch.tanh(a["x"]) ** 2 - 1),
        Mistake(output=0, message="c'est la dérivée de la sigmoïde ; ici σ = tanh, donc σ' = 1 − tanh².",
                predict=lambda a, e: torch.sigmoid(a["x"]) * (1 - torch.sigmoid(a["x"]))),
        Mistake(output=0, message="1/cosh(x) doit être élevé au carré : σ'(x) = 1/cosh²(x).", predict=lambda a, e: 1 / torch.cosh(a["x"])),
        Mistake(output=0, message="dsigma doit renvoyer la dérivée de tanh, pas tanh.", predict=lambda a, e: torch.tanh(a["x"])),
    ),
    error_hints=BROADCAST_HINTS,
)

LOSS = FunctionSpec(
    name="loss", points=1, outputs=("loss(v, t)",), cases=_elementwise_cases("v", "t"), arguments=("v", "t"),
    policy=POLICY,
    oracle=lambda a: (_squared_error(a["v"], a["t"]),),
    mistakes=(
        Mistake(output=0, message="moyenne au lieu de somme : la perte est la somme des carrés, sans division.",
                predict=lambda a, e: ((a["t"] - a["v"]) ** 2).mean()),
        Mistake(output=0, message="la norme doit être élevée au carré : ‖t − v‖₂² (pas ‖t − v‖₂).",
                predict=lambda a, e: torch.sqrt(e[0])),
        Mistake(output=0, message="la perte doit être un scalaire : sommez tous les carrés (pas de tenseur terme à terme).",
                predict=lambda a, e: (a["t"] - a["v"]) ** 2),
        Mistake(output=0, message="la somme doit porter sur tous les éléments, pas sur un seul axe : le résultat est un scalaire.",
                predict=lambda a, e: ((a["t"] - a["v"]) ** 2).sum(dim=-1)),
        Mistake(output=0, message="somme des valeurs absolues : il faut la somme des carrés.",
                predict=lambda a, e: (a["t"] - a["v"]).abs().sum()),
        Mistake(output=0, message="les carrés ne sont pas sommés : (Σ (tᵢ − vᵢ))² ≠ Σ (tᵢ − vᵢ)².",
                predict=lambda a, e: (a["t"] - a["v"]).sum() ** 2),
    ),
    error_hints=BROADCAST_HINTS,
)

DLOSS = FunctionSpec(
    name="dloss", points=1, outputs=("dloss(v, t)",), cases=_elementwise_cases("v", "t"), arguments=("v", "t"),
    policy=POLICY,
    oracle=_dloss_oracle,
    mistakes=(
        Mistake(output=0, message="il manque le facteur 2 : la dérivée de (vᵢ − tᵢ)² est 2 (vᵢ − tᵢ).", predict=lambda a, e: e[0] / 2),
        Mistake(output=0, message="signe inversé : le gradient par rapport à v est 2 (v − t), pas 2 (t − v).", predict=lambda a, e: -e[0]),
        Mistake(output=0, message="facteur 2 oublié et signe inversé : le gradient est 2 (v − t).", predict=lambda a, e: -e[0] / 2),
        Mistake(output=0, message="division par le nombre d'éléments : la perte est une somme, pas une moyenne.",
                predict=lambda a, e: e[0] / a["v"].numel()),
        Mistake(output=0, message="dloss doit renvoyer un tenseur de la forme de v (un gradient par composante), pas une somme.",
                predict=lambda a, e: e[0].sum()),
    ),
    error_hints=BROADCAST_HINTS,
)

FORWARD_STEP = FunctionSpec(
    name="forward_step", points=2, outputs=("s", "x"), cases=_layer_cases, arguments=("xIn", "w", "b"), policy=POLICY,
    oracle=lambda a: (F.linear(a["xIn"], a["w"], a["b"]), torch.tanh(F.linear(a["xIn"], a["w"], a["b"]))),
    mistakes=(
        Mistake(output=0, message="ordre de retour : la fonction doit renvoyer `(s, x)`, dans cet ordre.", predict=lambda a, e: e[1]),
        Mistake(output=None, message="le biais b n'est pas ajouté : s = xIn @ w.T + b.",
               predict=lambda a, e: (a["xIn"] @ a["w"].T, torch.tanh(a["xIn"] @ a["w"].T))),
        Mistake(output=1, message="σ s'applique à s = xIn @ w.T + b, biais compris (pas avant l'ajout du biais).",
                predict=lambda a, e: torch.tanh(a["xIn"] @ a["w"].T) + a["b"]),
        Mistake(output=1, message="x doit être σ(s) (ou l'ordre de retour est inversé : la fonction renvoie `(s, x)`).",
                predict=lambda a, e: e[0]),
    ),
    error_hints=(SHAPE_HINT, *BROADCAST_HINTS),
)

FORWARD_PASS = FunctionSpec(
    name="forward_pass", points=1, outputs=("s1", "x1", "s2", "x2"), cases=_network_cases,
    arguments=("w1", "b1", "w2", "b2", "x"), policy=POLICY,
    oracle=lambda a: _forward(a["w1"], a["b1"], a["w2"], a["b2"], a["x"]),
    mistakes=(
        *return_order(("s1", "x1", "s2", "x2")),
        Mistake(output=None, message="la deuxième couche prend x1 = σ(s1) en entrée, pas s1.",
               predict=lambda a, e: (e[0], e[1], F.linear(e[0], a["w2"], a["b2"]), torch.tanh(F.linear(e[0], a["w2"], a["b2"])))),
    ),
    error_hints=(("shapes cannot be multiplied", "produit impossible : la couche 1 prend x, la couche 2 prend x1 "
                  "(vérifiez aussi l'ordre des arguments de forward_step : xIn, w, b)."), *BROADCAST_HINTS),
)

_BS_NAMES = ("dl_w", "dl_b", "dl_xIn")
BACKWARD_STEP = FunctionSpec(
    name="backward_step", points=3, outputs=_BS_NAMES, cases=_layer_cases, arguments=("xIn", "w", "s", "dl_xOut"),
    policy=POLICY,
    oracle=_backward_step_oracle,
    mistakes=(
        *layer_gradients(0, 1, dl_w=lambda e: e[0], dl_b=lambda e: e[1], batch=lambda a: a["xIn"].shape[0]),
        Mistake(output=0, message="dl_w : sommez sur le lot, ne divisez pas par la taille du lot.", predict=lambda a, e: e[0] / a["xIn"].shape[0]),
        Mistake(output=1, message="dl_b doit être sommé sur la dimension du lot : forme (nbOut,).",
                predict=lambda a, e: (1 - torch.tanh(a["s"]) ** 2) * a["dl_xOut"]),
        Mistake(output=None, message="σ' s'applique à s, l'entrée de l'activation, pas à sa sortie σ(s).",
               predict=lambda a, e: _backward_step_oracle(a, activation_input=torch.tanh)),
        Mistake(output=None, message="la dérivée de l'activation est oubliée : ∂L/∂s = σ'(s) ⊙ ∂L/∂x.",
               predict=lambda a, e: _backward_step_variant(a, a["dl_xOut"])),
        *return_order(_BS_NAMES),
    ),
    error_hints=(("shapes cannot be multiplied", "produit impossible : dl_s est (batch, nbOut) et w (nbOut, nbIn) ; "
                  "dl_w = dl_s.T @ xIn et dl_xIn = dl_s @ w."), *BROADCAST_HINTS),
)

_BP_NAMES = ("dl_dw1", "dl_db1", "dl_dw2", "dl_db2")
BACKWARD_PASS = FunctionSpec(
    name="backward_pass", points=3, outputs=_BP_NAMES, cases=_network_cases,
    arguments=("w1", "b1", "w2", "b2", "t", "x", "s1", "x1", "s2", "x2", *_BP_NAMES), policy=POLICY,
    oracle=_backward_pass_oracle,
    accumulates=_BP_NAMES,
    mistakes=(
        *(Mistake(output=i, message="`{output}` n'est pas modifié : `{output} = {output} + …` crée un nouveau tenseur "
                                    "local ; accumulez en place avec `{output} += …` ou `{output}.add_(…)`.",
                  predict=lambda a, e, i=i: torch.zeros_like(e[i]))
          for i in range(len(_BP_NAMES))),
        *(Mistake(output=i, message="`{output}` est écrasé au lieu d'être accumulé : ajoutez le gradient à sa valeur "
                                    "(`+=`), ne la remplacez pas.", predict=lambda a, e, i=i, n=n: e[i] - a[n])
          for i, n in enumerate(_BP_NAMES)),
        Mistake(output=None, message="signe inversé : vérifiez l'ordre des arguments de dloss(v=x2, t=t).", predict=lambda a, e: tuple(-g for g in e)),
        Mistake(output=None, message="backward_step reçoit s (avant l'activation), pas x = σ(s).",
               predict=lambda a, e: _backward_pass_variant(a, 2 * (a["x2"] - a["t"]), lambda s, x: x)),
    ),
    error_hints=(("shapes cannot be multiplied", "produit impossible : la couche 2 prend x1, la couche 1 prend x, "
                  "et le gradient passe de la couche 2 à la couche 1 par dl_x1."),
                 ("output with shape", "un gradient est ajouté au mauvais tenseur (couche 1 ↔ couche 2) ?"),
                 ("must match the size", "un gradient n'a pas la forme du paramètre auquel vous l'ajoutez : vérifiez "
                  "les entrées de chaque backward_step (x pour la couche 1, x1 pour la couche 2)."),
                 *BROADCAST_HINTS),
)

# ------------------------------------------------------------------ training

TRAINING = DigitsTraining(
    params=None, also=("trainAccuracy",),
    logits=lambda p, x: _forward(p["w1"], p["b1"], p["w2"], p["b2"], x)[3],
    too_low=("l'exactitude est trop basse : l'entraînement utilise vos fonctions (forward_pass, backward_pass), "
             "vérifiez-les d'abord avec leurs tests ; puis la mise à zéro des gradients à chaque époque "
             "et le signe du pas de gradient (w ← w − eta · dl_dw)."),
    fractions=("testAccuracy et trainAccuracy sont des exactitudes : des fractions entre 0 et 1 "
               "(pas des pourcentages)."),
    unfinished=("variables absentes après l'entraînement : {manquantes} — exécutez toutes les cellules de la boucle "
                "d'entraînement."),
    malformed="w1, b1, w2, b2 doivent rester des torch.Tensor ordinaires.",
).spec()

ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[
    SIGMA, DSIGMA, LOSS, DLOSS, FORWARD_STEP, FORWARD_PASS, BACKWARD_STEP, BACKWARD_PASS, TRAINING])
grade = ASSIGNMENT.grade
