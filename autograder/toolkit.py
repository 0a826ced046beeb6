"""What the checks of every TP share, so that a TP's `checks.py` holds only its own content.

Inputs drawn from the grader's generator, oracles computed by torch (autograd, softmax,
one-hot), the policy of an exercise written by hand, and the one French sentence that
refuses a library call doing an exercise's own work.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

from autograder.specs import Forbidden, Policy


# ------------------------------------------------------------------ inputs and oracles


def randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64, scale: float = 1.0) -> torch.Tensor:
    """Normal values drawn in float64 from `gen` (the same draws whatever `dtype`), times `scale`, in `dtype`."""
    return (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)


def gradients(fn: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The gradient of the scalar `fn(*tensors)` with respect to each tensor (the inputs are not touched)."""
    leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
    with torch.enable_grad():
        return torch.autograd.grad(fn(*leaves), leaves)


def softmax(s: torch.Tensor) -> torch.Tensor:
    """The probabilities of a batch of logits `(batch, classes)`."""
    return torch.softmax(s, dim=1)


def one_hot(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The labels `y` as one-hot rows with as many classes as `like` has columns, in `like`'s dtype."""
    return F.one_hot(y, like.shape[1]).to(like.dtype)


# ------------------------------------------------------------------ policies


BY_HAND = ("la fonction utilise autograd (backward, torch.autograd.grad, requires_grad…) : "
           "le but du TP est de calculer les gradients à la main, aucun point n'est attribué.")


def by_hand(loop_message: str, autograd_message: str = BY_HAND) -> Policy:
    """An exercise computed by hand: autograd refused, Python loops costing a quarter of its points."""
    return Policy(autograd="forbidden", autograd_message=autograd_message, loops="penalised", loop_penalty=0.25,
                  loop_message=loop_message)


def forbidden(what: str, instead: str, *patterns: str, work: str = "l'exercice") -> tuple[Forbidden, ...]:
    """The library call `what` (seen as any of `patterns`, see `Forbidden`) refused where it does `work`,
    with what to write `instead`."""
    message = f"{what} fait le travail de {work} : il est interdit ici, {instead}. Aucun point n'est attribué."
    return tuple(Forbidden(pattern=pattern, message=message) for pattern in patterns)
