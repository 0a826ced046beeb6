"""TP 12's training, graded as TP 10's (the accuracy the grader recomputes from the parameters) and on what
TP 12 is about: the gradients the student's functions give for the trained network, on the whole training set
(`gradients_finaux`, computed in the notebook), against autograd's through `F.conv2d` and `F.max_pool2d`.

A mistake in a function the training uses may still train a network that classifies (indices local to each
pooling window send the gradients to the wrong pixels, and the network still reaches 96 %): the gradients say it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from autograder.data import digit_images_test_set, digit_images_train_set
from autograder.french import formatted, percent
from autograder.toolkit import gradients
from autograder.training import DigitsTraining
from autograder.verdict import Remark

KEYS = ("w1", "b1", "w2", "b2")
# How far the functions' gradients may be from autograd's in float64, relative to the largest one: the
# reference's float32 rounding gives about 1e-6; a catalogued mistake errs by far more.
TOLERANCE = 1e-3
SHARE = 1 / 3  # what is left of the training's points when the gradients are wrong


def logits(p: dict, x: torch.Tensor) -> torch.Tensor:
    """The notebook's CNN: conv 3×3 (padding 1), ReLU, max-pooling 2×2, linear on the flattened maps."""
    x2 = F.max_pool2d(torch.relu(F.conv2d(x, p["w1"], p["b1"], padding=1)), 2)
    return F.linear(x2.reshape(len(x), -1), p["w2"], p["b2"])


DIGITS = DigitsTraining(
    logits=logits, test_set=digit_images_test_set, also=("gradients_finaux",),
    uses="vos fonctions (cnn_forward, cnn_backward et celles qu'elles appellent)")


def _relative(error: float, scale: float) -> str:
    """`error` as a share of `scale`, as French writes it: « 26 % », « 0,4 % »."""
    if not scale or error != error:
        return formatted(error, ".1e") if scale else "∞"
    return percent(error / scale, 0 if error >= 0.1 * scale else 1)


def _gradient_errors(params: dict, found: Any) -> dict[str, str]:
    """Per parameter whose gradient in `found` (the notebook's, on the whole training set, at the trained
    parameters) is not autograd's: how far off it is, in French."""
    inputs, labels = digit_images_train_set()
    expected = gradients(lambda *t: F.cross_entropy(logits(dict(zip(KEYS, t)), inputs), labels),
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
            if not error <= TOLERANCE * scale + 1e-8:  # NaN included
                errors[key] = f"écart jusqu'à {_relative(error, scale)} du plus grand gradient"
    return errors


def _judge(values: dict) -> tuple[float, list]:
    """TP 10's judgement of the accuracy, then the gradients of the student's functions for the trained
    network against autograd's."""
    score, remarks = DIGITS.judge(values)
    params = values.get("params")
    if any(values.get(name) is None for name in DIGITS.variables) or not isinstance(params, dict) \
            or set(params) != set(KEYS) or any(type(t) is not torch.Tensor for t in params.values()) \
            or not all(torch.isfinite(t).all() for t in params.values()):
        return score, remarks  # unfinished, malformed or diverged: said already
    try:
        errors = _gradient_errors(params, values.get("gradients_finaux"))
    except Exception as error:  # noqa: BLE001 - parameters of the wrong shape, say
        errors = {"params": f"{type(error).__name__}"}
    if errors:
        listed = " ; ".join(f"{k} : {e}" for k, e in errors.items())
        remarks.insert(1, Remark(
            text=("les gradients que vos fonctions calculent pour le réseau entraîné (gradients_finaux, sur tout "
                  "l'ensemble d'entraînement) ne sont pas ceux de torch.autograd ({ecarts}) : votre entraînement "
                  "n'a pas suivi le gradient de la perte, un tiers des points au plus. Commencez par les "
                  "vérifications de cnn_forward, cnn_backward et des fonctions qu'elles appellent, plus haut."),
            values={"ecarts": listed}))
        score *= SHARE
    return score, remarks


SPEC = replace(DIGITS.spec(), judge=_judge)
