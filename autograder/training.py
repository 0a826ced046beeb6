"""A training graded from the parameters it left: accuracy recomputed by the grader on data it rebuilds.

`DigitsTraining` is the whole check of a TP whose training ends on the digits (TP 9, 10, 11, 12): the TP
gives its network and its French advice, and gets its `VariablesSpec`; `FinalGradients` adds the gradients
the student's code gives for the trained network (TP 11, 12).

Each TP says which variables hold its parameters and how to run its network; what the
score is made of is shared: full marks from `full_marks`, none at `chance` or below,
linear in between, and −25 % when the accuracy the notebook reports is not the one its
final parameters give (a percentage, or measured before the last update).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch

from autograder.data import digits_test_set
from autograder.french import formatted, percent
from autograder.specs import VariablesSpec
from autograder.toolkit import gradients
from autograder.verdict import Remark, plain


@dataclass(frozen=True, kw_only=True)
class AccuracyGrade:
    full_marks: float
    chance: float
    word: str          # how the TP names accuracy in French ("exactitude")
    too_low: str       # the TP's advice when the accuracy is below full marks
    fractions: str     # the TP's message when the reported accuracy is not a fraction
    reported_name: str = "testAccuracy"

    def judge(self, *, accuracy_of: Callable[[], float], tensors: list[Any], reported: Any,
              test_size: int) -> tuple[float, list[Remark]]:
        """Score in [0, 1] and French messages, for parameters already checked to be plain tensors."""
        try:
            accuracy = accuracy_of()
        except Exception as error:  # noqa: BLE001 - parameters of the wrong shape, say
            return 0.0, [plain(f"impossible d'évaluer le réseau entraîné : {type(error).__name__}: {error}")]
        if math.isnan(accuracy) or not all(torch.isfinite(t).all() for t in tensors):
            return 0.0, [plain("les paramètres contiennent des NaN ou des infinis : le pas d'apprentissage diverge ?")]
        score = min(1.0, max(0.0, (accuracy - self.chance) / (self.full_marks - self.chance)))
        remarks = [Remark(text=f"{self.word} de test du réseau entraîné : {{exactitude}} (tous les points à partir de "
                               f"{percent(self.full_marks, 0)}), recalculée à partir de ses paramètres.",
                          values={"exactitude": percent(accuracy)})]
        if score < 1:
            remarks.append(plain(self.too_low))
        if type(reported) not in (int, float) or not 0 <= reported <= 1:
            score *= 0.75
            remarks.append(plain(self.fractions))
        elif abs(reported - accuracy) > 1.5 / test_size:
            score *= 0.75
            remarks.append(Remark(text=f"{self.reported_name} vaut {{rapportée}} mais le réseau final obtient "
                                       "{exactitude} : calculez-la avec les paramètres après la dernière mise à jour.",
                                  values={"rapportée": percent(reported), "exactitude": percent(accuracy)}))
        return score, remarks


@dataclass(frozen=True, kw_only=True)
class DigitsTraining:
    """A training on the digits (`autograder.data`), graded from the parameters the notebook leaves.

    The parameters are the `keys` of the dict variable `params`, or, with `params=None`, variables of
    their own; `logits(parameters, inputs)` runs the TP's network on them (float64) and the grader
    recomputes the test accuracy; `testAccuracy` is the one the notebook reports. French texts:
    `unfinished` names the missing variables where it says `{manquantes}`; `malformed` replaces the
    verdict when the parameters are not plain tensors; `too_low` and `fractions` as in `AccuracyGrade`.
    Without them, `too_low` and `unfinished` say that the training runs on `uses` (« vos fonctions (…) »).
    """

    logits: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor]
    uses: str = "vos fonctions"
    too_low: str = ""
    unfinished: str = ""
    malformed: str = ""
    fractions: str = "testAccuracy doit être une fraction entre 0 et 1 (pas un pourcentage)."
    keys: tuple[str, ...] = ("w1", "b1", "w2", "b2")
    params: str | None = "params"
    also: tuple[str, ...] = ()  # other variables the training must leave
    points: float = 3
    test_set: Callable[[], tuple[torch.Tensor, torch.Tensor]] = digits_test_set  # the inputs `logits` reads
    full_marks: float = 0.95
    chance: float = 0.5

    def __post_init__(self):
        keys = ", ".join(f'"{k}"' for k in self.keys)
        defaults = {
            "too_low": f"l'exactitude est trop basse : l'entraînement utilise {self.uses} — vérifiez-les d'abord "
                       "avec leurs tests.",
            "unfinished": f"{{manquantes}} n'existe(nt) pas : l'entraînement n'est pas allé au bout. Il utilise "
                          f"{self.uses} : si l'une d'elles lève une erreur, corrigez-la d'abord (voir son test), "
                          "puis exécutez toutes les cellules.",
            "malformed": (f"{self.params} doit rester un dict {{{keys}}} de torch.Tensor ordinaires." if self.params
                          else f"{', '.join(self.keys)} doivent rester des torch.Tensor ordinaires.")}
        for name, text in defaults.items():
            if not getattr(self, name):
                object.__setattr__(self, name, text)

    @property
    def variables(self) -> tuple[str, ...]:
        return (*((self.params,) if self.params else self.keys), *self.also, self.grade.reported_name)

    @property
    def grade(self) -> AccuracyGrade:
        return AccuracyGrade(full_marks=self.full_marks, chance=self.chance, word="exactitude", too_low=self.too_low,
                             fractions=self.fractions)

    def accuracy(self, parameters: dict[str, torch.Tensor]) -> float:
        inputs, labels = self.test_set()
        logits = self.logits({k: parameters[k].to(torch.float64) for k in self.keys}, inputs)
        return (logits.argmax(dim=1) == labels).double().mean().item()

    def judge(self, values: dict[str, Any]) -> tuple[float, list[Remark]]:
        """The trained network's exactitude on the notebook's test set, recomputed here, and `testAccuracy` checked."""
        missing = [k for k in self.variables if values.get(k) is None]
        if missing:
            return 0.0, [plain(self.unfinished.replace("{manquantes}", ", ".join(missing)))]
        parameters = values[self.params] if self.params else {k: values[k] for k in self.keys}
        if not isinstance(parameters, dict) or set(parameters) != set(self.keys) \
                or any(type(t) is not torch.Tensor for t in parameters.values()):
            return 0.0, [plain(self.malformed)]
        return self.grade.judge(accuracy_of=lambda: self.accuracy(parameters), tensors=list(parameters.values()),
                                reported=values[self.grade.reported_name], test_size=len(self.test_set()[1]))

    def spec(self) -> VariablesSpec:
        return VariablesSpec(name="training", label="entraînement", points=self.points, variables=self.variables,
                             judge=self.judge)


def _relative(error: float, scale: float) -> str:
    """`error` as a share of `scale`, as French writes it: « 26 % », « 0,4 % »."""
    if not scale or error != error:
        return formatted(error, ".1e") if scale else "∞"
    return percent(error / scale, 0 if error >= 0.1 * scale else 1)


def deviation(found: Any, truth: torch.Tensor, tolerance: float, floor: float = 1e-8, of: str = "") -> str | None:
    """How far the student's tensor `found` is from `truth`, in French (`of`: what the share is of); None when
    within `tolerance` of `truth`'s largest value, plus `floor`."""
    if type(found) is not torch.Tensor or not found.is_floating_point():
        return "absent"
    if found.shape != truth.shape:
        return f"forme {tuple(found.shape)} au lieu de {tuple(truth.shape)}"
    scale = truth.abs().max().item()
    error = (found.to(torch.float64) - truth).abs().max().item()
    if error <= tolerance * scale + floor:
        return None
    if not math.isfinite(error):
        return "valeurs non finies"
    return " ".join(["écart jusqu'à", _relative(error, scale), *([of] if of else [])])


@dataclass(frozen=True, kw_only=True)
class FinalGradients:
    """A `DigitsTraining` also graded on what the TP is about: the gradients the student's code gives for the
    trained network on the whole training set (`gradients_finaux`, computed in the notebook), against
    autograd's of `loss(parameters)` in float64. Code that computes other gradients than torch's trains
    another network, even one that classifies (TP 11: an engine that drops a contribution; TP 12: pooling
    indices local to the window): the training then keeps `share` of its points, and `message` (French, with
    `{ecarts}` for the gradients found wrong) says so.

    `tolerance`, relative to the largest gradient: the references' float32 rounding gives about 1e-6, the
    catalogued mistakes a quarter of it or more."""

    digits: DigitsTraining
    loss: Callable[[dict[str, torch.Tensor]], torch.Tensor]
    message: str
    tolerance: float = 1e-3
    share: float = 1 / 3
    variable: str = "gradients_finaux"

    def errors(self, params: dict[str, torch.Tensor], found: Any) -> dict[str, str]:
        """Per parameter whose gradient in `found` is not autograd's: how far off it is, in French."""
        keys = self.digits.keys
        expected = gradients(lambda *t: self.loss(dict(zip(keys, t))), *(params[k].to(torch.float64) for k in keys))
        gaps = {key: deviation(found.get(key) if isinstance(found, dict) else None, truth, self.tolerance,
                               of="du plus grand gradient") for key, truth in zip(keys, expected)}
        return {key: gap for key, gap in gaps.items() if gap}

    def judge(self, values: dict[str, Any]) -> tuple[float, list[Remark]]:
        score, remarks = self.digits.judge(values)
        params = values.get(self.digits.params)
        if any(values.get(name) is None for name in self.digits.variables) or not isinstance(params, dict) \
                or set(params) != set(self.digits.keys) or any(type(t) is not torch.Tensor for t in params.values()) \
                or not all(torch.isfinite(t).all() for t in params.values()):
            return score, remarks  # unfinished, malformed or diverged: said already
        try:
            errors = self.errors(params, values.get(self.variable))
        except Exception as error:  # noqa: BLE001 - parameters of the wrong shape, say
            errors = {self.digits.params: f"{type(error).__name__}"}
        if errors:
            listed = " ; ".join(f"{k} : {e}" for k, e in errors.items())
            remarks.insert(1, Remark(text=self.message, values={"ecarts": listed}))
            score *= self.share
        return score, remarks

    def spec(self) -> VariablesSpec:
        return replace(self.digits.spec(), judge=self.judge)
