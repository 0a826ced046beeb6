"""Checks of TP 11, named by the hidden tests of `source/tp11`: specs only (see `autograder.specs`).

Oracles: autograd in float64 — of the operation itself for each backward rule, of the
whole expression graph for `backward`; the order `topological_order` gives is judged by
its properties (several orders are right). Graphs are plain descriptions (`graph_cases`)
that the drivers of `given.py` build with the notebook's own `Tensor` class.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
import torch.nn.functional as F

from autograder.assignment import Assignment
from autograder.data import digits_test_set
from autograder.toolkit import by_hand, forbidden, gradients, one_hot, randn, softmax
from autograder.specs import Case, FunctionSpec, Mistake, ScenarioSpec, VariablesSpec
from autograder.tp11 import given
from autograder.training import AccuracyGrade

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
    ("is not defined", "une variable utilisée dans la fonction n'existe pas : n'utilisez que ses arguments."),
)
GIVEN_CLASS_HINT = ("has no attribute", "la vérification utilise la classe Tensor de l'énoncé, telle quelle : "
                                        "n'utilisez que data, grad, parents, rule et op.")

# ------------------------------------------------------------------ the rules: function checks


def _broadcast_cases(gen: torch.Generator) -> list[Case]:
    """a and b of shapes that broadcast, and the gradient of the loss with respect to their result."""
    cases = []
    for label, shape_a, shape_b, dtype in (("float64, (4, 3) et (4, 3)", (4, 3), (4, 3), torch.float64),
                                           ("float64, (4, 3) et (3,)", (4, 3), (3,), torch.float64),
                                           ("float64, (4, 3) et (4, 1)", (4, 3), (4, 1), torch.float64),
                                           ("float32, (5, 2) et un scalaire", (5, 2), (), torch.float32),
                                           ("float64, (3,) et (2, 3)", (3,), (2, 3), torch.float64),
                                           ("float32, (1, 4) et (3, 1)", (1, 4), (3, 1), torch.float32)):
        a, b = randn(gen, *shape_a, dtype=dtype), randn(gen, *shape_b, dtype=dtype)
        dl_out = randn(gen, *torch.broadcast_shapes(shape_a, shape_b), dtype=dtype)
        cases.append(Case(label=label, inputs={"dl_out": dl_out, "a": a, "b": b}, dtype=dtype))
    return cases


def _unbroadcast_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, grad_shape, shape, dtype in (("float64, (4, 3) vers (3,)", (4, 3), (3,), torch.float64),
                                            ("float64, (4, 3) vers (4, 1)", (4, 3), (4, 1), torch.float64),
                                            ("float64, (4, 3) vers (1, 3)", (4, 3), (1, 3), torch.float64),
                                            ("float64, (4, 3) vers un scalaire ()", (4, 3), (), torch.float64),
                                            ("float64, (2, 5, 3) vers (5, 1)", (2, 5, 3), (5, 1), torch.float64),
                                            ("float32, (4, 3) vers (4, 3) : rien à sommer", (4, 3), (4, 3),
                                             torch.float32),
                                            ("float32, (6, 5) vers (5,)", (6, 5), (5,), torch.float32)):
        cases.append(Case(label=label, inputs={"grad": randn(gen, *grad_shape, dtype=dtype), "shape": shape},
                          dtype=dtype))
    return cases


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
        Mistake(output=0, message="multipliez par dl_out : la règle reçoit le gradient de la loss par rapport à la "
                                  "sortie.", predict=lambda a, e: _unbroadcast_to(a["b"].expand_as(a["dl_out"]), a["a"])),
        Mistake(output=1, message="multipliez par dl_out : la règle reçoit le gradient de la loss par rapport à la "
                                  "sortie.", predict=lambda a, e: _unbroadcast_to(a["a"].expand_as(a["dl_out"]), a["b"])),
    ),
)


def _matmul_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    # the square case first: there a transpose forgotten or factors in the wrong order still run, and
    # the mistake is named before the next case fails with « produit impossible »
    for label, n, d, m, dtype in (("float64, (3, 3) @ (3, 3)", 3, 3, 3, torch.float64),
                                  ("float64, (4, 3) @ (3, 5)", 4, 3, 5, torch.float64),
                                  ("float64, lot de taille 1 : (1, 4) @ (4, 2)", 1, 4, 2, torch.float64),
                                  ("float32, (6, 5) @ (5, 4)", 6, 5, 4, torch.float32)):
        cases.append(Case(label=label, inputs={"dl_out": randn(gen, n, m, dtype=dtype), "a": randn(gen, n, d, dtype=dtype),
                                               "b": randn(gen, d, m, dtype=dtype)}, dtype=dtype))
    return cases


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


def _relu_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, shape, dtype in (("float64, (5, 4) avec des zéros", (5, 4), torch.float64),
                                ("float32, (3, 6) avec des zéros", (3, 6), torch.float32),
                                ("float64, vecteur de taille 7", (7,), torch.float64)):
        a = randn(gen, *shape, dtype=dtype)
        a.view(-1)[::3] = 0.0  # relu's kink: autograd gives 0 there
        cases.append(Case(label=label, inputs={"dl_out": randn(gen, *shape, dtype=dtype), "a": a}, dtype=dtype))
    return cases


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


def _sum_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, shape, dl, dtype in (("float64, entrée (4, 3), dl_out = 2,5", (4, 3), 2.5, torch.float64),
                                    ("float64, entrée (2, 3, 4), dl_out = −0,7", (2, 3, 4), -0.7, torch.float64),
                                    ("float32, entrée (6,), dl_out = 1,5", (6,), 1.5, torch.float32),
                                    ("float64, entrée (1, 1), dl_out = 3", (1, 1), 3.0, torch.float64)):
        cases.append(Case(label=label, inputs={"dl_out": torch.tensor(dl, dtype=dtype), "shape": shape}, dtype=dtype))
    return cases


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


def _logits_cases(gen: torch.Generator) -> list[Case]:
    cases = []
    for label, n, c, scale, dl, dtype in (("float64, lot 5, 4 classes, dl_out = 1", 5, 4, 2.0, 1.0, torch.float64),
                                          ("float32, lot 6, 10 classes, dl_out = 0,5", 6, 10, 3.0, 0.5, torch.float32),
                                          ("float64, lot de taille 1, 3 classes, dl_out = 2", 1, 3, 2.0, 2.0,
                                           torch.float64),
                                          ("float64, logits vers ±1000, dl_out = 1", 4, 5, 1000.0, 1.0, torch.float64)):
        s = randn(gen, n, c, scale=scale, dtype=dtype)
        if scale >= 1000:  # each row's largest logit at +scale: exp overflows whatever the draw
            s = s - s.amax(dim=1, keepdim=True) + scale
        y = torch.randint(0, c, (n,), generator=gen)
        cases.append(Case(label=label, inputs={"dl_out": torch.tensor(dl, dtype=dtype), "s": s, "y": y}, dtype=dtype))
    return cases


CROSS_ENTROPY_BACKWARD = FunctionSpec(
    name="cross_entropy_backward", points=2, arguments=("dl_out", "s", "y"), outputs=("dl_s",), cases=_logits_cases,
    oracle=lambda a: gradients(lambda s: F.cross_entropy(s, a["y"]) * a["dl_out"], a["s"]), policy=RULE,
    error_hints=(("index", "y contient des indices de classe (int64) : le one-hot de y vaut 1 en [n, y[n]], par exemple "
                           "F.one_hot(y, C) ou p[torch.arange(N), y]."), *COMMON_HINTS),
    mistakes=(
        Mistake(output=0, message="le gradient n'est pas divisé par la taille du lot N : la loss est une moyenne.",
                predict=lambda a, e: e[0] * a["s"].shape[0]),
        Mistake(output=0, message="multipliez par dl_out : la règle reçoit le gradient de la loss par rapport à la "
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

LEAVES = ("a", "b", "c", "k", "w")  # (N, D), (D,), (N, 1), a scalar, (D, D)
OPERATION_NAMES = "defghijlmnopqrstuvxyz"


def _leaf_values(gen: torch.Generator, n: int, d: int, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    shapes = {"a": (n, d), "b": (d,), "c": (n, 1), "k": (), "w": (d, d)}
    return {name: randn(gen, *shape, dtype=dtype) for name, shape in shapes.items()}


def _graph(leaves: dict[str, torch.Tensor], operations: list[tuple]) -> list[dict]:
    """A description `given.build` reads: the leaves used, then each (op, *args[, y]), named in order."""
    used = {arg for op in operations for arg in op[1:] if isinstance(arg, str)}
    graph = [{"name": name, "value": value} for name, value in leaves.items() if name in used]
    for name, (op, *args) in zip(OPERATION_NAMES, operations):
        node = {"name": name, "op": op, "args": [a for a in args if isinstance(a, str)]}
        node.update({"y": a for a in args if isinstance(a, torch.Tensor)})
        graph.append(node)
    return graph


def _random_operations(gen: torch.Generator, depth: int, n: int) -> list[tuple]:
    """`depth` operations on (N, D) values, each reusing earlier nodes or the leaves, all reachable from a
    final sum: shared nodes and diamonds are the rule, not the exception."""
    full, operations, used = ["a"], [], set()

    def pick(names):
        return names[int(torch.randint(len(names), (), generator=gen))]
    for i in range(depth):
        name = OPERATION_NAMES[i]
        op = pick(["+", "*", "@", "relu", "+", "*"])
        left = pick(full[-3:])
        if op == "relu":
            operations.append(("relu", left))
        elif op == "@":
            operations.append(("@", left, "w"))
        else:
            operations.append((op, left, pick(full + ["b", "c", "k"])))
        used |= {a for a in operations[-1][1:]}
        full.append(name)
    for unused in [f for f in full[1:-1] if f not in used]:
        operations.append(("+", OPERATION_NAMES[len(operations) - 1], unused))
    uses = [arg for op in operations for arg in op[1:]]
    if all(uses.count(name) < 2 for name in uses):  # a chain: share its first leaf
        operations.append(("+", OPERATION_NAMES[len(operations) - 1], "a"))
    operations.append(("sum", OPERATION_NAMES[len(operations) - 1]))
    return operations


MAX_DRAWS = 50


def _live_graph(gen: torch.Generator, operations, n: int, d: int, dtype: torch.dtype) -> list[dict]:
    """The graph of `operations()` on random leaves, drawn again while some node's gradient is zero (a relu
    that zeroes all of its input): upstream of it, gradients sent or accumulated wrongly would go unseen."""
    for _ in range(MAX_DRAWS):
        graph = _graph(_leaf_values(gen, n, d, dtype), operations())
        if all(torch.count_nonzero(grad) for grad in _graph_gradients({"graph": graph})[0].values()):
            break
    return graph


def graph_cases(gen: torch.Generator) -> list[Case]:
    """The graphs both scenario checks build: a leaf used twice by one operation, a diamond, a network
    ending in a cross-entropy, and random graphs up to depth 8; in each, every node's gradient matters."""
    cases = []

    def case(label, operations, n=3, d=4, dtype=torch.float64):
        graph = _live_graph(gen, operations, n, d, dtype)
        cases.append(Case(label=f"{'float32, ' if dtype == torch.float32 else ''}{label} : {describe(graph)}",
                          inputs={"graph": graph}, dtype=dtype))
    case("une feuille utilisée deux fois par la même opération", lambda: [("*", "a", "a"), ("sum", "d")])
    case("un losange", lambda: [("relu", "a"), ("*", "d", "b"), ("+", "d", "e"), ("sum", "f")])
    case("un réseau à une couche", lambda: [("@", "a", "w"), ("+", "d", "b"), ("relu", "e"),
                                            ("cross_entropy", "f", torch.randint(0, 4, (3,), generator=gen))])
    case("un nœud réutilisé trois fois", lambda: [("+", "a", "c"), ("*", "d", "d"), ("+", "e", "d"), ("sum", "f")])
    case("un graphe au hasard", lambda: _random_operations(gen, 8, 3))
    case("un graphe au hasard", lambda: _random_operations(gen, 6, 2), n=2, d=3, dtype=torch.float32)
    return cases


def describe(graph: list[dict]) -> str:
    """« d = a * a ; e = Σ d » — how a case's label shows its graph to the student."""
    parts = []
    for node in graph:
        if "value" in node:
            continue
        args = node["args"]
        formula = {"relu": lambda: f"relu({args[0]})", "sum": lambda: f"Σ {args[0]}",
                   "cross_entropy": lambda: f"entropie({args[0]}, y)"}.get(node["op"], lambda: f" {node['op']} ".join(args))
        parts.append(f"{node['name']} = {formula()}")
    return " ; ".join(parts)


def _reachable(graph: list[dict]) -> dict[str, list[str]]:
    """The parents of every node reachable from the root (the last node)."""
    parents = {node["name"]: node.get("args", []) for node in graph}
    found, pending = {}, [graph[-1]["name"]]
    while pending:
        name = pending.pop()
        if name not in found:
            found[name] = parents[name]
            pending += parents[name]
    return found


def _torch_value(node: dict, values: dict[str, torch.Tensor]) -> torch.Tensor:
    return _apply(node, [values[a] for a in node["args"]])


def _apply(node: dict, args: list[torch.Tensor]) -> torch.Tensor:
    return {"+": lambda: args[0] + args[1], "*": lambda: args[0] * args[1], "@": lambda: args[0] @ args[1],
            "relu": lambda: torch.relu(args[0]), "sum": lambda: args[0].sum(),
            "cross_entropy": lambda: F.cross_entropy(args[0], node.get("y"))}[node["op"]]()


def _graph_gradients(a: dict) -> tuple:
    """Every node's gradient by autograd (zeros for a node the root does not depend on)."""
    values = {}
    with torch.enable_grad():
        for node in a["graph"]:
            if "value" in node:
                values[node["name"]] = node["value"].detach().clone().requires_grad_(True)
            else:
                values[node["name"]] = _torch_value(node, values)
                values[node["name"]].retain_grad()
        root = values[a["graph"][-1]["name"]]
        root.backward(torch.ones_like(root))
    return ({name: (v.grad if v.grad is not None else torch.zeros_like(v)).detach() for name, v in values.items()},)


def _local_rules(graph: list[dict]) -> tuple[dict, dict]:
    """Each node's value, and a rule sending a gradient to its parents (autograd on that one operation)."""
    values, rules = {}, {}
    for node in graph:
        if "value" in node:
            values[node["name"]] = node["value"]
            continue
        values[node["name"]] = _torch_value(node, values).detach()

        def rule(dl_out, node=node):
            return gradients(lambda *args: (_apply(node, list(args)) * dl_out).sum(),
                             *(values[p] for p in node["args"]))
        rules[node["name"]] = rule
    return values, rules


def _engine(a: dict, order: str = "topological", accumulate: bool = True, seed: bool | str = True) -> tuple:
    """What a backward written with one common mistake gives (the grads of every node); `seed="after"`:
    the root seeded once the walk is done."""
    graph = a["graph"]
    values, rules = _local_rules(graph)
    grads = {name: torch.zeros_like(v) for name, v in values.items()}
    root = graph[-1]["name"]
    if seed is True:
        grads[root] = torch.ones_like(values[root])
    parents = _reachable(graph)

    def send(name):
        if name in rules:
            for parent, dl in zip(parents[name], rules[name](grads[name])):
                grads[parent] = grads[parent] + dl if accumulate else dl
                if order == "recursive":
                    send(parent)
    if order == "recursive":
        send(root)
    else:
        nodes = _depth_first_order(root, parents)
        for name in nodes if order == "topological" else nodes[::-1]:
            send(name)
    if seed == "after":
        grads[root] = torch.ones_like(values[root])
    return (grads,)


def _depth_first_order(root: str, parents: dict[str, list[str]]) -> list[str]:
    """The order the notebook's algorithm gives (each node after its parents in a depth-first walk, then
    reversed): where a mistake makes the order matter, the simulation follows the grader's own."""
    order, seen = [], set()

    def visit(name):
        if name not in seen:
            seen.add(name)
            for parent in parents[name]:
                visit(parent)
            order.append(name)
    visit(root)
    return order[::-1]


def _order_properties(a: dict, order: Any) -> list[str]:
    parents = _reachable(a["graph"])
    if isinstance(order, str):  # the driver names the type of anything but a list or a tuple
        return [f"topological_order doit renvoyer une liste de nœuds (des Tensor), pas {order}."]
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
        raise ValueError("not a report of drive_order")
    if any(name not in parents for name in order):
        return ["la liste contient des objets qui ne sont pas les nœuds du graphe : renvoyez les nœuds eux-mêmes "
                "(des Tensor), pas leurs valeurs ni leurs noms."]
    if len(set(order)) < len(order):
        return ["un nœud apparaît plusieurs fois : gardez l'ensemble des nœuds déjà visités (sans lui, sur un losange, "
                "le gradient d'un nœud partagé serait envoyé deux fois)."]
    if set(order) != set(parents):
        return [f"{len(parents) - len(order)} nœud(s) accessible(s) depuis la racine manque(nt) : visitez les parents de "
                "chaque nœud, récursivement, jusqu'aux feuilles."]
    position = {name: i for i, name in enumerate(order)}
    if all(position[p] > position[n] for n in order for p in parents[n]):
        return []
    if all(position[p] < position[n] for n in order for p in parents[n]):
        return ["ordre inversé : la racine vient en premier et chaque nœud avant ses parents (inversez la liste de votre "
                "parcours en profondeur)."]
    return ["un nœud est placé avant un nœud qui l'utilise encore : chaque nœud doit venir après tous ceux qui "
            "l'utilisent (un parcours en profondeur simple ne le garantit pas sur un losange ; ajoutez un nœud à la "
            "liste après ses parents, puis inversez-la)."]


TOPOLOGICAL_ORDER = ScenarioSpec(
    name="topological_order", points=2, arguments=("graph",), outputs=("ordre",), driver=given.drive_order,
    given=("Tensor",), cases=graph_cases, properties=_order_properties, policy=WALK,
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
    given=("Tensor",), cases=graph_cases, oracle=_graph_gradients, policy=WALK,
    error_hints=(("object is not callable", "une feuille n'a pas de règle (rule vaut None) : n'appelez node.rule que "
                                            "pour les nœuds qui en ont une."),
                 ("'int' object has no attribute", NUMBER_AS_GRADIENT),
                 ("'float' object has no attribute", NUMBER_AS_GRADIENT),
                 GIVEN_CLASS_HINT, *COMMON_HINTS),
    mistakes=(
        Mistake(output=None, message="un gradient est remplacé au lieu d'être ajouté : avec parent.grad = …, un nœud "
                                     "utilisé deux fois ne garde que la dernière contribution ; écrivez parent.grad += ….",
                predict=lambda a, e: _engine(a, accumulate=False)),
        Mistake(output=None, message="la racine n'est pas initialisée : root.grad = torch.ones_like(root.data) avant "
                                     "de parcourir le graphe (sinon tout reste nul).",
                predict=lambda a, e: _engine(a, seed=False)),
        Mistake(output=None, message="la racine est initialisée trop tard : root.grad = torch.ones_like(root.data) "
                                     "avant de parcourir le graphe, pour que son gradient descende vers ses parents.",
                predict=lambda a, e: _engine(a, seed="after")),
        Mistake(output=None, message="les nœuds sont parcourus dans le mauvais sens : depuis la racine, dans l'ordre de "
                                     "topological_order, pour qu'un nœud ait reçu tout son gradient avant de l'envoyer.",
                predict=lambda a, e: _engine(a, order="reversed")),
        Mistake(output=None, message="un nœud envoie son gradient à chaque fois qu'on l'atteint (récursion chemin par "
                                     "chemin) : sur un losange, des contributions sont comptées plusieurs fois ; "
                                     "parcourez topological_order(root) une seule fois.",
                predict=lambda a, e: _engine(a, order="recursive")),
    ),
)

# ------------------------------------------------------------------ training

TRAINING_POINTS = 3
FULL_MARKS_ACCURACY = 0.95  # the reference reaches 0.981 (see the README)
CHANCE_ACCURACY = 0.5
TRAINING_VARIABLES = ("params", "testAccuracy")


def _accuracy(params: dict[str, torch.Tensor]) -> float:
    inputs, labels = digits_test_set()
    p = {k: params[k].to(torch.float64) for k in ("w1", "b1", "w2", "b2")}
    logits = torch.relu(inputs @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]
    return (logits.argmax(dim=1) == labels).double().mean().item()


ACCURACY = AccuracyGrade(
    full_marks=FULL_MARKS_ACCURACY, chance=CHANCE_ACCURACY, word="exactitude",
    too_low=("l'exactitude est trop basse : l'entraînement utilise votre autograd (les règles, topological_order, "
             "backward) et votre perte_du_lot — vérifiez-les d'abord avec leurs tests."),
    fractions="testAccuracy doit être une fraction entre 0 et 1 (pas un pourcentage).",
)


def judge_training(values: dict[str, Any]) -> tuple[float, list[str]]:
    """The trained network's exactitude on the notebook's test set, recomputed here, and `testAccuracy` checked."""
    return ACCURACY.judge_parameters(
        values, keys=("w1", "b1", "w2", "b2"), accuracy_of=_accuracy, test_size=len(digits_test_set()[1]),
        unfinished=(" n'existe(nt) pas : l'entraînement n'est pas allé au bout. Il utilise votre "
                    "autograd : si une de vos fonctions lève une erreur, corrigez-la d'abord (voir son test), puis "
                    "exécutez toutes les cellules."),
        malformed="params doit rester un dict {\"w1\", \"b1\", \"w2\", \"b2\"} de torch.Tensor ordinaires "
                  "(les .data des nœuds du réseau).")


TRAINING = VariablesSpec(name="training", label="entraînement", points=TRAINING_POINTS,
                         variables=TRAINING_VARIABLES, judge=judge_training)

ASSIGNMENT = Assignment(reference=f"{__package__}.reference", specs=[
    UNBROADCAST, ADD_BACKWARD, MUL_BACKWARD, MATMUL_BACKWARD, RELU_BACKWARD, SUM_BACKWARD, CROSS_ENTROPY_BACKWARD,
    TOPOLOGICAL_ORDER, BACKWARD, TRAINING])
grade = ASSIGNMENT.grade
