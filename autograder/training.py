"""A training graded from the parameters it left: accuracy recomputed by the grader on data it rebuilds.

Each TP says which variables hold its parameters and how to run its network; what the
score is made of is shared: full marks from `full_marks`, none at `chance` or below,
linear in between, and −25 % when the accuracy the notebook reports is not the one its
final parameters give (a percentage, or measured before the last update).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch

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
                               f"{self.full_marks:.0%}), recalculée à partir de ses paramètres.",
                          values={"exactitude": f"{accuracy:.1%}"})]
        if score < 1:
            remarks.append(plain(self.too_low))
        if type(reported) not in (int, float) or not 0 <= reported <= 1:
            score *= 0.75
            remarks.append(plain(self.fractions))
        elif abs(reported - accuracy) > 1.5 / test_size:
            score *= 0.75
            remarks.append(Remark(text=f"{self.reported_name} vaut {{rapportée}} mais le réseau final obtient "
                                       "{exactitude} : calculez-la avec les paramètres après la dernière mise à jour.",
                                  values={"rapportée": f"{reported:.1%}", "exactitude": f"{accuracy:.1%}"}))
        return score, remarks

    def judge_parameters(self, values: dict[str, Any], *, keys: tuple[str, ...], accuracy_of: Callable[[dict], float],
                         test_size: int, unfinished: str, malformed: str, name: str = "params") -> tuple[float, list]:
        """For a training that leaves its parameters in `name`, a dict of plain tensors with these `keys`, and
        its accuracy: `unfinished` follows the names of the missing variables, `malformed` replaces the verdict
        when the parameters are not such a dict."""
        missing = [k for k in (name, self.reported_name) if values.get(k) is None]
        if missing:
            return 0.0, [", ".join(missing) + unfinished]
        params = values[name]
        if not isinstance(params, dict) or set(params) != set(keys) \
                or any(type(t) is not torch.Tensor for t in params.values()):
            return 0.0, [malformed]
        return self.judge(accuracy_of=lambda: accuracy_of(params), tensors=list(params.values()),
                          reported=values[self.reported_name], test_size=test_size)
