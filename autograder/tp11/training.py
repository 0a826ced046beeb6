"""TP 11's training, graded as TP 10's (the accuracy the grader recomputes from the parameters) and on what
TP 11 is about: the engine's gradients for the trained network, computed in the notebook
(`gradients_finaux`), against autograd's."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.data import digits_train_set
from autograder.training import DigitsTraining, FinalGradients

PENALTY = 0.01  # `penalite` in the notebook: the weight of the hidden activations' L2 penalty


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


TRAINING = FinalGradients(
    digits=DIGITS, loss=lambda p: _loss(p, *digits_train_set()),
    message=("les gradients que votre moteur calcule pour le réseau entraîné (gradients_finaux, perte sur tout "
             "l'ensemble d'entraînement) ne sont pas ceux de torch.autograd ({ecarts}) : votre entraînement "
             "n'est pas celui de torch (section 9), un tiers des points au plus. Commencez par les "
             "vérifications des fonctions de votre moteur, plus haut, puis relisez perte_du_lot."))
SPEC = TRAINING.spec()
