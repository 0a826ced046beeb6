"""TP 11's training, graded as TP 10's (the accuracy the grader recomputes from the parameters) and on what
TP 11 is about: the engine's gradients for the trained network, computed in the notebook
(`gradients_finaux`), against autograd's."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from autograder.data import digits_train_set
from autograder.french import formatted, percent
from autograder.toolkit import gradients
from autograder.training import DigitsTraining
from autograder.verdict import Remark

PENALTY = 0.01  # `penalite` in the notebook: the weight of the hidden activations' L2 penalty
KEYS = ("w1", "b1", "w2", "b2")
# How far the engine's gradients may be from autograd's in float64, relative to the largest one: the
# reference's float32 rounding gives at most 6e-6 (training seeds 0-9); an engine that drops or repeats a
# contribution (`=` for `+=`, a shared node listed twice) errs by a quarter of it or more.
ENGINE_TOLERANCE = 1e-3
ENGINE_SHARE = 1 / 3  # what is left of the training's points when the engine's gradients are wrong


def _hidden(p: dict, x: torch.Tensor) -> torch.Tensor:
    return torch.relu(x @ p["w1"] + p["b1"])


def _loss(p: dict, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The notebook's `perte_du_lot`: the mean cross-entropy plus (penalite / N) · Σ x1²."""
    x1 = _hidden(p, x)
    return F.cross_entropy(x1 @ p["w2"] + p["b2"], y) + PENALTY * (x1 * x1).sum() / len(y)


DIGITS = DigitsTraining(
    logits=lambda p, x: _hidden(p, x) @ p["w2"] + p["b2"], also=("gradients_finaux",),
    too_low=("l'exactitude est trop basse : l'entraînement utilise votre autograd (les règles, topological_order, "
             "backward) et votre perte_du_lot — commencez par les vérifications de ces fonctions, plus haut."),
    unfinished=("{manquantes} n'existe(nt) pas : l'entraînement n'est pas allé au bout. Il utilise votre "
                "autograd : si une de vos fonctions lève une erreur, corrigez-la d'abord (voir sa vérification), puis "
                "exécutez toutes les cellules."),
    malformed=("params doit rester un dict {\"w1\", \"b1\", \"w2\", \"b2\"} de torch.Tensor ordinaires "
               "(les .data des nœuds du réseau)."),
)


def _relative(error: float, scale: float) -> str:
    """`error` as a share of `scale`, as French writes it: « 26 % », « 0,4 % »."""
    if not scale or error != error:
        return formatted(error, ".1e") if scale else "∞"
    return percent(error / scale, 0 if error >= 0.1 * scale else 1)


def _engine_errors(params: dict, found: Any) -> dict[str, str]:
    """Per parameter whose gradient in `found` (the engine's, on the whole training set, at the trained
    parameters) is not autograd's: how far off it is, in French."""
    inputs, labels = digits_train_set()
    expected = gradients(lambda *t: _loss(dict(zip(KEYS, t)), inputs, labels),
                         *(params[k].to(torch.float64) for k in KEYS))
    errors = {}
    for key, truth in zip(KEYS, expected):
        grad = found.get(key) if isinstance(found, dict) else None
        if type(grad) is not torch.Tensor or not grad.is_floating_point():
            errors[key] = "absent"
        elif grad.shape != truth.shape:
            errors[key] = f"forme {tuple(grad.shape)} au lieu de {tuple(truth.shape)}"
        else:
            scale = truth.abs().max().item()
            error = (grad.to(torch.float64) - truth).abs().max().item()
            if not error <= ENGINE_TOLERANCE * scale + 1e-8:  # NaN included
                errors[key] = f"écart jusqu'à {_relative(error, scale)} du plus grand gradient"
    return errors


def _training_judge(values: dict) -> tuple[float, list]:
    """TP 10's judgement of the accuracy, then the engine's gradients for the trained network against
    autograd's: an engine that computes other gradients than torch's trains another network."""
    score, remarks = DIGITS.judge(values)
    params = values.get("params")
    if any(values.get(name) is None for name in DIGITS.variables) or not isinstance(params, dict) \
            or set(params) != set(KEYS) or any(type(t) is not torch.Tensor for t in params.values()) \
            or not all(torch.isfinite(t).all() for t in params.values()):
        return score, remarks  # unfinished, malformed or diverged: said already
    try:
        errors = _engine_errors(params, values.get("gradients_finaux"))
    except Exception as error:  # noqa: BLE001 - parameters of the wrong shape, say
        errors = {"params": f"{type(error).__name__}"}
    if errors:
        listed = " ; ".join(f"{k} : {e}" for k, e in errors.items())
        remarks.insert(1, Remark(
            text=("les gradients que votre moteur calcule pour le réseau entraîné (gradients_finaux, perte sur tout "
                  "l'ensemble d'entraînement) ne sont pas ceux de torch.autograd ({ecarts}) : votre entraînement "
                  "n'est pas celui de torch (section 9), un tiers des points au plus. Commencez par les "
                  "vérifications des fonctions de votre moteur, plus haut, puis relisez perte_du_lot."),
            values={"ecarts": listed}))
        score *= ENGINE_SHARE
    return score, remarks


SPEC = replace(DIGITS.spec(), judge=_training_judge)

