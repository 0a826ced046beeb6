"""Code TP 11 gives its students, and the drivers its scenario checks send to kernels.

`make release` writes `Tensor`, as it is here, into the notebook's cell of that name: its
backward rules are the students' functions, found by name where the class is defined. The
drivers build expression graphs with this very class from the plain descriptions of
`checks.py`, call a student's function on them and report plain values. Nothing here is
secret: the module runs in the grader's kernels and in the students' (their self-check).
"""

# ruff: noqa: F821 - the backward rules are the notebook's functions, found where `Tensor` is defined

import torch
import torch.nn.functional as F


class Tensor:
    """Un nœud du graphe de calcul : une valeur `data` (un tenseur torch), son gradient `grad`
    (de la forme de `data`, nul au départ), les nœuds `parents` dont il est calculé, et la règle
    `rule` qui, recevant le gradient de la perte par rapport à ce nœud, renvoie celui par rapport
    à chacun de ses parents (un tuple, dans l'ordre de `parents`). Une feuille n'a ni parents ni règle."""

    def __init__(self, data, parents=(), rule=None, op=""):
        self.data = data if isinstance(data, torch.Tensor) else torch.tensor(data, dtype=torch.float64)
        self.grad = torch.zeros_like(self.data)
        self.parents = tuple(parents)
        self.rule = rule
        self.op = op  # pour l'affichage : "+", "*", "@", "relu", "sum", "entropie"

    def __add__(self, other):
        other = other if isinstance(other, Tensor) else Tensor(torch.as_tensor(other, dtype=self.data.dtype))
        return Tensor(self.data + other.data, (self, other),
                      lambda dl_out: add_backward(dl_out, self.data, other.data), "+")

    def __mul__(self, other):
        other = other if isinstance(other, Tensor) else Tensor(torch.as_tensor(other, dtype=self.data.dtype))
        return Tensor(self.data * other.data, (self, other),
                      lambda dl_out: mul_backward(dl_out, self.data, other.data), "*")

    def __matmul__(self, other):
        return Tensor(self.data @ other.data, (self, other),
                      lambda dl_out: matmul_backward(dl_out, self.data, other.data), "@")

    def relu(self):
        return Tensor(self.data.clamp(min=0), (self,), lambda dl_out: (relu_backward(dl_out, self.data),), "relu")

    def sum(self):
        return Tensor(self.data.sum(), (self,), lambda dl_out: (sum_backward(dl_out, self.data.shape),), "sum")

    def cross_entropy(self, y):
        """L'entropie croisée moyenne des logits `self` (N, C) pour les classes `y` (N,) : un scalaire."""
        return Tensor(F.cross_entropy(self.data, y), (self,),
                      lambda dl_out: (cross_entropy_backward(dl_out, self.data, y),), "entropie")

    def __repr__(self):
        return f"Tensor({self.op or 'feuille'}, forme {tuple(self.data.shape)})"


# ------------------------------------------------------------------ drivers (the grader's, not the notebook's)


def build(graph):
    """The nodes of a graph description, by name: leaves {"name", "value"}, operations {"name", "op", "args"}
    (and "y" for a cross-entropy); the last node is the root."""
    nodes = {}
    for node in graph:
        args = [nodes[a] for a in node.get("args", ())]
        if "value" in node:
            nodes[node["name"]] = Tensor(node["value"])
        elif node["op"] in ("relu", "sum"):
            nodes[node["name"]] = getattr(args[0], node["op"])()
        elif node["op"] == "cross_entropy":
            nodes[node["name"]] = args[0].cross_entropy(node["y"])
        else:
            nodes[node["name"]] = {"+": Tensor.__add__, "*": Tensor.__mul__, "@": Tensor.__matmul__}[node["op"]](*args)
    return nodes


def drive_order(topological_order, graph):
    """The names of the nodes `topological_order(root)` lists, in its order ("?" for anything else);
    the name of its type when it is not a list or a tuple."""
    nodes = build(graph)
    names = {id(node): name for name, node in nodes.items()}
    order = topological_order(nodes[graph[-1]["name"]])
    if not isinstance(order, (list, tuple)):
        return type(order).__name__
    return [names.get(id(node), "?") for node in order[:200]]


def drive_backward(backward, graph):
    """Every node's `grad` after `backward(root)`, by name."""
    nodes = build(graph)
    backward(nodes[graph[-1]["name"]])
    return {name: node.grad for name, node in nodes.items()}
