"""TP 12's training, graded as TP 10's (the accuracy the grader recomputes from the parameters) and on what
TP 12 is about: the gradients the student's functions give for the trained network, on the whole training set
(`gradients_finaux`, computed in the notebook), against autograd's through `F.conv2d` and `F.max_pool2d`.

A mistake in a function the training uses may still train a network that classifies (indices local to each
pooling window send the gradients to the wrong pixels, and the network still reaches 96 %): the gradients say it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.data import digit_images_test_set, digit_images_train_set
from autograder.training import DigitsTraining, FinalGradients


def logits(p: dict, x: torch.Tensor) -> torch.Tensor:
    """The notebook's CNN: conv 3×3 (padding 1), ReLU, max-pooling 2×2, linear on the flattened maps."""
    x2 = F.max_pool2d(torch.relu(F.conv2d(x, p["w1"], p["b1"], padding=1)), 2)
    return F.linear(x2.reshape(len(x), -1), p["w2"], p["b2"])


DIGITS = DigitsTraining(
    logits=logits, test_set=digit_images_test_set, also=("gradients_finaux",),
    uses="vos fonctions (cnn_forward, cnn_backward et celles qu'elles appellent)")


def _loss(p: dict) -> torch.Tensor:
    """The mean cross-entropy of the network on the whole training set."""
    inputs, labels = digit_images_train_set()
    return F.cross_entropy(logits(p, inputs), labels)


TRAINING = FinalGradients(
    digits=DIGITS, loss=_loss,
    message=("les gradients que vos fonctions calculent pour le réseau entraîné (gradients_finaux, sur tout "
             "l'ensemble d'entraînement) ne sont pas ceux de torch.autograd ({ecarts}) : votre entraînement "
             "n'a pas suivi le gradient de la perte, un tiers des points au plus. Commencez par les "
             "vérifications de cnn_forward, cnn_backward et des fonctions qu'elles appellent, plus haut."))
SPEC = TRAINING.spec()
