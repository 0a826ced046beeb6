"""The sample class of TP 11 graded by `make demo`.

Each student is a mapping {grade_id: source} laid over the reference solution;
`None` is a student who handed in the release untouched.
"""

STUDENTS = {
    # the reference solution, as a student would write it
    "alice": {},
    # dl·a for a in mul_backward, `=` instead of `+=` in backward, no set of visited nodes in topological_order
    # (each right only on the one graph without a shared node). The network shares its hidden activations
    # with the penalty: her engine's gradients are not torch's, her training a third of its points
    "ines": {
        "mul_backward": (
            "def mul_backward(dl_out, a, b):\n"
            "    return unbroadcast(dl_out * a, a.shape), unbroadcast(dl_out * b, b.shape)\n"
        ),
        "backward": (
            "def backward(root):\n"
            "    root.grad = torch.ones_like(root.data)\n"
            "    for node in topological_order(root):\n"
            "        if node.rule is not None:\n"
            "            for parent, dl in zip(node.parents, node.rule(node.grad)):\n"
            "                parent.grad = dl\n"
        ),
        "topological_order": (
            "def topological_order(root):\n"
            "    order = []\n"
            "    def visit(node):\n"
            "        for parent in node.parents:\n"
            "            visit(parent)\n"
            "        order.append(node)\n"
            "    visit(root)\n"
            "    return order[::-1]\n"
        ),
        "question_accumulation": "Avec =, on perd des gradients.",
    },
    # the three mistakes of an engine that TP 11 is about: unbroadcast summing only the leading dimensions,
    # a topological order listing a shared node once per path, `=` instead of `+=` in backward. Each spoils
    # the training (the broadcast biases' gradients keep the batch dimension: it stops on a shape error)
    "lucas": {
        "unbroadcast": (
            "def unbroadcast(grad, shape):\n"
            "    while grad.dim() > len(shape):\n"
            "        grad = grad.sum(dim=0)\n"
            "    return grad\n"
        ),
        "topological_order": (
            "def topological_order(root):\n"
            "    order = []\n"
            "    def visit(node):\n"
            "        for parent in node.parents:\n"
            "            visit(parent)\n"
            "        order.append(node)\n"
            "    visit(root)\n"
            "    return order[::-1]\n"
        ),
        "backward": (
            "def backward(root):\n"
            "    root.grad = torch.ones_like(root.data)\n"
            "    for node in topological_order(root):\n"
            "        if node.rule is not None:\n"
            "            for parent, dl in zip(node.parents, node.rule(node.grad)):\n"
            "                parent.grad = dl\n"
        ),
    },
    # size-1 dimensions dropped in unbroadcast, sum gradient not expanded, the cross-entropy gradient
    # not divided by the batch size (the training's steps are 32 times too large: it diverges)
    "jules": {
        "unbroadcast": (
            "def unbroadcast(grad, shape):\n"
            "    while grad.dim() > len(shape):\n"
            "        grad = grad.sum(dim=0)\n"
            "    dims = [d for d, n in enumerate(shape) if n == 1 and grad.shape[d] != 1]\n"
            "    return grad.sum(dim=dims) if dims else grad\n"
        ),
        "sum_backward": "def sum_backward(dl_out, shape):\n    return dl_out\n",
        "cross_entropy_backward": (
            "def cross_entropy_backward(dl_out, s, y):\n"
            "    p = torch.softmax(s, dim=1)\n"
            "    p[torch.arange(len(y)), y] -= 1\n"
            "    return dl_out * p\n"
        ),
    },
    # matmul gradients without their transposes (the training stops on a shape error), relu's derivative
    # 1 at 0, the order reversed
    "karim": {
        "matmul_backward": "def matmul_backward(dl_out, a, b):\n    return dl_out @ b, a @ dl_out\n",
        "relu_backward": "def relu_backward(dl_out, a):\n    return dl_out * (a >= 0)\n",
        "topological_order": (
            "def topological_order(root):\n"
            "    order, seen = [], set()\n"
            "    def visit(node):\n"
            "        if node not in seen:\n"
            "            seen.add(node)\n"
            "            for parent in node.parents:\n"
            "                visit(parent)\n"
            "            order.append(node)\n"
            "    visit(root)\n"
            "    return order\n"
        ),
    },
    # handed in the release untouched
    "emma": None,
}

# What plain nbgrader gives each copy, per test cell, where it differs from full marks
# (the untouched release scores 0 everywhere; tests/contract/test_contract.py checks all of it).
EXPECTED = {
    "ines": {"test_mul_backward": 0, "test_topological_order": 0.5, "test_backward": 0.5, "test_training": 1},
    "lucas": {"test_unbroadcast": 0, "test_topological_order": 0.5, "test_backward": 0.5, "test_training": 0},
    "jules": {"test_unbroadcast": 0, "test_sum_backward": 0, "test_cross_entropy_backward": 0, "test_training": 0},
    "karim": {"test_matmul_backward": 0, "test_relu_backward": 0, "test_topological_order": 0, "test_training": 0},
}
