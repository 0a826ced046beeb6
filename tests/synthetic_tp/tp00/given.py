"""Code the notebook of TP 0 gives students, which the grader runs too: the data of the training."""

import math

import torch


def nuages(n_par_classe: int = 40, graine: int = 0):
    r"""Trois nuages de points du plan, un par classe, tirés avec une graine fixe ; deux tiers pour l'entraînement.

    Renvoie `(x_train, t_train, x_test, classes_test)` : les cibles d'entraînement sont *one-hot* (0,9 pour la
    classe du point, 0 ailleurs), les classes de test des entiers."""
    generateur = torch.Generator().manual_seed(graine)
    angles = torch.arange(3) * (2 * math.pi / 3)
    centres = 2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)
    classes = torch.arange(3).repeat_interleave(n_par_classe)
    x = centres[classes] + 0.6 * torch.randn(len(classes), 2, generator=generateur)
    ordre = torch.randperm(len(classes), generator=generateur)
    x, classes = x[ordre], classes[ordre]
    n_train = 2 * len(classes) // 3
    t_train = 0.9 * torch.nn.functional.one_hot(classes[:n_train], 3).float()
    return x[:n_train], t_train, x[n_train:], classes[n_train:]
