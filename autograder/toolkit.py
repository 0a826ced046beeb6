"""What the checks of every TP share, so that a TP's `checks.py` holds only its own content.

Inputs drawn from the grader's generator, oracles computed by torch (autograd, softmax,
one-hot), the policy of an exercise written by hand, and the one French sentence that
refuses a library call doing an exercise's own work.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from autograder.codec import Seed
from autograder.specs import Case, Forbidden, Inputs, Mistake, Policy


# ------------------------------------------------------------------ inputs and oracles

F64, F32 = torch.float64, torch.float32


def table(rows: list[tuple], draw: Callable[..., Inputs]) -> Callable[[torch.Generator], list[Case]]:
    """A spec's `cases`: one per row `(label, dtype, *sizes)`, whose inputs `draw(generator, *sizes)` gives in
    float64 — the same draws whatever the dtype — then cast, float tensors only, to the row's dtype."""
    def cases(gen: torch.Generator) -> list[Case]:
        return [Case(label=label, inputs=_cast(draw(gen, *sizes), dtype), dtype=dtype) for label, dtype, *sizes in rows]
    return cases


def seed(gen: torch.Generator) -> Seed:
    """A seed drawn from the grader's generator, for a function that must draw from the generator it is given."""
    return Seed(int(torch.randint(0, 2 ** 62, (), generator=gen)))


def two_sided(z: float) -> float:
    """The probability that a normal statistic falls more than `z` standard deviations from its mean."""
    return math.erfc(z / math.sqrt(2))


def optimiser_trajectory(make: Callable[[list[torch.Tensor]], torch.optim.Optimizer], params: dict[str, torch.Tensor],
                         steps: list[dict]) -> list[dict[str, torch.Tensor]]:
    """The parameters after each step of the torch optimiser `make(parameters)` (the oracle of an optimiser
    exercise), each step's `grads` given and, when the step has one, its learning rate `lr` set."""
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    optimiser = make(list(leaves.values()))
    trajectory = []
    for step in steps:
        for k, leaf in leaves.items():
            leaf.grad = step["grads"][k].clone()
        if "lr" in step:
            optimiser.param_groups[0]["lr"] = step["lr"]
        optimiser.step()
        trajectory.append({k: v.detach().clone() for k, v in leaves.items()})
    return trajectory


def _cast(inputs: Inputs, dtype: torch.dtype) -> Inputs:
    return {k: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v for k, v in inputs.items()}


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


def labels(gen: torch.Generator, n: int, classes: int) -> torch.Tensor:
    """`n` class labels: with the last class among them when `n` > 1; in a batch of one, a class that is
    neither the first nor the last, so that a one-hot built without the number of classes (`F.one_hot(y)`,
    `max(y) + 1` columns) can neither be right nor broadcast, whatever the draw."""
    if n == 1:
        return torch.randint(1, classes - 1, (1,), generator=gen)
    y = torch.randint(0, classes, (n,), generator=gen)
    y[int(torch.randint(0, n, (), generator=gen))] = classes - 1
    return y


def one_hot(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The labels `y` as one-hot rows with as many classes as `like` has columns, in `like`'s dtype."""
    return F.one_hot(y, like.shape[1]).to(like.dtype)


# ------------------------------------------------------------------ mistakes and hints

UNDEFINED_NAME = ("is not defined", "une variable utilisée dans la fonction n'existe pas : n'utilisez que ses arguments.")
SIZES_DIFFER = ("must match the size", "formes incompatibles : comparez les formes de vos tenseurs avec celles de l'énoncé.")
ONE_HOT_WIDTH = ("must match the size", "formes incompatibles : si vous formez le one-hot avec F.one_hot(y), donnez-lui "
                                        "le nombre de classes, F.one_hot(y, s.shape[1]) ; sans lui, il n'a que max(y) + 1 "
                                        "colonnes quand la dernière classe manque au lot.")


def return_order(names: tuple[str, ...]) -> tuple[Mistake, ...]:
    """Outputs returned in another order than `names`."""
    message = f"ordre de retour : la fonction doit renvoyer `({', '.join(names)})`, dans cet ordre."
    return tuple(Mistake(output=i, message=message, predict=lambda a, e, j=j: e[j])
                 for i in range(len(names)) for j in range(len(names)) if i != j)


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
