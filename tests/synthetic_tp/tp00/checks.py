"""Checks of TP 0, the synthetic TP of the system tests: specs only (see `autograder.specs`).

The oracles are torch (autograd in float64), never the reference; the reference only stands in for the
other exercises a function calls while it is graded (`forward` calls `sigma`, `backward` calls `gradient`
and `dloss`).
"""

from __future__ import annotations

import torch

from autograder.assignment import Assignment
from autograder.specs import Case, FunctionSpec, Mistake, VariablesSpec
from autograder.tp00.given import nuages
from autograder.toolkit import F32, F64, SIZES_DIFFER, UNDEFINED_NAME, by_hand, gradients, randn, table
from autograder.training import AccuracyGrade
from autograder.verdict import plain

POLICY = by_hand(loop_message="boucle Python détectée : le TP demande des opérations vectorisées")
HINTS = (SIZES_DIFFER, UNDEFINED_NAME)

# ------------------------------------------------------------------ inputs


def _elementwise_cases(*names: str):
    return table([("float64, tenseur 5×3", F64, (5, 3)), ("float32, tenseur 4×2", F32, (4, 2))],
                 lambda gen, shape: {n: randn(gen, *shape, scale=1.5) for n in names})


LAYERS = [("float64, lot 5, 4→3", 5, 4, 3, F64), ("float32, lot 3, 2→5", 3, 2, 5, F32)]  # nbIn ≠ nbOut


def _layer_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, batch, nb_in, nb_out, dtype in LAYERS:
        w, b, x = randn(gen, nb_out, nb_in, scale=0.5), randn(gen, nb_out), randn(gen, batch, nb_in)
        s = x @ w.T + b
        inputs = {"w": w, "b": b, "x": x, "s": s, "v": torch.tanh(s), "t": randn(gen, batch, nb_out, scale=0.5),
                  "dl_v": randn(gen, batch, nb_out), "dl_dw": randn(gen, nb_out, nb_in), "dl_db": randn(gen, nb_out)}
        cases.append(Case(label=label, inputs={k: v.to(dtype) for k, v in inputs.items()}, dtype=dtype))
    return cases


# ------------------------------------------------------------------ oracles (autograd)


def _gradient_oracle(a):
    offset = a["s"] - a["x"] @ a["w"].T  # s is given: keep its value, let gradients flow to w and b

    def upstream(w, b):
        return (torch.tanh(a["x"] @ w.T + b + offset) * a["dl_v"]).sum()
    return gradients(upstream, a["w"], torch.zeros_like(a["s"][0]))


def _backward_oracle(a):
    return gradients(lambda w, b: ((a["t"] - torch.tanh(a["x"] @ w.T + b)) ** 2).sum(), a["w"], a["b"])


# ------------------------------------------------------------------ specs

SIGMA = FunctionSpec(
    name="sigma", points=1, arguments=("x",), outputs=("sigma(x)",), cases=_elementwise_cases("x"), policy=POLICY,
    oracle=lambda a: (torch.tanh(a["x"]),), error_hints=HINTS,
    mistakes=(Mistake(output=0, message="σ est la tangente hyperbolique tanh, pas la sigmoïde.",
                      predict=lambda a, e: torch.sigmoid(a["x"])),),
)

DLOSS = FunctionSpec(
    name="dloss", points=1, arguments=("v", "t"), outputs=("dloss(v, t)",), cases=_elementwise_cases("v", "t"),
    policy=POLICY, error_hints=HINTS,
    oracle=lambda a: gradients(lambda v: ((a["t"] - v) ** 2).sum(), a["v"]),
    mistakes=(Mistake(output=0, message="il manque le facteur 2 : la dérivée de (vᵢ − tᵢ)² est 2 (vᵢ − tᵢ).",
                      predict=lambda a, e: e[0] / 2),
              Mistake(output=0, message="signe inversé : le gradient par rapport à v est 2 (v − t), pas 2 (t − v).",
                      predict=lambda a, e: -e[0])),
)

FORWARD = FunctionSpec(
    name="forward", points=2, arguments=("w", "b", "x"), outputs=("s", "v"), cases=_layer_cases, policy=POLICY,
    oracle=lambda a: (a["x"] @ a["w"].T + a["b"], torch.tanh(a["x"] @ a["w"].T + a["b"])), error_hints=HINTS,
    mistakes=(Mistake(output=None, message="le biais b n'est pas ajouté : s = x @ w.T + b.",
                      predict=lambda a, e: (a["x"] @ a["w"].T, torch.tanh(a["x"] @ a["w"].T))),),
)

GRADIENT = FunctionSpec(
    name="gradient", points=2, arguments=("x", "s", "dl_v"), outputs=("dl_w", "dl_b"), cases=_layer_cases,
    policy=POLICY, oracle=_gradient_oracle, error_hints=HINTS,
    mistakes=(Mistake(output=0, message="gradient de w transposé : dl_w doit avoir la forme de w (nbOut, nbIn), "
                                        "soit dl_s.T @ x.", predict=lambda a, e: e[0].T),
              Mistake(output=1, message="dl_b : sommez sur le lot (dim=0), ne faites pas la moyenne.",
                      predict=lambda a, e: e[1] / a["x"].shape[0])),
)

BACKWARD = FunctionSpec(
    name="backward", points=3, arguments=("x", "t", "s", "v", "dl_dw", "dl_db"), outputs=("dl_dw", "dl_db"),
    cases=_layer_cases, policy=POLICY, oracle=_backward_oracle, accumulates=("dl_dw", "dl_db"), error_hints=HINTS,
    mistakes=(*(Mistake(output=i, message="`{output}` n'est pas modifié : `{output} = {output} + …` crée un nouveau "
                                          "tenseur local ; accumulez en place avec `{output} += …`.",
                        predict=lambda a, e, i=i: torch.zeros_like(e[i])) for i in range(2)),
              Mistake(output=None, message="signe inversé : vérifiez l'ordre des arguments de dloss(v, t).",
                      predict=lambda a, e: tuple(-g for g in e))),
)

# ------------------------------------------------------------------ training


def _test_set() -> tuple[torch.Tensor, torch.Tensor]:
    """The notebook's test points and classes, rebuilt here as the notebook builds them."""
    _, _, x_test, classes_test = nuages()
    return x_test.double(), classes_test


ACCURACY = AccuracyGrade(
    full_marks=0.9, chance=1 / 3, word="exactitude",
    too_low="l'exactitude est trop basse : l'entraînement utilise vos fonctions (forward, backward), "
            "vérifiez-les d'abord avec leurs tests.",
    fractions="testAccuracy est une exactitude : une fraction entre 0 et 1 (pas un pourcentage).")


def _judge_training(values: dict) -> tuple[float, list]:
    missing = [k for k in ("w", "b", "testAccuracy") if values.get(k) is None]
    if missing:
        return 0.0, [plain(f"variables absentes après l'entraînement : {', '.join(missing)} — exécutez toute "
                           "la cellule d'entraînement.")]
    w, b = values["w"], values["b"]
    if type(w) is not torch.Tensor or type(b) is not torch.Tensor:
        return 0.0, [plain("w et b doivent rester des torch.Tensor ordinaires.")]
    x_test, classes_test = _test_set()

    def accuracy() -> float:
        return ((x_test @ w.double().T + b.double()).argmax(dim=1) == classes_test).double().mean().item()
    return ACCURACY.judge(accuracy_of=accuracy, tensors=[w, b], reported=values["testAccuracy"],
                          test_size=len(classes_test))


TRAINING = VariablesSpec(name="training", label="entraînement", points=2, variables=("w", "b", "testAccuracy"),
                         judge=_judge_training)

ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[SIGMA, DLOSS, FORWARD, GRADIENT, BACKWARD, TRAINING])
grade = ASSIGNMENT.grade
