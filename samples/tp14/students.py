"""The sample class of TP 14 graded by `make demo`.

Each student is a mapping {grade_id: source} laid over the reference solution;
`None` is a student who handed in the release untouched.
"""

STUDENTS = {
    # the reference solution, as a student would write it
    "alice": {},
    # a softmax without the maximum subtracted (NaN at ±1000), scores divided by d instead of √d: the network still
    # finds twins, but its gradients are not torch's, and the training keeps a third of its points
    "oscar": {
        "softmax": (
            "def softmax(s: torch.Tensor) -> torch.Tensor:\n"
            "    e = torch.exp(s)\n"
            "    return e / e.sum(dim=-1, keepdim=True)\n"
        ),
        "attention_forward": (
            "def attention_forward(q, k, v, causal):\n"
            "    s = q @ k.transpose(-2, -1) / q.shape[-1]\n"
            "    if causal:\n"
            "        T = s.shape[-1]\n"
            "        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf'))\n"
            "    a = softmax(s)\n"
            "    return a @ v, a\n"
        ),
        "question_position": "Parce que l'ordre des images ne compte pas.",
    },
    # the layer-norm backward pass without the paths through the mean and the variance (dl_gamma and dl_beta right:
    # 1,25 / 2), repeated ids overwriting each other in the embedding's gradient, the residual's gradient not passed
    # on in the block (dl_x wrong, every parameter's gradient right): the network still finds twins (93 %), but its
    # gradients are not torch's, and the training keeps a third of its points
    "pauline": {
        "layer_norm_backward": (
            "def layer_norm_backward(dl_y, gamma, xhat, inv_std):\n"
            "    D = xhat.shape[-1]\n"
            "    return gamma * inv_std * dl_y, (dl_y * xhat).reshape(-1, D).sum(0), dl_y.reshape(-1, D).sum(0)\n"
        ),
        "embedding_backward": (
            "def embedding_backward(dl_e, ids, num):\n"
            "    table = torch.zeros(num, dl_e.shape[-1], dtype=dl_e.dtype)\n"
            "    table[ids] = dl_e\n"
            "    return table\n"
        ),
        "block_backward": (
            "def block_backward(params, dl_y, cache):\n"
            "    att = {k: params[k] for k in ('wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo')}\n"
            "    f1, n2 = cache['f1'], cache['n2']\n"
            "    grads = {'w2': dl_y.flatten(0, 1).T @ f1.clamp(min=0).flatten(0, 1), 'b2': dl_y.sum(dim=(0, 1))}\n"
            "    dl_f1 = (dl_y @ params['w2']) * (f1 > 0)\n"
            "    grads['w1'] = dl_f1.flatten(0, 1).T @ n2.flatten(0, 1)\n"
            "    grads['b1'] = dl_f1.sum(dim=(0, 1))\n"
            "    dl_z2, grads['ln2_g'], grads['ln2_b'] = layer_norm_backward(dl_f1 @ params['w1'], params['ln2_g'],\n"
            "                                                                cache['xhat2'], cache['inv_std2'])\n"
            "    dl_z = dl_y + dl_z2\n"
            "    dl_n1, g_att = mha_backward(att, dl_z, cache['mha'])\n"
            "    grads.update(g_att)\n"
            "    dl_x, grads['ln1_g'], grads['ln1_b'] = layer_norm_backward(dl_n1, params['ln1_g'], cache['xhat1'],\n"
            "                                                               cache['inv_std1'])\n"
            "    return dl_x, grads\n"
        ),
    },
    # handed in the release untouched
    "emma": None,
}

# What plain nbgrader gives each copy, per test cell, where it differs from full marks
# (the untouched release scores 0 everywhere; tests/contract/test_contract.py checks all of it).
EXPECTED = {
    "oscar": {"test_softmax": 0, "test_attention_forward": 0, "test_training": 1},
    "pauline": {"test_layer_norm_backward": 1.25, "test_embedding_backward": 0, "test_block_backward": 2.75,
                "test_training": 1},
}
