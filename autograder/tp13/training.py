"""TP 13's training, graded as TP 10's (the accuracy the grader recomputes from the parameters and the running
statistics, with `F.batch_norm` in eval mode) and on what TP 13 is about, since most of its mistakes still train
a network that classifies:

* `gradients_finaux`, the gradients the student's functions give (in float64) for the trained network on the
  first 500 training images, in training mode, with the dropout mask `masque_final` the student's `make_mask` drew:
  against autograd's through `F.batch_norm` (batch norm and dropout, forward and backward); the mask itself
  must keep each unit with probability 1 − p;
* `scores_test`, the scores of the test set in evaluation mode (float64): against `F.batch_norm(training=False)`;
* `journal`, the first steps of the training (the batch, the gradients, the parameters and the running
  statistics after each step): Adam replayed by `torch.optim.adam.adam` on the same gradients, the running
  statistics by `F.batch_norm`'s buffers on the same batch.

Where one of them is not torch's, the training keeps a third of its points, and the verdict says which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch.optim.adam import adam

from autograder.compare import float64
from autograder.data import digits_test_set, digits_train_set
from autograder.french import percent
from autograder.specs import VariablesSpec
from autograder.training import DigitsTraining, FinalGradients, deviation
from autograder.verdict import Remark, plain

# the notebook's settings
P, EPS, MOMENTUM = 0.2, 1e-5, 0.1
LR, BETAS, EPS_ADAM, WEIGHT_DECAY = 2e-3, (0.9, 0.999), 1e-8, 1e-4
KEYS = ("w1", "gamma", "beta", "w2", "b2")
STATS = ("mean", "var")
Z_KEPT = 6.0  # a kept fraction is judged within 6 standard deviations of 1 − p (here and in make_mask's check)
# gradients_finaux: on the first 500 training images (the whole set's inputs sum to 0 column by column, which
# would hide a batch-norm backward pass without its mean path from dl_w1)
FINAL = 500


def logits(p: dict, stats: dict, x: torch.Tensor) -> torch.Tensor:
    """The notebook's network in evaluation mode: linear, batch norm (running statistics), ReLU, linear."""
    s1 = x @ p["w1"].T
    h = F.batch_norm(s1, stats["mean"], stats["var"], p["gamma"], p["beta"], training=False, eps=EPS).clamp(min=0)
    return h @ p["w2"].T + p["b2"]


def _loss(p: dict, mask: torch.Tensor) -> torch.Tensor:
    """The mean cross-entropy on the first `FINAL` training images, in training mode, dropout with `mask`."""
    x, y = (t[:FINAL] for t in digits_train_set())
    h = F.batch_norm(x @ p["w1"].T, None, None, p["gamma"], p["beta"], training=True, eps=EPS).clamp(min=0)
    return F.cross_entropy(h * mask / (1 - P) @ p["w2"].T + p["b2"], y)


DIGITS = DigitsTraining(
    logits=lambda p, x: x, keys=KEYS, also=("stats", "gradients_finaux", "masque_final", "scores_test", "journal"),
    uses="vos fonctions (batch norm, dropout, adam_step)",
    malformed='params doit rester un dict {"w1", "gamma", "beta", "w2", "b2"} de torch.Tensor ordinaires, et stats '
              'un dict {"mean", "var"}.')

MESSAGE = ("votre entraînement n'est pas celui de torch ({ecarts}) : un tiers des points au plus. Commencez par les "
           "vérifications de vos fonctions, plus haut.")


def _tensors(value: Any, keys: tuple[str, ...]) -> bool:
    return isinstance(value, dict) and set(value) == set(keys) and all(type(t) is torch.Tensor and t.is_floating_point()
                                                                      for t in value.values())


def kept_as_drawn(kept: float, p: float, n: int) -> bool:
    """Whether `kept`, the fraction of `n` units a mask keeps, is within Z_KEPT standard deviations of 1 − p."""
    return abs(kept - (1 - p)) <= Z_KEPT * math.sqrt(p * (1 - p) / n)


def _mask_problem(mask: Any, rows: int, width: int) -> str | None:
    if type(mask) is not torch.Tensor or tuple(mask.shape) != (rows, width):
        return f"masque_final doit être un tenseur de forme ({rows}, {width})"
    values = mask.to(torch.float64)
    if not bool(((values == 0) | (values == 1)).all()):
        return "masque_final ne contient pas que des 0 et des 1"
    kept = values.mean().item()
    if not kept_as_drawn(kept, P, values.numel()) or bool((values == values[:1]).all()):
        return f"masque_final garde {percent(kept)} des neurones au lieu de {percent(1 - P, 0)}, au hasard"
    return None


def _replayed(journal: Any, train_input: torch.Tensor) -> list[str]:
    """The problems of the first steps of the training, replayed by torch on the same batches and gradients."""
    if not isinstance(journal, dict) or not _tensors(journal.get("params0"), KEYS) \
            or not _tensors(journal.get("stats0"), STATS) or not isinstance(journal.get("pas"), list) \
            or not journal["pas"]:
        return ["journal incomplet"]
    params = float64(journal["params0"])
    stats = float64(journal["stats0"])
    m, v = ({k: torch.zeros_like(t) for k, t in params.items()} for _ in range(2))
    steps = [torch.tensor(0.0, dtype=torch.float64) for _ in KEYS]
    problems = []
    for number, step in enumerate(journal["pas"], 1):
        if not isinstance(step, dict) or not _tensors(step.get("grads"), KEYS) or not _tensors(step.get("params"), KEYS) \
                or not _tensors(step.get("stats"), STATS) or type(step.get("indices")) is not torch.Tensor:
            return [*problems, f"journal incomplet au pas {number}"]
        batch = train_input[step["indices"]] @ params["w1"].T
        F.batch_norm(batch, stats["mean"], stats["var"], training=True, momentum=MOMENTUM)  # updates them in place
        adam([params[k] for k in KEYS], [step["grads"][k].to(torch.float64) for k in KEYS], [m[k] for k in KEYS],
             [v[k] for k in KEYS], [], steps, foreach=False, amsgrad=False, beta1=BETAS[0], beta2=BETAS[1], lr=LR,
             weight_decay=WEIGHT_DECAY, eps=EPS_ADAM, maximize=False)
        for what, found, truth in (("paramètres", step["params"], params), ("statistiques courantes", step["stats"],
                                                                             stats)):
            gaps = {k: deviation(found[k], truth[k], 1e-4, floor=1e-12) for k in truth}
            wrong = {k: g for k, g in gaps.items() if g}
            if wrong:
                problems.append(f"{what} après le pas {number} : " + ", ".join(f"{k} {g}" for k, g in wrong.items()))
        if problems:
            return problems
        params = float64(step["params"])
        stats = float64(step["stats"])
    return []


@dataclass(frozen=True, kw_only=True)
class Training:
    """The digits' verdict (accuracy, testAccuracy), then the gradients, the scores and the first steps."""

    digits: DigitsTraining
    share: float = 1 / 3

    def judge(self, values: dict[str, Any]) -> tuple[float, list]:
        stats = values.get("stats")
        if stats is not None and not _tensors(stats, STATS):
            return 0.0, [plain(self.digits.malformed)]
        stats64 = float64(stats)
        digits = replace(self.digits, logits=lambda p, x: logits(p, stats64, x))
        score, remarks = digits.judge(values)
        params = values.get("params")
        if any(values.get(name) is None for name in digits.variables) or not _tensors(params, KEYS) \
                or not all(torch.isfinite(t).all() for t in [*params.values(), *stats.values()]):
            return score, remarks  # unfinished, malformed or diverged: said already
        params64 = float64(params)
        train_input, _ = digits_train_set()
        problems = []
        mask = values["masque_final"]
        mask_problem = _mask_problem(mask, FINAL, params["w1"].shape[0])
        if mask_problem:
            problems.append(mask_problem)
        else:
            gradients = FinalGradients(digits=digits, loss=lambda p: _loss(p, mask.to(torch.float64)), message="",
                                       tolerance=1e-6)
            errors = gradients.errors(params64, values["gradients_finaux"])
            if errors:
                problems.append("gradients_finaux : " + ", ".join(f"{k} {e}" for k, e in errors.items()))
        gap = deviation(values["scores_test"], logits(params64, stats64, digits_test_set()[0]), 1e-6,
                        floor=1e-12)
        if gap:
            problems.append(f"scores_test (évaluation) : {gap}")
        try:
            problems += _replayed(values["journal"], train_input)
        except Exception as error:  # noqa: BLE001 - a journal of the wrong shapes or indices
            problems.append(f"journal illisible ({type(error).__name__})")
        if problems:
            remarks.insert(1, Remark(text=MESSAGE, values={"ecarts": " ; ".join(problems)}))
            score *= self.share
        return score, remarks

    def spec(self) -> VariablesSpec:
        return replace(self.digits.spec(), judge=self.judge)


SPEC = Training(digits=DIGITS).spec()
