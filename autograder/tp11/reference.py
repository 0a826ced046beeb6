"""Reference solution of TP 11: a reverse-mode autograd of one's own, on tensors.

Each function is copied into the solution cell of the same name in
`source/tp11/tp11_autograd.ipynb` by `make release`; its docstring is shown to
students in the stub, so it is written in French.
"""

import torch


def unbroadcast(grad: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    r"""Somme `grad` sur les dimensions que la diffusion (*broadcasting*) a ajoutées devant ou étirées
    depuis une taille 1, pour qu'il ait la forme `shape`."""
    while grad.dim() > len(shape):
        grad = grad.sum(dim=0)
    for dim, size in enumerate(shape):
        if size == 1 and grad.shape[dim] != 1:
            grad = grad.sum(dim=dim, keepdim=True)
    return grad


def add_backward(dl_out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Pour $out = a + b$ (avec diffusion) : $(\partial \mathcal{L}/\partial a, \partial \mathcal{L}/\partial b)$."""
    return unbroadcast(dl_out, a.shape), unbroadcast(dl_out, b.shape)


def mul_backward(dl_out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Pour $out = a \odot b$ (terme à terme, avec diffusion) : $(\partial \mathcal{L}/\partial a, \partial \mathcal{L}/\partial b)$."""
    return unbroadcast(dl_out * b, a.shape), unbroadcast(dl_out * a, b.shape)


def matmul_backward(dl_out: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Pour $out = a\, b$ (produit matriciel de deux matrices) : $(\partial \mathcal{L}/\partial a, \partial \mathcal{L}/\partial b)$."""
    return dl_out @ b.T, a.T @ dl_out


def relu_backward(dl_out: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    r"""Pour $out = \mathrm{relu}(a)$ : $\partial \mathcal{L}/\partial a$ (la dérivée de relu vaut $0$ en $0$)."""
    return dl_out * (a > 0).to(dl_out.dtype)


def sum_backward(dl_out: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    r"""Pour $out = \sum_i a_i$ (un scalaire) : $\partial \mathcal{L}/\partial a$, de la forme `shape` de $a$."""
    return torch.ones(shape, dtype=dl_out.dtype) * dl_out


def cross_entropy_backward(dl_out: torch.Tensor, s: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Pour $out = -\frac{1}{N} \sum_n \log \mathrm{softmax}(s_n)_{y_n}$ : $\partial \mathcal{L}/\partial s$, de la forme de $s$."""
    p = torch.softmax(s, dim=1)
    p[torch.arange(len(y)), y] -= 1
    return dl_out * p / len(y)


def topological_order(root) -> list:
    r"""Les nœuds accessibles depuis `root` (lui compris), chacun une fois, chaque nœud avant ses parents."""
    order, seen = [], set()

    def visit(node):
        if node not in seen:
            seen.add(node)
            for parent in node.parents:
                visit(parent)
            order.append(node)

    visit(root)
    return order[::-1]


def backward(root) -> None:
    r"""Rétropropagation depuis `root` : le `grad` de chaque nœud accessible reçoit la dérivée de `root` par
    rapport à ce nœud (rien n'est renvoyé)."""
    root.grad = torch.ones_like(root.data)
    for node in topological_order(root):
        if node.rule is not None:
            for parent, dl_parent in zip(node.parents, node.rule(node.grad)):
                parent.grad += dl_parent
