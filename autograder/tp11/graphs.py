"""TP 11's expression graphs: the cases its scenario checks build, their gradients by autograd, the engine
with each common mistake of `backward`, and the properties of a topological order.

A graph is a plain description (`given.build` reads it): its leaves with their values, then each
operation, named in order. The cases hold, by construction, the structures that expose the mistakes
the catalogue names (`graph_cases`), random graphs on top.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F

from autograder.specs import Case
from autograder.toolkit import gradients, randn

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
        if all(torch.count_nonzero(grad) for grad in graph_gradients({"graph": graph})[0].values()):
            break
    return graph


def graph_cases(gen: torch.Generator) -> list[Case]:
    """The graphs both scenario checks build. Each structure is there because a catalogued mistake shows on
    it whatever the values: a leaf used twice by one operation (`=` for `+=`), two diamonds with the shared
    node first then second among the arguments (a walk that sends or lists a node before all its users,
    whichever parent it visits first), a node used twice by one operation and later by another (a node
    released when its users are counted per edge), a node used three times, a network ending in a
    cross-entropy; broadcasting on rows, columns and a scalar. Random graphs come on top (`extra`). In each
    graph, every node's gradient matters."""
    cases = []

    def case(label, operations, n=3, d=4, dtype=torch.float64, extra=False):
        graph = _live_graph(gen, operations, n, d, dtype)
        cases.append(Case(label=f"{'float32, ' if dtype == torch.float32 else ''}{label} : {describe(graph)}",
                          inputs={"graph": graph}, dtype=dtype, extra=extra))
    case("une feuille utilisée deux fois par la même opération", lambda: [("*", "a", "a"), ("sum", "d")])
    case("deux losanges", lambda: [("+", "a", "c"), ("relu", "d"), ("*", "d", "e"), ("relu", "f"), ("+", "g", "f"),
                                   ("sum", "h")])
    case("un nœud utilisé deux fois par une opération, puis par une autre",
         lambda: [("relu", "a"), ("*", "d", "d"), ("relu", "d"), ("relu", "f"), ("relu", "g"), ("+", "h", "e"),
                  ("+", "e", "h"), ("*", "i", "j"), ("sum", "l")])
    case("un réseau à une couche", lambda: [("@", "a", "w"), ("+", "d", "b"), ("relu", "e"),
                                            ("cross_entropy", "f", torch.randint(0, 4, (3,), generator=gen))])
    case("un nœud réutilisé trois fois", lambda: [("*", "a", "k"), ("*", "d", "d"), ("+", "e", "d"), ("sum", "f")])
    case("un graphe au hasard", lambda: _random_operations(gen, 8, 3), extra=True)
    case("un graphe au hasard", lambda: _random_operations(gen, 6, 2), n=2, d=3, dtype=torch.float32, extra=True)
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


def graph_gradients(a: dict) -> tuple:
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


def engine(a: dict, order: str = "topological", accumulate: bool = True, seed: bool | str = True) -> tuple:
    """What a backward written with one common mistake gives (the grads of every node). `order`:
    "topological", "reversed", "recursive" (a node sends each time it is reached) or "preorder" (a depth-first
    walk in which each node sends once, as soon as it is reached); `seed="after"`: the root seeded once the
    walk is done."""
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
    seen = set()

    def visit(name):
        if name not in seen:
            seen.add(name)
            send(name)
            for parent in parents[name]:
                visit(parent)
    if order == "recursive":
        send(root)
    elif order == "preorder":
        visit(root)
    else:
        nodes = _depth_first_order(root, parents.__getitem__)
        for name in nodes if order == "topological" else nodes[::-1]:
            send(name)
    if seed == "after":
        grads[root] = torch.ones_like(values[root])
    return (grads,)


def _depth_first_order(root: Any, parents: Callable[[Any], list]) -> list:
    """The order the notebook's algorithm gives (each node after its parents in a depth-first walk, then
    reversed): where a mistake makes the order matter, the simulation follows the grader's own."""
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for parent in parents(node):
                visit(parent)
            order.append(node)
    visit(root)
    return order[::-1]


def topological_order(root: Any) -> list:
    """A topological order of the nodes of a given `Tensor` graph: what the self-check puts in place of a
    student's failing `topological_order` while it checks `backward`."""
    return _depth_first_order(root, lambda node: node.parents)


def order_properties(a: dict, order: Any) -> list[str]:
    parents = _reachable(a["graph"])
    if isinstance(order, str):  # the driver names the type of anything but a list or a tuple
        return [f"topological_order doit renvoyer une liste de nœuds (des Tensor), pas {order}."]
    if not isinstance(order, list) or not all(isinstance(name, str) for name in order):
        raise ValueError("not a report of drive_order")
    if any(name not in parents for name in order):
        return ["la liste contient des objets qui ne sont pas les nœuds du graphe : renvoyez les nœuds eux-mêmes "
                "(des Tensor), pas leurs valeurs ni leurs noms."]
    if len(set(order)) < len(order):
        return ["un nœud apparaît plusieurs fois : chacun doit y être une seule fois, même atteint par plusieurs "
                "chemins ; gardez l'ensemble des nœuds déjà visités."]
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
            "l'utilisent (ajoutez un nœud à la liste une fois ses parents visités, puis inversez-la)."]
