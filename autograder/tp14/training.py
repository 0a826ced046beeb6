"""TP 14's training, « Retrouver le jumeau », graded from the parameters it leaves: the grader rebuilds the 2,000
test sets (`autograder.data.twin_test_sets`) and recomputes the accuracy with torch's own layers
(`F.linear`, `F.embedding`, `nn.TransformerEncoderLayer`, `F.layer_norm`). Most mistakes of the exercises still
train a network that finds twins, so the training is also judged on what the student's functions computed: the
gradients they give (in float64) for the trained network on the first 100 test sets, without the mask
(`gradients_finaux`) and with it (`gradients_causaux`), against autograd's through torch's layers. Where they
are not torch's, the training keeps a third of its points, and the verdict says which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from autograder.data import twin_test_sets
from autograder.specs import VariablesSpec
from autograder.training import DigitsTraining, FinalGradients
from autograder.verdict import Remark

# the notebook's model: one block of D = 32 features, 4 heads, d_ff = 64
HEADS = 4
EPS = 1e-5  # every layer norm's, as nn.TransformerEncoderLayer's
ATTENTION = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")
BLOCK = (*ATTENTION, "ln1_g", "ln1_b", "ln2_g", "ln2_b", "w1", "b1", "w2", "b2")
KEYS = ("we", "be", "seg", *BLOCK, "lnf_g", "lnf_b", "w_out", "b_out")
SHOWN = 3  # parameters named per gradient variable in the verdict
FINAL = 100  # gradients_finaux and gradients_causaux: on the first 100 test sets
LAYER = {"ln1_g": "norm1.weight", "ln1_b": "norm1.bias", "ln2_g": "norm2.weight", "ln2_b": "norm2.bias",
         "w1": "linear1.weight", "b1": "linear1.bias", "w2": "linear2.weight", "b2": "linear2.bias",
         "wo": "self_attn.out_proj.weight", "bo": "self_attn.out_proj.bias"}


def block(p: dict, x: torch.Tensor, h: int, causal: bool) -> torch.Tensor:
    """nn.TransformerEncoderLayer (pre-LN, ReLU, no dropout; training mode: no fast path) on the parameters `p`."""
    layer = nn.TransformerEncoderLayer(x.shape[-1], h, p["w1"].shape[0], dropout=0.0, activation="relu",
                                       batch_first=True, norm_first=True, dtype=x.dtype).train()
    tensors = {theirs: p[mine] for mine, theirs in LAYER.items()}
    tensors["self_attn.in_proj_weight"] = torch.cat([p["wq"], p["wk"], p["wv"]])
    tensors["self_attn.in_proj_bias"] = torch.cat([p["bq"], p["bk"], p["bv"]])
    mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1], dtype=x.dtype) if causal else None
    return torch.func.functional_call(layer, tensors, (x,), {"src_mask": mask, "is_causal": causal})


def scores(p: dict, x: torch.Tensor, causal: bool = False) -> torch.Tensor:
    """The notebook's network on sets `x` (N, size, 64), the query first: one score per image."""
    ids = torch.ones(x.shape[1], dtype=torch.long)
    ids[0] = 0
    e = F.linear(x, p["we"], p["be"]) + F.embedding(ids, p["seg"])
    n = F.layer_norm(block(p, e, HEADS, causal), (e.shape[-1],), p["lnf_g"], p["lnf_b"], EPS)
    return n @ p["w_out"] + p["b_out"]


def _loss(p: dict, causal: bool) -> torch.Tensor:
    inputs, twins = twin_test_sets()
    return F.cross_entropy(scores(p, inputs[:FINAL], causal), twins[:FINAL])


DIGITS = DigitsTraining(
    logits=lambda p, x: scores(p, x), keys=KEYS, test_set=twin_test_sets, full_marks=0.85, chance=0.4,
    also=("gradients_finaux", "gradients_causaux"), uses="vos fonctions (softmax, attention, layer norm, bloc…)")
MESSAGE = ("vos fonctions ne calculent pas les gradients de torch pour le réseau entraîné ({ecarts}) : un tiers des "
           "points au plus. Commencez par les vérifications de vos fonctions, plus haut.")
GRADIENTS = {"gradients_finaux": FinalGradients(digits=DIGITS, loss=lambda p: _loss(p, False), message=MESSAGE,
                                                tolerance=1e-6),
             "gradients_causaux": FinalGradients(digits=DIGITS, loss=lambda p: _loss(p, True), message=MESSAGE,
                                                 tolerance=1e-6, variable="gradients_causaux")}


@dataclass(frozen=True, kw_only=True)
class Training:
    """The twins' verdict (accuracy, testAccuracy), then the gradients with and without the causal mask."""

    digits: DigitsTraining
    share: float = 1 / 3

    def judge(self, values: dict[str, Any]) -> tuple[float, list]:
        score, remarks = self.digits.judge(values)
        params = values.get("params")
        if any(values.get(name) is None for name in self.digits.variables) or not isinstance(params, dict) \
                or set(params) != set(KEYS) or any(type(t) is not torch.Tensor for t in params.values()) \
                or not all(torch.isfinite(t).all() for t in params.values()):
            return score, remarks  # unfinished, malformed or diverged: said already
        problems = []
        for variable, check in GRADIENTS.items():
            try:
                errors = check.errors(params, values.get(variable))
            except Exception as error:  # noqa: BLE001 - parameters of the wrong shape, say
                errors = {"params": type(error).__name__}
            if errors:
                listed = [f"{k} {e}" for k, e in list(errors.items())[:SHOWN]]
                more = f" et {len(errors) - SHOWN} autres paramètres" if len(errors) > SHOWN else ""
                problems.append(f"{variable} : " + ", ".join(listed) + more)
        if not problems:
            return score, remarks
        reported = values.get(self.digits.grade.reported_name)
        if type(reported) in (int, float) and 0 <= reported <= 1:
            # the notebook measured its own network, which is not torch's: that is the verdict, not a misreport
            accuracy = self.digits.accuracy(params)
            score, remarks = self.digits.judge({**values, self.digits.grade.reported_name: accuracy})
        remarks.insert(1, Remark(text=MESSAGE, values={"ecarts": " ; ".join(problems)}))
        return score * self.share, remarks

    def spec(self) -> VariablesSpec:
        return replace(self.digits.spec(), judge=self.judge)


SPEC = Training(digits=DIGITS).spec()
