"""What the checks of every TP share, so that a TP's `checks.py` holds only its own content.

Inputs drawn from the grader's generator, oracles computed by torch (autograd, softmax,
one-hot), the policy of an exercise written by hand, and the one French sentence that
refuses a library call doing an exercise's own work.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch.utils._pytree import tree_map

from autograder.codec import Seed
from autograder.french import formatted
from autograder.specs import Case, Forbidden, Inputs, Mistake, Policy
from autograder.verdict import Remark


# ------------------------------------------------------------------ inputs and oracles

F64, F32 = torch.float64, torch.float32


def table(rows: list[tuple], draw: Callable[..., Inputs]) -> Callable[[torch.Generator], list[Case]]:
    """A spec's `cases`: one per row `(label, dtype, *sizes)`, whose inputs `draw(generator, *sizes)` gives in
    float64 — the same draws whatever the dtype — then cast, float tensors only, to the row's dtype."""
    def cases(gen: torch.Generator) -> list[Case]:
        return [Case(label=label, inputs=cast(draw(gen, *sizes), dtype), dtype=dtype) for label, dtype, *sizes in rows]
    return cases


def seed(gen: torch.Generator) -> Seed:
    """A seed drawn from the grader's generator, for a function that must draw from the generator it is given."""
    return Seed(int(torch.randint(0, 2 ** 62, (), generator=gen)))


def seeded(rows: list[tuple], *names: str) -> Callable[[torch.Generator], list[Case]]:
    """A statistical spec's `cases`: one per row `(label, *values)`, the values named `names`, and a `generator`
    seeded from the grader's generator."""
    def cases(gen: torch.Generator) -> list[Case]:
        return [Case(label=label, inputs={**dict(zip(names, values)), "generator": seed(gen)}) for label, *values in rows]
    return cases


def two_sided(z: float) -> float:
    """The probability that a normal statistic falls more than `z` standard deviations from its mean."""
    return math.erfc(z / math.sqrt(2))


def with_kinks(x: torch.Tensor, every: int = 3) -> torch.Tensor:
    """`x` with one element in `every` set to 0, where ReLU is not differentiable (autograd gives 0 there)."""
    x.view(-1)[::every] = 0.0
    return x


def update_trajectory(params: dict[str, torch.Tensor], steps: list[dict],
                      update: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """The parameters after each step of a hand-written update of each one, `update(p, v, g, **others) -> (p, v)`
    with its buffer `v` starting at zeros, `g` its gradient and `others` the step's other arguments (`lr`…):
    an optimiser exercise's common mistakes, as trajectories of the parameters."""
    params = {k: v.clone() for k, v in params.items()}
    buffers = {k: torch.zeros_like(v) for k, v in params.items()}
    trajectory = []
    for step in steps:
        others = {k: v for k, v in step.items() if k != "grads"}
        for k in params:
            params[k], buffers[k] = update(params[k], buffers[k], step["grads"][k], **others)
        trajectory.append({k: v.clone() for k, v in params.items()})
    return trajectory


def cast(inputs: Inputs, dtype: torch.dtype) -> Inputs:
    """The inputs' float tensors in `dtype`, also inside nested dicts, lists and tuples (TP 14's parameters and
    caches); the rest as it is."""
    return tree_map(lambda v: v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v, inputs)


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
COMMON_HINTS = (SIZES_DIFFER, UNDEFINED_NAME)
SHAPE_HINT = ("shapes cannot be multiplied", "produit matriciel impossible : w a la forme (nbOut, nbIn) et l'entrée de "
                                             "la couche (batch, nbIn) — vérifiez les transpositions.")
# the gradient of a mean over the batch, with respect to the logits of a softmax
NOT_DIVIDED_BY_N = "le gradient n'est pas divisé par la taille du lot N : la perte est une moyenne."
OVERFLOW = ("débordement sur de grands logits (exp(1000) = inf) : soustrayez d'abord le maximum de chaque ligne, "
            "log_softmax(s) = (s − m) − log Σ exp(s − m).")
CLASS_INDICES = ("index", "y contient des indices de classe (int64) : il faut l'élément [n, y[n]] de chaque ligne n, "
                          "par exemple avec gather, s[torch.arange(N), y] ou F.one_hot(y, C).")
# softmax and the losses built on it, as torch ops: a call to any of them does a softmax exercise's work
SOFTMAX_OPS = {"softmax": "torch.softmax", "_softmax": "torch._softmax", "special_softmax": "torch.special.softmax",
               "softmin": "F.softmin", "log_softmax": "torch.log_softmax", "_log_softmax": "torch._log_softmax",
               "special_log_softmax": "torch.special.log_softmax", "cross_entropy": "F.cross_entropy",
               "cross_entropy_loss": "torch's cross_entropy_loss", "nll_loss": "F.nll_loss",
               "nll_loss_nd": "F.nll_loss", "nll_loss2d": "F.nll_loss"}


def layer_gradients(weight: int | str, bias: int | str, *, dl_w: Callable[[tuple], torch.Tensor],
                    dl_b: Callable[[tuple], torch.Tensor], batch: Callable[[Inputs], int]) -> tuple[Mistake, ...]:
    """A linear layer's gradients (outputs `weight` and `bias`, expected `dl_w(expected)` and `dl_b(expected)`)
    as they go wrong: the weight's transposed, the bias's averaged over the batch of size `batch(inputs)`."""
    return (Mistake(output=weight, message="`{output}` est transposé : le gradient d'un poids a sa forme, soit "
                                           "dl_s.T @ (entrée de la couche).", predict=lambda a, e: dl_w(e).T),
            Mistake(output=bias, message="`{output}` : sommez dl_s sur le lot (dim=0), ne faites pas la moyenne.",
                    predict=lambda a, e: dl_b(e) / batch(a)))


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


def forbidden_ops(ops: dict[str, str], instead: str) -> tuple[Forbidden, ...]:
    """Each torch op of `ops` (name: the call students write) refused with a message naming that call."""
    return tuple(rule for op, call in ops.items() for rule in forbidden(f"`{call}`", instead, f"op:{op}"))


# ------------------------------------------------------------------ statistics


Z_MOMENTS, Z_KURTOSIS = 6.0, 7.0  # `normal_draw`'s thresholds, in standard deviations of each statistic


def normal_false_rejection(z_moments: float = Z_MOMENTS, z_kurtosis: float = Z_KURTOSIS) -> float:
    """The probability that `normal_draw` rejects one sample of the right normal law."""
    return 2 * two_sided(z_moments) + two_sided(z_kurtosis)


def normal_draw(w: Any, shape: tuple[int, ...], variance: float, *, shape_name: str, variance_name: str,
                known: tuple[tuple[float, str], ...] = (), z_moments: float = Z_MOMENTS, z_kurtosis: float = Z_KURTOSIS,
                advice: str = "tirez-les avec torch.randn(…, generator=generator)") -> list:
    """The problems of `w` as a sample of N(0, `variance`) of the given shape (French, empty when none): mean and
    variance within `z_moments` standard deviations of each statistic, excess kurtosis within `z_kurtosis`
    (normal approximations); a variance equal to one of `known` (variance, message) gets that message."""
    if type(w) is not torch.Tensor or not w.is_floating_point():
        return [f"la fonction doit renvoyer un tenseur de flottants, pas {type(w).__name__}."]
    if tuple(w.shape) != tuple(shape):
        return [f"forme attendue {shape_name} = {tuple(shape)}, obtenue {tuple(w.shape)}."]
    w = w.to(torch.float64).flatten()
    n, mean, var = w.numel(), w.mean().item(), w.var().item()
    if not math.isfinite(var):
        return ["les valeurs tirées contiennent des NaN ou des infinis."]
    if abs(mean) > z_moments * math.sqrt(variance / n):
        return [Remark(text="les valeurs tirées doivent être centrées : moyenne {moyenne} au lieu de 0.",
                       values={"moyenne": formatted(mean, ".3g")})]

    def near(target: float) -> bool:
        return abs(var / target - 1) <= z_moments * math.sqrt(2 / (n - 1))
    if not near(variance):
        return [next((message for target, message in known if near(target)), None)
                or Remark(text=f"variance des valeurs tirées {{variance}} au lieu de {variance_name} = {{attendue}}.",
                          values={"variance": formatted(var, ".3g"), "attendue": formatted(variance, ".3g")})]
    kurtosis = (((w - mean) ** 4).mean() / ((w - mean) ** 2).mean() ** 2).item() - 3
    if abs(kurtosis) > z_kurtosis * math.sqrt(24 / n):
        return [f"les valeurs tirées ont la bonne variance mais ne suivent pas une loi normale (loi uniforme ?) : "
                f"{advice}."]
    return []
