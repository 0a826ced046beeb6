"""Checks of TP 11, named by the hidden tests of `source/tp11`: specs only (see `autograder.specs`).

Oracles: autograd in float64 — of the operation itself for each backward rule, of the
whole expression graph for `backward`; the order `topological_order` gives is judged by
its properties (several orders are right). Graphs are plain descriptions (`graphs.graph_cases`)
that the drivers of `given.py` build with the notebook's own `Tensor` class. The training, graded on its
accuracy and on the engine's gradients for the trained network: `training.py`.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

from autograder.assignment import Assignment
from autograder.toolkit import (CLASS_INDICES, F32, F64, NOT_DIVIDED_BY_N, ONE_HOT_WIDTH, UNDEFINED_NAME, by_hand,
                                forbidden, gradients, labels, one_hot, randn, softmax, table, with_kinks)
from autograder.specs import FunctionSpec, Mistake, ScenarioSpec
from autograder.tp11 import given, graphs, training

RULE = by_hand(
    loop_message="boucle Python détectée : une règle de gradient s'écrit avec des opérations sur tout le tenseur",
    autograd_message=("la fonction utilise l'autograd de torch (backward, torch.autograd.grad, requires_grad…) : "
                      "ce TP écrit le sien, celui de torch est interdit ; aucun point n'est attribué."))
WALK = replace(RULE, loops="allowed")  # graph walks and loops over dimensions need them
SUM_TO_SIZE = forbidden("`sum_to_size`", "sommez vous-même sur les bonnes dimensions", "op:sum_to_size",
                        work="`unbroadcast`")
COMMON_HINTS = (
    ("must match the size", "formes incompatibles : sommez sur les dimensions diffusées (unbroadcast) pour que chaque "
                            "gradient ait la forme de son entrée."),
    UNDEFINED_NAME,
)
GIVEN_CLASS_HINT = ("has no attribute", "la vérification utilise la classe Tensor de l'énoncé, telle quelle : "
                                        "n'utilisez que data, grad, parents, rule et op.")

# ------------------------------------------------------------------ the rules: function checks


def _broadcast(gen: torch.Generator, shape_a: tuple, shape_b: tuple) -> dict:
    """a and b of shapes that broadcast, and the gradient of the loss (« perte ») with respect to their result."""
    a, b = randn(gen, *shape_a), randn(gen, *shape_b)
    return {"dl_out": randn(gen, *torch.broadcast_shapes(shape_a, shape_b)), "a": a, "b": b}


_broadcast_cases = table([("float64, (4, 3) et (4, 3)", F64, (4, 3), (4, 3)), ("float64, (4, 3) et (3,)", F64, (4, 3), (3,)),
                          ("float64, (4, 3) et (4, 1)", F64, (4, 3), (4, 1)), ("float32, (5, 2) et un scalaire", F32, (5, 2), ()),
                          ("float64, (3,) et (2, 3)", F64, (3,), (2, 3)), ("float32, (1, 4) et (3, 1)", F32, (1, 4), (3, 1))],
                         _broadcast)
_unbroadcast_cases = table([("float64, (4, 3) vers (3,)", F64, (4, 3), (3,)), ("float64, (4, 3) vers (4, 1)", F64, (4, 3), (4, 1)),
                            ("float64, (4, 3) vers (1, 3)", F64, (4, 3), (1, 3)),
                            ("float64, (4, 3) vers un scalaire ()", F64, (4, 3), ()),
                            ("float64, (2, 5, 3) vers (5, 1)", F64, (2, 5, 3), (5, 1)),
                            ("float32, (4, 3) vers (4, 3) : rien à sommer", F32, (4, 3), (4, 3)),
                            ("float32, (6, 5) vers (5,)", F32, (6, 5), (5,))],
                           lambda gen, grad_shape, shape: {"grad": randn(gen, *grad_shape), "shape": shape})


def _unbroadcast_oracle(a: dict) -> tuple:
    grad = a["grad"]
    return gradients(lambda x: (x.expand(grad.shape) * grad).sum(), torch.zeros(a["shape"], dtype=grad.dtype))


def _leading_only(grad: torch.Tensor, shape: tuple) -> torch.Tensor:
    while grad.dim() > len(shape):
        grad = grad.sum(dim=0)
    return grad


def _stretched_dropped(grad: torch.Tensor, shape: tuple) -> torch.Tensor:
    grad = _leading_only(grad, shape)
    stretched = [d for d, n in enumerate(shape) if n == 1 and grad.shape[d] != 1]
    return grad.sum(dim=stretched) if stretched else grad


def _trailing(grad: torch.Tensor, shape: tuple) -> torch.Tensor:
    while grad.dim() > len(shape):
        grad = grad.sum(dim=-1)
    return grad


def _rule_oracle(op):
    """The gradients of `sum(op(a, b) · dl_out)` with respect to a and b: what the rule of `op` must send."""
    return lambda a: gradients(lambda x, y: (op(x, y) * a["dl_out"]).sum(), a["a"], a["b"])


def _unbroadcast_to(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return _unbroadcast_oracle({"grad": value, "shape": tuple(like.shape)})[0]


NO_UNBROADCAST = "sans unbroadcast, un gradient n'a pas la forme de son entrée diffusée : renvoyez unbroadcast(…, a.shape) " \
                 "et unbroadcast(…, b.shape)."

UNBROADCAST = FunctionSpec(
    name="unbroadcast", points=2, arguments=("grad", "shape"), outputs=("unbroadcast(grad, shape)",),
    cases=_unbroadcast_cases, oracle=_unbroadcast_oracle, policy=replace(WALK, forbidden=SUM_TO_SIZE),
    error_hints=(("Dimension out of range", "une dimension n'existe pas : comparez grad.dim() et len(shape) avant "
                                            "de sommer."), *COMMON_HINTS),
    mistakes=(
        Mistake(output=0, message="il faut aussi sommer les dimensions de taille 1 de `shape` que la diffusion a "
                                  "étirées (de (4, 3) vers (4, 1) : somme sur dim=1, keepdim=True).",
                predict=lambda a, e: _leading_only(a["grad"], a["shape"])),
        Mistake(output=0, message="les dimensions de taille 1 de `shape` doivent rester : sommez-les avec keepdim=True "
                                  "((4, 3) vers (4, 1), pas (4,)).",
                predict=lambda a, e: _stretched_dropped(a["grad"], a["shape"])),
        Mistake(output=0, message="les dimensions que la diffusion ajoute sont celles de devant (à gauche) : sommez sur "
                                  "dim=0 tant que grad a plus de dimensions que `shape`.",
                predict=lambda a, e: _trailing(a["grad"], a["shape"])),
        Mistake(output=0, message="sommez (sum), ne faites pas la moyenne : chaque copie diffusée reçoit tout son "
                                  "gradient.",
                predict=lambda a, e: e[0] * e[0].numel() / a["grad"].numel()),
        Mistake(output=0, message="ne sommez que les dimensions diffusées, pas tout le tenseur : le résultat a la "
                                  "forme `shape`.", predict=lambda a, e: a["grad"].sum()),
    ),
)

ADD_BACKWARD = FunctionSpec(
    name="add_backward", points=1, arguments=("dl_out", "a", "b"), outputs=("dl_a", "dl_b"),
    cases=_broadcast_cases, oracle=_rule_oracle(torch.add), policy=replace(RULE, forbidden=SUM_TO_SIZE),
    error_hints=COMMON_HINTS,
    mistakes=(
        Mistake(output=0, message=NO_UNBROADCAST, predict=lambda a, e: a["dl_out"]),
        Mistake(output=1, message=NO_UNBROADCAST, predict=lambda a, e: a["dl_out"]),
        Mistake(output=0, message="la dérivée de a + b par rapport à a vaut 1 : le gradient est dl_out (ramené à la "
                                  "forme de a), pas a ni b.", predict=lambda a, e: _unbroadcast_to(a["b"], a["a"])),
        Mistake(output=1, message="la dérivée de a + b par rapport à b vaut 1 : le gradient est dl_out (ramené à la "
                                  "forme de b), pas a ni b.", predict=lambda a, e: _unbroadcast_to(a["a"], a["b"])),
    ),
)

MUL_BACKWARD = FunctionSpec(
    name="mul_backward", points=1, arguments=("dl_out", "a", "b"), outputs=("dl_a", "dl_b"),
    cases=_broadcast_cases, oracle=_rule_oracle(torch.mul), policy=replace(RULE, forbidden=SUM_TO_SIZE),
    error_hints=COMMON_HINTS,
    mistakes=(
        Mistake(output=0, message="la dérivée de a·b par rapport à a est b : dl_a = dl_out · b (pas dl_out · a), "
                                  "ramené à la forme de a.",
                predict=lambda a, e: _unbroadcast_to(a["dl_out"] * a["a"], a["a"])),
        Mistake(output=1, message="la dérivée de a·b par rapport à b est a : dl_b = dl_out · a (pas dl_out · b), "
                                  "ramené à la forme de b.",
                predict=lambda a, e: _unbroadcast_to(a["dl_out"] * a["b"], a["b"])),
        Mistake(output=0, message=NO_UNBROADCAST, predict=lambda a, e: a["dl_out"] * a["b"]),
        Mistake(output=1, message=NO_UNBROADCAST, predict=lambda a, e: a["dl_out"] * a["a"]),
        Mistake(output=0, message="multipliez par dl_out : la règle reçoit le gradient de la perte par rapport à la "
                                  "sortie.", predict=lambda a, e: _unbroadcast_to(a["b"].expand_as(a["dl_out"]), a["a"])),
        Mistake(output=1, message="multipliez par dl_out : la règle reçoit le gradient de la perte par rapport à la "
                                  "sortie.", predict=lambda a, e: _unbroadcast_to(a["a"].expand_as(a["dl_out"]), a["b"])),
    ),
)


# the square case first: there a transpose forgotten or factors in the wrong order still run, and
# the mistake is named before the next case fails with « produit impossible »
_matmul_cases = table([("float64, (3, 3) @ (3, 3)", F64, 3, 3, 3), ("float64, (4, 3) @ (3, 5)", F64, 4, 3, 5),
                       ("float64, lot de taille 1 : (1, 4) @ (4, 2)", F64, 1, 4, 2), ("float32, (6, 5) @ (5, 4)", F32, 6, 5, 4)],
                      lambda gen, n, d, m: {"dl_out": randn(gen, n, m), "a": randn(gen, n, d), "b": randn(gen, d, m)})


MATMUL_BACKWARD = FunctionSpec(
    name="matmul_backward", points=2, arguments=("dl_out", "a", "b"), outputs=("dl_a", "dl_b"),
    cases=_matmul_cases, oracle=_rule_oracle(torch.matmul), policy=RULE,
    error_hints=(("shapes cannot be multiplied", "produit impossible : dl_out a la forme de a @ b ; dl_a = dl_out @ b.T "
                                                 "(forme de a) et dl_b = a.T @ dl_out (forme de b)."), *COMMON_HINTS),
    mistakes=(
        Mistake(output=0, message="gradients échangés : la fonction renvoie (dl_a, dl_b), dans cet ordre.",
                predict=lambda a, e: e[1]),
        Mistake(output=1, message="gradients échangés : la fonction renvoie (dl_a, dl_b), dans cet ordre.",
                predict=lambda a, e: e[0]),
        Mistake(output=0, message="la transposée est oubliée : dl_a = dl_out @ b.T.",
                predict=lambda a, e: a["dl_out"] @ a["b"]),
        Mistake(output=1, message="la transposée est oubliée : dl_b = a.T @ dl_out.",
                predict=lambda a, e: a["a"] @ a["dl_out"]),
        Mistake(output=0, message="le gradient de a est transposé : dl_a = dl_out @ b.T, de la forme de a.",
                predict=lambda a, e: e[0].T),
        Mistake(output=1, message="le gradient de b est transposé : dl_b = a.T @ dl_out, de la forme de b.",
                predict=lambda a, e: e[1].T),
        Mistake(output=0, message="facteurs dans le mauvais ordre : dl_a = dl_out @ b.T (pas b.T @ dl_out).",
                predict=lambda a, e: a["b"].T @ a["dl_out"]),
        Mistake(output=1, message="facteurs dans le mauvais ordre : dl_b = a.T @ dl_out (pas dl_out @ a.T).",
                predict=lambda a, e: a["dl_out"] @ a["a"].T),
    ),
)


def _with_zeros(gen: torch.Generator, shape: tuple) -> dict:
    a = with_kinks(randn(gen, *shape))
    return {"dl_out": randn(gen, *shape), "a": a}


_relu_cases = table([("float64, (5, 4) avec des zéros", F64, (5, 4)), ("float32, (3, 6) avec des zéros", F32, (3, 6)),
                     ("float64, vecteur de taille 7", F64, (7,))], _with_zeros)


RELU_BACKWARD = FunctionSpec(
    name="relu_backward", points=1, arguments=("dl_out", "a"), outputs=("dl_a",), cases=_relu_cases,
    oracle=lambda a: gradients(lambda x: (torch.relu(x) * a["dl_out"]).sum(), a["a"]), policy=RULE,
    error_hints=COMMON_HINTS,
    mistakes=(
        Mistake(output=0, message="en 0, la dérivée de relu vaut 0 (comme dans autograd) : masque a > 0, pas a >= 0.",
                predict=lambda a, e: a["dl_out"] * (a["a"] >= 0)),
        Mistake(output=0, message="multipliez le masque (a > 0) par dl_out : la règle reçoit le gradient de la sortie.",
                predict=lambda a, e: (a["a"] > 0).to(a["a"].dtype)),
        Mistake(output=0, message="c'est la dérivée de relu, le masque (a > 0), qui multiplie dl_out, pas relu(a).",
                predict=lambda a, e: a["dl_out"] * a["a"].clamp(min=0)),
        Mistake(output=0, message="le masque se calcule sur l'entrée a de relu, pas sur dl_out.",
                predict=lambda a, e: a["dl_out"].clamp(min=0)),
    ),
)


_sum_cases = table([("float64, entrée (4, 3), dl_out = 2,5", F64, (4, 3), 2.5),
                    ("float64, entrée (2, 3, 4), dl_out = −0,7", F64, (2, 3, 4), -0.7),
                    ("float32, entrée (6,), dl_out = 1,5", F32, (6,), 1.5), ("float64, entrée (1, 1), dl_out = 3", F64, (1, 1), 3.0)],
                   lambda gen, shape, dl: {"dl_out": torch.tensor(dl, dtype=F64), "shape": shape})


SUM_BACKWARD = FunctionSpec(
    name="sum_backward", points=1, arguments=("dl_out", "shape"), outputs=("dl_a",), cases=_sum_cases,
    oracle=lambda a: gradients(lambda x: x.sum() * a["dl_out"], torch.zeros(a["shape"], dtype=a["dl_out"].dtype)),
    policy=RULE, error_hints=COMMON_HINTS,
    mistakes=(
        Mistake(output=0, message="le gradient a la forme de l'entrée de la somme : chaque élément reçoit dl_out, "
                                  "torch.ones(shape) * dl_out.", predict=lambda a, e: a["dl_out"]),
        Mistake(output=0, message="multipliez par dl_out : le gradient de la sortie ne vaut pas toujours 1.",
                predict=lambda a, e: torch.ones(a["shape"], dtype=a["dl_out"].dtype)),
        Mistake(output=0, message="une somme n'est pas une moyenne : chaque élément reçoit dl_out tout entier, sans "
                                  "diviser par leur nombre.", predict=lambda a, e: e[0] / e[0].numel()),
    ),
)


def _logits(gen: torch.Generator, n: int, c: int, scale: float, dl: float) -> dict:
    s = randn(gen, n, c, scale=scale)
    if scale >= 1000:  # each row's largest logit at +scale: exp overflows whatever the draw
        s = s - s.amax(dim=1, keepdim=True) + scale
    return {"dl_out": torch.tensor(dl, dtype=F64), "s": s, "y": labels(gen, n, c)}


_logits_cases = table([("float64, lot 5, 4 classes, dl_out = 1", F64, 5, 4, 2.0, 1.0),
                       ("float32, lot 6, 10 classes, dl_out = 0,5", F32, 6, 10, 3.0, 0.5),
                       ("float64, lot de taille 1, 3 classes, dl_out = 2", F64, 1, 3, 2.0, 2.0),
                       ("float64, logits vers ±1000, dl_out = 1", F64, 4, 5, 1000.0, 1.0)], _logits)


CROSS_ENTROPY_BACKWARD = FunctionSpec(
    name="cross_entropy_backward", points=2, arguments=("dl_out", "s", "y"), outputs=("dl_s",), cases=_logits_cases,
    oracle=lambda a: gradients(lambda s: F.cross_entropy(s, a["y"]) * a["dl_out"], a["s"]), policy=RULE,
    error_hints=(CLASS_INDICES, ONE_HOT_WIDTH, *COMMON_HINTS),
    mistakes=(
        Mistake(output=0, message=NOT_DIVIDED_BY_N,
                predict=lambda a, e: e[0] * a["s"].shape[0]),
        Mistake(output=0, message="multipliez par dl_out : la règle reçoit le gradient de la perte par rapport à la "
                                  "sortie, qui ne vaut pas toujours 1.", predict=lambda a, e: e[0] / a["dl_out"]),
        Mistake(output=0, message="il manque le −1 sur la classe correcte : dl_s = dl_out · (softmax(s) − onehot(y)) / N.",
                predict=lambda a, e: a["dl_out"] * softmax(a["s"]) / a["s"].shape[0]),
        Mistake(output=0, message="signe inversé : dl_s = dl_out · (softmax(s) − onehot(y)) / N.",
                predict=lambda a, e: -e[0]),
        Mistake(output=0, message="débordement sur de grands logits (exp(1000) = inf) : soustrayez le maximum de chaque "
                                  "ligne avant l'exponentielle, ou utilisez torch.softmax.",
                predict=lambda a, e: a["dl_out"] * (torch.exp(a["s"]) / torch.exp(a["s"]).sum(1, keepdim=True)
                                                    - one_hot(a["y"], a["s"])) / a["s"].shape[0]),
    ),
)

# ------------------------------------------------------------------ expression graphs: scenario checks

TOPOLOGICAL_ORDER = ScenarioSpec(
    name="topological_order", points=2, arguments=("graph",), outputs=("ordre",), driver=given.drive_order,
    given=("Tensor",), cases=graphs.graph_cases, properties=graphs.order_properties,
    stand_in=graphs.topological_order, policy=WALK,
    error_hints=(("maximum recursion depth", "récursion infinie : un graphe de calcul n'a pas de cycle, la fonction "
                                             "se rappelle donc sur le nœud qu'elle visite ; appelez-la sur chacun de "
                                             "ses parents (node.parents)."),
                 ("unhashable", "un ensemble de nœuds (set) ne peut contenir que des objets hachables : ajoutez-y les "
                                "nœuds eux-mêmes, pas leurs tenseurs."),
                 ("Boolean value of Tensor", "comparez les nœuds eux-mêmes (node in vus), pas leurs tenseurs data."),
                 GIVEN_CLASS_HINT, *COMMON_HINTS),
)

NUMBER_AS_GRADIENT = ("un gradient est un tenseur torch, pas un nombre : la racine reçoit "
                      "root.grad = torch.ones_like(root.data).")

BACKWARD = ScenarioSpec(
    name="backward", points=2, arguments=("graph",), outputs=("grads",), driver=given.drive_backward,
    uses=("unbroadcast", "add_backward", "mul_backward", "matmul_backward", "relu_backward", "sum_backward",
          "cross_entropy_backward"),
    given=("Tensor",), cases=graphs.graph_cases, oracle=graphs.graph_gradients, policy=WALK,
    error_hints=(("object is not callable", "une feuille n'a pas de règle (rule vaut None) : n'appelez node.rule que "
                                            "pour les nœuds qui en ont une."),
                 ("'int' object has no attribute", NUMBER_AS_GRADIENT),
                 ("'float' object has no attribute", NUMBER_AS_GRADIENT),
                 ("doesn't match the broadcast shape", "le gradient envoyé à un nœud n'a pas sa forme : une règle l'a "
                                                       "laissé à la forme du résultat diffusé (unbroadcast doit aussi "
                                                       "sommer les dimensions de taille 1 étirées)."),
                 GIVEN_CLASS_HINT, *COMMON_HINTS),
    mistakes=(
        Mistake(output=None, message="un gradient est remplacé au lieu d'être ajouté : écrivez parent.grad += … (la "
                                     "question 2 revient sur ce cas).",
                predict=lambda a, e: graphs.engine(a, accumulate=False)),
        Mistake(output=None, message="la racine n'est pas initialisée : root.grad = torch.ones_like(root.data) avant "
                                     "de parcourir le graphe (sinon tout reste nul).",
                predict=lambda a, e: graphs.engine(a, seed=False)),
        Mistake(output=None, message="la racine est initialisée trop tard : root.grad = torch.ones_like(root.data) "
                                     "avant de parcourir le graphe, pour que son gradient descende vers ses parents.",
                predict=lambda a, e: graphs.engine(a, seed="after")),
        Mistake(output=None, message="les nœuds sont parcourus dans le mauvais sens : de la racine vers les feuilles, "
                                     "dans l'ordre de topological_order(root).",
                predict=lambda a, e: graphs.engine(a, order="reversed")),
        Mistake(output=None, message="un nœud envoie son gradient à chaque fois qu'on l'atteint (récursion chemin par "
                                     "chemin) : parcourez plutôt la liste de topological_order(root), une seule fois "
                                     "(la question 1 revient sur ce cas).",
                predict=lambda a, e: graphs.engine(a, order="recursive")),
        Mistake(output=None, message="les nœuds ne sont pas traités dans l'ordre de topological_order(root) : un "
                                     "parcours en profondeur qui traite chaque nœud dès qu'il l'atteint n'est pas cet "
                                     "ordre ; parcourez la liste que renvoie topological_order(root).",
                predict=lambda a, e: graphs.engine(a, order="preorder")),
    ),
)

# ------------------------------------------------------------------ training: `training.py`

ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[
    UNBROADCAST, ADD_BACKWARD, MUL_BACKWARD, MATMUL_BACKWARD, RELU_BACKWARD, SUM_BACKWARD, CROSS_ENTROPY_BACKWARD,
    TOPOLOGICAL_ORDER, BACKWARD, training.SPEC])
grade = ASSIGNMENT.grade
