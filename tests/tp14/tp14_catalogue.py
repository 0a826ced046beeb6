"""Catalogues of student code for TP 14, as data: (function, source[, expected message fragment]).

Every source defines one function; the rest of the notebook is the reference solution.
"""

SIGNATURES = {
    "softmax": "softmax(s)", "softmax_backward": "softmax_backward(dl_p, p)",
    "attention_forward": "attention_forward(q, k, v, causal)",
    "attention_backward": "attention_backward(dl_out, q, k, v, a)",
    "layer_norm_forward": "layer_norm_forward(x, gamma, beta, eps)",
    "layer_norm_backward": "layer_norm_backward(dl_y, gamma, xhat, inv_std)",
    "split_heads": "split_heads(x, h)", "merge_heads": "merge_heads(x)",
    "embedding_backward": "embedding_backward(dl_e, ids, num)",
    "mha_forward": "mha_forward(params, x, h, causal)", "mha_backward": "mha_backward(params, dl_y, cache)",
    "block_forward": "block_forward(params, x, h, causal)", "block_backward": "block_backward(params, dl_y, cache)",
}


def code(name, *body):
    """The source of `def name(...)` with these lines as its body (each indented once more)."""
    return f"def {SIGNATURES[name]}:\n" + "\n".join("    " + line for line in body)


def replaced(lines, old, new):
    """`lines` with the line `old` replaced by `new` (one line or several)."""
    assert old in lines, old
    i = lines.index(old)
    return (*lines[:i], *((new,) if isinstance(new, str) else new), *lines[i + 1:])


# ---- shared lines
SCORES = ("s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])",)
MASK = ("if causal:", "    T = s.shape[-1]", "    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float('-inf'))")
ATTENTION_END = ("a = softmax(s)", "return a @ v, a")
ATTENTION = (*SCORES, *MASK, *ATTENTION_END)
DL_S = ("dl_a = dl_out @ v.transpose(-2, -1)", "dl_s = softmax_backward(dl_a, a) / math.sqrt(q.shape[-1])")
ATTENTION_GRADS = ("dl_q = dl_s @ k", "dl_k = dl_s.transpose(-2, -1) @ q", "dl_v = a.transpose(-2, -1) @ dl_out",
                   "return dl_q, dl_k, dl_v")
LN_STATS = ("mean = x.mean(dim=-1, keepdim=True)", "var = ((x - mean) ** 2).mean(dim=-1, keepdim=True)")
LN_END = ("inv_std = 1 / torch.sqrt(var + eps)", "xhat = (x - mean) * inv_std", "return gamma * xhat + beta, xhat, inv_std")
LNB_G = ("D = xhat.shape[-1]", "g = dl_y * gamma")
LNB_FUSED = "dl_x = inv_std / D * (D * g - g.sum(-1, keepdim=True) - xhat * (g * xhat).sum(-1, keepdim=True))"
LNB_SUMS = ("dl_gamma = (dl_y * xhat).reshape(-1, D).sum(dim=0)", "dl_beta = dl_y.reshape(-1, D).sum(dim=0)",
            "return dl_x, dl_gamma, dl_beta")
MHA = ("q = split_heads(x @ params['wq'].T + params['bq'], h)", "k = split_heads(x @ params['wk'].T + params['bk'], h)",
       "v = split_heads(x @ params['wv'].T + params['bv'], h)", "out, a = attention_forward(q, k, v, causal)",
       "o = merge_heads(out)", "y = o @ params['wo'].T + params['bo']",
       "return y, {'x': x, 'q': q, 'k': k, 'v': v, 'a': a, 'o': o}")
MHAB = ("h = cache['q'].shape[1]", "x, o = cache['x'].flatten(0, 1), cache['o'].flatten(0, 1)",
        "grads = {'wo': dl_y.flatten(0, 1).T @ o, 'bo': dl_y.sum(dim=(0, 1))}",
        "dl_q, dl_k, dl_v = attention_backward(split_heads(dl_y @ params['wo'], h), cache['q'], cache['k'], cache['v'], cache['a'])",
        "dl_q, dl_k, dl_v = merge_heads(dl_q), merge_heads(dl_k), merge_heads(dl_v)",
        "for n, dl in (('q', dl_q), ('k', dl_k), ('v', dl_v)):",
        "    grads['w' + n] = dl.flatten(0, 1).T @ x",
        "    grads['b' + n] = dl.sum(dim=(0, 1))",
        "dl_x = dl_q @ params['wq'] + dl_k @ params['wk'] + dl_v @ params['wv']",
        "return dl_x, grads")
ATT_KEYS = "att = {k: params[k] for k in ('wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo')}"
BLOCK = (ATT_KEYS, "n1, xhat1, inv_std1 = layer_norm_forward(x, params['ln1_g'], params['ln1_b'], 1e-5)",
         "attended, mha = mha_forward(att, n1, h, causal)", "z = x + attended",
         "n2, xhat2, inv_std2 = layer_norm_forward(z, params['ln2_g'], params['ln2_b'], 1e-5)",
         "f1 = n2 @ params['w1'].T + params['b1']", "y = z + f1.clamp(min=0) @ params['w2'].T + params['b2']",
         "return y, {'x': x, 'mha': mha, 'xhat1': xhat1, 'inv_std1': inv_std1, 'xhat2': xhat2, 'inv_std2': inv_std2, "
         "'n2': n2, 'f1': f1}")
BLOCKB = (ATT_KEYS, "f1, n2 = cache['f1'], cache['n2']",
          "grads = {'w2': dl_y.flatten(0, 1).T @ f1.clamp(min=0).flatten(0, 1), 'b2': dl_y.sum(dim=(0, 1))}",
          "dl_f1 = (dl_y @ params['w2']) * (f1 > 0)",
          "grads['w1'] = dl_f1.flatten(0, 1).T @ n2.flatten(0, 1)", "grads['b1'] = dl_f1.sum(dim=(0, 1))",
          "dl_z2, grads['ln2_g'], grads['ln2_b'] = layer_norm_backward(dl_f1 @ params['w1'], params['ln2_g'], "
          "cache['xhat2'], cache['inv_std2'])",
          "dl_z = dl_y + dl_z2",
          "dl_n1, g_att = mha_backward(att, dl_z, cache['mha'])", "grads.update(g_att)",
          "dl_x1, grads['ln1_g'], grads['ln1_b'] = layer_norm_backward(dl_n1, params['ln1_g'], cache['xhat1'], "
          "cache['inv_std1'])",
          "return dl_z + dl_x1, grads")

WRONG = [
    # ---- softmax
    ("softmax", code("softmax", "e = torch.exp(s)", "return e / e.sum(dim=-1, keepdim=True)"), "débordement sur de grands logits"),
    ("softmax", code("softmax", "e = torch.exp(s - s.max(dim=0, keepdim=True).values)", "return e / e.sum(dim=0, keepdim=True)"),
     "la softmax se calcule sur la dernière dimension"),
    ("softmax", code("softmax", "e = torch.exp(s - s.max())", "return e / e.sum(dim=-1, keepdim=True)"),
     "le maximum se retire de chaque ligne"),
    ("softmax", code("softmax", "e = torch.exp(s - s.max(dim=-1, keepdim=True).values)", "return e / e.sum()"),
     "la somme porte sur chaque ligne"),
    ("softmax", code("softmax", "e = torch.exp(s - s.max(dim=-1, keepdim=True).values)", "return e / e.sum(dim=-1)"),
     "gardez la dimension réduite (keepdim=True)"),
    ("softmax", code("softmax", "return torch.softmax(s, dim=-1)"), "`torch.softmax` fait le travail"),
    ("softmax", code("softmax", "return s.softmax(-1)"), "`torch.softmax` fait le travail"),
    # ---- softmax_backward
    ("softmax_backward", code("softmax_backward", "return p * (1 - p) * dl_p"), "seule la diagonale de la jacobienne"),
    ("softmax_backward", code("softmax_backward", "return p * (dl_p - dl_p.sum(dim=-1, keepdim=True))"),
     "la somme retirée est pondérée par p"),
    ("softmax_backward", code("softmax_backward", "return dl_p - (dl_p * p).sum(dim=-1, keepdim=True)"),
     "il manque le facteur p"),
    ("softmax_backward", code("softmax_backward", "return p * (dl_p - (dl_p * p).sum(dim=0, keepdim=True))"),
     "porte sur la dernière dimension"),
    ("softmax_backward", code("softmax_backward", "return p * (dl_p + (dl_p * p).sum(dim=-1, keepdim=True))"), "signe"),
    ("softmax_backward", code("softmax_backward", "return torch._softmax_backward_data(dl_p, p, -1, p.dtype)"),
     "la fonction utilise autograd"),
    # ---- attention_forward
    ("attention_forward", code("attention_forward", "s = q @ k.transpose(-2, -1)", *MASK, *ATTENTION_END),
     "il manque la division par √d"),
    ("attention_forward", code("attention_forward", "s = q @ k.transpose(-2, -1) / q.shape[-1]", *MASK, *ATTENTION_END),
     "pas par d"),
    ("attention_forward", code("attention_forward", "s = q @ k.transpose(-2, -1) / math.sqrt(v.shape[-1])", *MASK,
                               *ATTENTION_END), "d est la taille des requêtes et des clés"),
    ("attention_forward", code("attention_forward", *SCORES, *MASK, "a = softmax(s.transpose(-2, -1)).transpose(-2, -1)",
                               "return a @ v, a"), "la softmax porte sur les clés"),
    ("attention_forward", code("attention_forward", *replaced(ATTENTION, MASK[2], "    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).tril(-1), float('-inf'))")),
     "masque causal inversé"),
    ("attention_forward", code("attention_forward", *replaced(ATTENTION, MASK[2], "    s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), 0.0)")),
     "mis à 0 au lieu de −inf"),
    ("attention_forward", code("attention_forward", *SCORES, "a = softmax(s)", "if causal:",
                               "    a = a * torch.tril(torch.ones(a.shape[-2], a.shape[-1]))", "return a @ v, a"),
     "mis à 0 après la softmax"),
    ("attention_forward", code("attention_forward", *SCORES, *ATTENTION_END), "causal est ignoré"),
    ("attention_forward", code("attention_forward", *SCORES, *MASK, "a = softmax(s)", "return a, a @ v"), "ordre de retour"),
    ("attention_forward", code("attention_forward", "out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)",
                               *SCORES, *MASK, "return out, softmax(s)"), "F.scaled_dot_product_attention"),
    # ---- attention_backward
    ("attention_backward", code("attention_backward", *DL_S, *replaced(ATTENTION_GRADS, ATTENTION_GRADS[2], "dl_v = a @ dl_out")),
     "il manque la transposée de a"),
    ("attention_backward", code("attention_backward", *DL_S, *replaced(ATTENTION_GRADS, ATTENTION_GRADS[1], "dl_k = dl_s @ q")),
     "il manque la transposée de dl_s"),
    ("attention_backward", code("attention_backward", *DL_S, "dl_k = dl_s @ k", "dl_q = dl_s.transpose(-2, -1) @ q",
                                "return dl_q, dl_k, a.transpose(-2, -1) @ dl_out"), "dl_q et dl_k sont échangés"),
    ("attention_backward", code("attention_backward", DL_S[0], "dl_s = softmax_backward(dl_a, a)", *ATTENTION_GRADS),
     "il manque le facteur 1/√d dans dl_q et dl_k"),
    ("attention_backward", code("attention_backward", DL_S[0], "dl_s = a * (1 - a) * dl_a / math.sqrt(q.shape[-1])",
                                *ATTENTION_GRADS), "le gradient de la softmax n'a que sa diagonale"),
    ("attention_backward", code("attention_backward", "q, k, v = (t.detach().requires_grad_() for t in (q, k, v))",
                                "s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])",
                                "s = s.masked_fill(a == 0, float('-inf'))",
                                "out = torch.exp(s - s.logsumexp(-1, keepdim=True)) @ v",
                                "return torch.autograd.grad((out * dl_out).sum(), (q, k, v))"), "la fonction utilise autograd"),
    # ---- layer_norm_forward
    ("layer_norm_forward", code("layer_norm_forward", "mean = x.mean(dim=0, keepdim=True)",
                                "var = ((x - mean) ** 2).mean(dim=0, keepdim=True)", *LN_END), "statistiques sur le lot"),
    ("layer_norm_forward", code("layer_norm_forward", "mean = x.mean(dim=-1, keepdim=True)",
                                "var = x.var(dim=-1, keepdim=True)", *LN_END), "variance non biaisée"),
    ("layer_norm_forward", code("layer_norm_forward", *LN_STATS, "inv_std = 1 / (torch.sqrt(var) + eps)",
                                "xhat = (x - mean) * inv_std", "return gamma * xhat + beta, xhat, inv_std"),
     "eps est hors de la racine"),
    ("layer_norm_forward", code("layer_norm_forward", *LN_STATS, "inv_std = 1 / torch.sqrt(var + eps)",
                                "xhat = (x - mean) * inv_std", "return beta * xhat + gamma, xhat, inv_std"),
     "γ et β sont échangés"),
    ("layer_norm_forward", code("layer_norm_forward", *LN_STATS, "std = torch.sqrt(var + eps)",
                                "xhat = (x - mean) / std", "return gamma * xhat + beta, xhat, std"),
     "inv_std est l'inverse de l'écart-type"),
    ("layer_norm_forward", code("layer_norm_forward", *LN_STATS, *LN_END[:2], "return gamma * xhat + beta, xhat, inv_std.squeeze(-1)"),
     "inv_std garde la dimension réduite"),
    ("layer_norm_forward", code("layer_norm_forward", "D = x.shape[-1]", "xhat = F.layer_norm(x, (D,), eps=eps)",
                                "inv_std = 1 / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + eps)",
                                "return gamma * xhat + beta, xhat, inv_std"), "F.layer_norm (ou nn.LayerNorm)"),
    # ---- layer_norm_backward
    ("layer_norm_backward", code("layer_norm_backward", "D = xhat.shape[-1]", "dl_x = gamma * inv_std * dl_y", *LNB_SUMS),
     "dl_x oublie que la moyenne et la variance dépendent de x"),
    ("layer_norm_backward", code("layer_norm_backward", *LNB_G, "dl_x = inv_std * (g - g.mean(-1, keepdim=True))", *LNB_SUMS),
     "dl_x oublie le chemin de la variance"),
    ("layer_norm_backward", code("layer_norm_backward", *LNB_G,
                                 "dl_x = inv_std * (g - xhat * (g * xhat).mean(-1, keepdim=True))", *LNB_SUMS),
     "dl_x oublie le chemin de la moyenne"),
    ("layer_norm_backward", code("layer_norm_backward", "D = xhat.shape[-1]", "g = dl_y", LNB_FUSED, *LNB_SUMS), "dl_x oublie γ"),
    ("layer_norm_backward", code("layer_norm_backward", *LNB_G, LNB_FUSED,
                                 "return dl_x, (dl_y * xhat).sum(dim=0), dl_y.sum(dim=0)"),
     "dl_gamma n'est sommé que sur la première dimension"),
    ("layer_norm_backward", code("layer_norm_backward", *LNB_G, LNB_FUSED,
                                 "return dl_x, (dl_y * xhat).reshape(-1, D).mean(dim=0), dl_y.reshape(-1, D).sum(dim=0)"),
     "dl_gamma est une somme"),
    ("layer_norm_backward", code("layer_norm_backward", *LNB_G, LNB_FUSED,
                                 "return dl_gamma_of(dl_y, xhat), dl_x, dl_y.reshape(-1, D).sum(dim=0)") +
     "\n\n\ndef dl_gamma_of(dl_y, xhat):\n    return (dl_y * xhat).reshape(-1, xhat.shape[-1]).sum(dim=0)",
     "ordre de retour"),
    ("layer_norm_backward", code("layer_norm_backward", "D = xhat.shape[-1]",
                                 "x = (xhat / inv_std).detach().requires_grad_()", "g = gamma.detach().requires_grad_()",
                                 "xh = (x - x.mean(-1, keepdim=True)) / torch.sqrt(x.var(-1, unbiased=False, keepdim=True) + 1e-5)",
                                 "dl_x, dl_gamma = torch.autograd.grad((g * xh * dl_y).sum(), (x, g))",
                                 "return dl_x, dl_gamma, dl_y.reshape(-1, D).sum(0)"), "la fonction utilise autograd"),
    # ---- split_heads
    ("split_heads", code("split_heads", "B, T, D = x.shape", "return x.reshape(B, h, T, D // h)"),
     "mélange positions et têtes"),
    ("split_heads", code("split_heads", "B, T, D = x.shape", "return x.reshape(B, T, D // h, h).permute(0, 3, 1, 2)"),
     "la tête i reçoit des caractéristiques consécutives"),
    ("split_heads", code("split_heads", "B, T, D = x.shape", "return x.reshape(B, T, h, D // h)"), "forme attendue"),
    ("split_heads", code("split_heads", "dh = x.shape[-1] // h",
                         "return torch.stack([x[..., i * dh:(i + 1) * dh] for i in range(h)], dim=1)"),
     "boucle Python détectée"),
    # ---- merge_heads
    ("merge_heads", code("merge_heads", "B, h, T, dh = x.shape", "return x.reshape(B, T, h * dh)"),
     "sans transposer d'abord"),
    ("merge_heads", code("merge_heads", "B, h, T, dh = x.shape", "return x.permute(0, 2, 3, 1).reshape(B, T, h * dh)"),
     "doivent rester consécutives"),
    ("merge_heads", code("merge_heads", "B, h, T, dh = x.shape", "return x.transpose(1, 2).view(B, T, h * dh)"),
     "n'est plus contigu"),
    ("merge_heads", code("merge_heads", "return torch.cat([x[:, i] for i in range(x.shape[1])], dim=-1)"),
     "boucle Python détectée"),
    # ---- embedding_backward
    ("embedding_backward", code("embedding_backward", "table = torch.zeros(num, dl_e.shape[-1], dtype=dl_e.dtype)",
                                "table[ids] = dl_e", "return table"), "écrase sa ligne"),
    ("embedding_backward", code("embedding_backward", "table = torch.zeros(num, dl_e.shape[-1], dtype=dl_e.dtype)",
                                "table[ids] += dl_e", "return table"), "écrase sa ligne"),
    ("embedding_backward", code("embedding_backward", "table = torch.zeros(num, dl_e.shape[-1], dtype=dl_e.dtype)",
                                "return table.index_put_((ids,), dl_e)"), "écrase sa ligne"),
    ("embedding_backward", code("embedding_backward", "D = dl_e.shape[-1]",
                                "table = torch.zeros(int(ids.max()) + 1, D, dtype=dl_e.dtype)",
                                "return table.index_add_(0, ids.reshape(-1), dl_e.reshape(-1, D))"), "la table a num lignes"),
    ("embedding_backward", code("embedding_backward", "D = dl_e.shape[-1]", "table = torch.zeros(num, D, dtype=dl_e.dtype)",
                                "for i, row in zip(ids.reshape(-1).tolist(), dl_e.reshape(-1, D)):", "    table[i] += row",
                                "return table"), "boucle Python détectée"),
    ("embedding_backward", code("embedding_backward", "table = torch.zeros(num, dl_e.shape[-1], dtype=dl_e.dtype, requires_grad=True)",
                                "(F.embedding(ids, table) * dl_e).sum().backward()", "return table.grad"), "F.embedding"),
    # ---- mha_forward
    ("mha_forward", code("mha_forward", *(line.replace("split_heads(", "mixed(") for line in MHA[:3]), *MHA[3:]) +
     "\n\n\ndef mixed(t, h):\n    return t.reshape(t.shape[0], h, t.shape[1], -1)", "les têtes mélangent positions"),
    ("mha_forward", code("mha_forward", *(line.replace("'].T", "']") for line in MHA)), "les poids sont au format de nn.Linear"),
    ("mha_forward", code("mha_forward", *(line.replace(" + params['bq']", "").replace(" + params['bk']", "")
                                            .replace(" + params['bv']", "") for line in MHA)), "les biais b_q, b_k, b_v"),
    ("mha_forward", code("mha_forward", *replaced(MHA, MHA[5], "y = o")), "la projection de sortie est oubliée"),
    ("mha_forward", code("mha_forward", *replaced(MHA, MHA[3], "out, a = attention_forward(q, k, v, False)")),
     "causal n'est pas transmis"),
    ("mha_forward", code("mha_forward", *replaced(MHA, MHA[3], ("out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)",
                                                                "a = attention_forward(q, k, v, causal)[1]"))),
     "F.scaled_dot_product_attention"),
    # ---- mha_backward
    ("mha_backward", code("mha_backward", *replaced(MHAB, MHAB[8], "dl_x = dl_q @ params['wq']")),
     "dl_x ne suit que le chemin de q"),
    ("mha_backward", code("mha_backward", *replaced(MHAB, MHAB[8], "dl_x = dl_q @ params['wq'] + dl_k @ params['wk']")),
     "dl_x oublie le chemin de v"),
    ("mha_backward", code("mha_backward", *replaced(MHAB, MHAB[6], "    grads['w' + n] = x.T @ dl.flatten(0, 1)")),
     "est transposé"),
    ("mha_backward", code("mha_backward", *replaced(MHAB, MHAB[7], "    grads['b' + n] = dl.mean(dim=(0, 1))")),
     "ne faites pas la moyenne"),
    ("mha_backward", code("mha_backward", "x = cache['x'].detach().requires_grad_()",
                          "p = {k: t.detach().requires_grad_() for k, t in params.items()}",
                          "y = mha_forward(p, x, cache['q'].shape[1], bool((cache['a'].triu(1) == 0).all()) and cache['a'].shape[-1] > 1)[0]",
                          "found = torch.autograd.grad((y * dl_y).sum(), [x, *p.values()])",
                          "return found[0], dict(zip(p, found[1:]))"), "la fonction utilise autograd"),
    # ---- block_forward
    ("block_forward", code("block_forward", *replaced(BLOCK, BLOCK[3], "z = attended")),
     "la connexion résiduelle de l'attention est oubliée"),
    ("block_forward", code("block_forward", *replaced(BLOCK, BLOCK[6], "y = f1.clamp(min=0) @ params['w2'].T + params['b2']")),
     "la connexion résiduelle du MLP est oubliée"),
    ("block_forward", code("block_forward", ATT_KEYS, "attended, mha = mha_forward(att, x, h, causal)",
                           "z, xhat1, inv_std1 = layer_norm_forward(x + attended, params['ln1_g'], params['ln1_b'], 1e-5)",
                           "f1 = z @ params['w1'].T + params['b1']",
                           "y, xhat2, inv_std2 = layer_norm_forward(z + f1.clamp(min=0) @ params['w2'].T + params['b2'], "
                           "params['ln2_g'], params['ln2_b'], 1e-5)",
                           "return y, {'x': x, 'mha': mha, 'xhat1': xhat1, 'inv_std1': inv_std1, 'xhat2': xhat2, "
                           "'inv_std2': inv_std2, 'n2': z, 'f1': f1}"), "c'est un bloc post-LN"),
    ("block_forward", code("block_forward", *replaced(BLOCK, BLOCK[6], "y = z + f1 @ params['w2'].T + params['b2']")),
     "le ReLU du MLP est oublié"),
    ("block_forward", code("block_forward", *replaced(BLOCK, BLOCK[4], (
        "n2 = F.layer_norm(z, (z.shape[-1],), params['ln2_g'], params['ln2_b'], 1e-5)",
        "inv_std2 = 1 / torch.sqrt(z.var(-1, unbiased=False, keepdim=True) + 1e-5)",
        "xhat2 = (z - z.mean(-1, keepdim=True)) * inv_std2"))), "F.layer_norm (ou nn.LayerNorm)"),
    # ---- block_backward
    ("block_backward", code("block_backward", *replaced(BLOCKB, BLOCKB[-1], "return dl_x1, grads")),
     "le gradient de la connexion résiduelle z = x + …"),
    ("block_backward", code("block_backward", *replaced(BLOCKB, "dl_z = dl_y + dl_z2", "dl_z = dl_z2")),
     "le gradient de la connexion résiduelle y = z + …"),
    ("block_backward", code("block_backward", *replaced(BLOCKB, BLOCKB[3], "dl_f1 = dl_y @ params['w2']")),
     "le gradient du ReLU n'est pas masqué"),
    ("block_backward", code("block_backward", "x = cache['x'].detach().requires_grad_()",
                            "p = {k: t.detach().requires_grad_() for k, t in params.items()}",
                            "a = cache['mha']['a']",
                            "y = block_forward(p, x, cache['mha']['q'].shape[1], bool((a.triu(1) == 0).all()) and a.shape[-1] > 1)[0]",
                            "found = torch.autograd.grad((y * dl_y).sum(), [x, *p.values()])",
                            "return found[0], dict(zip(p, found[1:]))"), "la fonction utilise autograd"),
]

CORRECT = [
    # ---- softmax
    ("softmax", code("softmax", "return torch.exp(s - torch.logsumexp(s, dim=-1, keepdim=True))")),
    ("softmax", code("softmax", "m = s.amax(dim=-1, keepdim=True)", "e = (s - m).exp()", "return e / e.sum(-1, keepdim=True)")),
    ("softmax", code("softmax", "e = torch.exp(s - s.max(dim=-1, keepdim=True)[0])", "return e * (1 / e.sum(dim=-1)).unsqueeze(-1)")),
    # ---- softmax_backward
    ("softmax_backward", code("softmax_backward", "return p * dl_p - p * (p * dl_p).sum(dim=-1, keepdim=True)")),
    ("softmax_backward", code("softmax_backward", "J = torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)",
                              "return (J @ dl_p.unsqueeze(-1)).squeeze(-1)")),
    # ---- attention_forward
    ("attention_forward", code("attention_forward", "s = torch.einsum('...id,...jd->...ij', q / math.sqrt(q.shape[-1]), k)",
                               "if causal:", "    T = s.shape[-1]",
                               "    s = torch.where(torch.tril(torch.ones(T, T)) == 0, float('-inf'), s)",
                               "a = softmax(s)", "return torch.einsum('...ij,...jd->...id', a, v), a")),
    ("attention_forward", code("attention_forward", "s = (q @ k.mT) * q.shape[-1] ** -0.5", "if causal:",
                               "    i = torch.arange(s.shape[-2])[:, None]", "    j = torch.arange(s.shape[-1])[None, :]",
                               "    s = s.masked_fill(j > i, -math.inf)", "a = softmax(s)", "return a @ v, a")),
    # ---- attention_backward
    ("attention_backward", code("attention_backward", "d = q.shape[-1]", "dl_v = a.mT @ dl_out",
                                "dl_a = dl_out @ v.mT", "dl_s = a * (dl_a - (a * dl_a).sum(-1, keepdim=True))",
                                "return dl_s @ k / math.sqrt(d), dl_s.mT @ q / math.sqrt(d), dl_v")),
    ("attention_backward", code("attention_backward", "dl_a = torch.einsum('...id,...jd->...ij', dl_out, v)",
                                "dl_s = softmax_backward(dl_a, a) / math.sqrt(q.shape[-1])",
                                "return (torch.einsum('...ij,...jd->...id', dl_s, k), torch.einsum('...ij,...id->...jd', dl_s, q), "
                                "torch.einsum('...ij,...id->...jd', a, dl_out))")),
    # ---- layer_norm_forward
    ("layer_norm_forward", code("layer_norm_forward", "var, mean = torch.var_mean(x, dim=-1, unbiased=False, keepdim=True)",
                                *LN_END)),
    ("layer_norm_forward", code("layer_norm_forward", "mean = x.mean(-1, keepdim=True)",
                                "std = x.std(dim=-1, unbiased=False, keepdim=True)", "inv_std = torch.rsqrt(std ** 2 + eps)",
                                "xhat = (x - mean) * inv_std", "return torch.addcmul(beta, gamma, xhat), xhat, inv_std")),
    ("layer_norm_forward", code("layer_norm_forward", "centred = x - x.mean(-1, keepdim=True)",
                                "inv_std = (centred.pow(2).sum(-1, keepdim=True) / x.shape[-1] + eps) ** -0.5",
                                "xhat = centred * inv_std", "return xhat * gamma + beta, xhat, inv_std")),
    # ---- layer_norm_backward
    ("layer_norm_backward", code("layer_norm_backward", *LNB_G,
                                 "dl_x = inv_std * (g - g.mean(-1, keepdim=True) - xhat * (g * xhat).mean(-1, keepdim=True))",
                                 *LNB_SUMS)),
    # staged, as in makemore: x - mu, var, inv_std, xhat, each path on its own
    ("layer_norm_backward", code("layer_norm_backward", "D = xhat.shape[-1]", "dl_xhat = dl_y * gamma", "xmu = xhat / inv_std",
                                 "dl_inv_std = (dl_xhat * xmu).sum(-1, keepdim=True)", "dl_xmu = dl_xhat * inv_std",
                                 "dl_var = dl_inv_std * (-0.5) * inv_std ** 3", "dl_xmu = dl_xmu + 2 * xmu * dl_var / D",
                                 "dl_x = dl_xmu - dl_xmu.mean(-1, keepdim=True)",
                                 "dims = tuple(range(dl_y.dim() - 1))",
                                 "return dl_x, torch.einsum('...d,...d->d', dl_y, xhat), dl_y.sum(dim=dims)")),
    # ---- split_heads
    ("split_heads", code("split_heads", "B, T, D = x.shape", "return x.view(B, T, h, D // h).transpose(1, 2)")),
    ("split_heads", code("split_heads", "return x.unflatten(-1, (h, -1)).permute(0, 2, 1, 3)")),
    # ---- merge_heads
    ("merge_heads", code("merge_heads", "B, h, T, dh = x.shape", "return x.permute(0, 2, 1, 3).reshape(B, T, h * dh)")),
    ("merge_heads", code("merge_heads", "B, h, T, dh = x.shape", "return x.transpose(1, 2).contiguous().view(B, T, -1)")),
    ("merge_heads", code("merge_heads", "return x.transpose(1, 2).flatten(2)")),
    # ---- embedding_backward
    ("embedding_backward", code("embedding_backward", "table = torch.zeros(num, dl_e.shape[-1], dtype=dl_e.dtype)",
                                "return table.index_put_((ids,), dl_e, accumulate=True)")),
    ("embedding_backward", code("embedding_backward", "D = dl_e.shape[-1]",
                                "return F.one_hot(ids.reshape(-1), num).to(dl_e.dtype).T @ dl_e.reshape(-1, D)")),
    # ---- mha_forward
    ("mha_forward", code("mha_forward", "w = torch.cat([params['wq'], params['wk'], params['wv']])",
                         "b = torch.cat([params['bq'], params['bk'], params['bv']])",
                         "q, k, v = (split_heads(t, h) for t in (x @ w.T + b).chunk(3, dim=-1))",
                         "out, a = attention_forward(q, k, v, causal)", "o = merge_heads(out)",
                         "return o @ params['wo'].T + params['bo'], dict(x=x, q=q, k=k, v=v, a=a, o=o)")),
    ("mha_forward", code("mha_forward", "cache = {'x': x}", "for n in 'qkv':",
                         "    cache[n] = split_heads(F.linear(x, params['w' + n], params['b' + n]), h)",
                         "out, cache['a'] = attention_forward(cache['q'], cache['k'], cache['v'], causal)",
                         "cache['o'] = merge_heads(out)", "return F.linear(cache['o'], params['wo'], params['bo']), cache")),
    # ---- mha_backward
    ("mha_backward", code("mha_backward", "q, k, v, a, x, o = (cache[n] for n in ('q', 'k', 'v', 'a', 'x', 'o'))",
                          "grads = {'wo': torch.einsum('bto,bti->oi', dl_y, o), 'bo': dl_y.sum((0, 1))}",
                          "dl_heads = attention_backward(split_heads(dl_y @ params['wo'], q.shape[1]), q, k, v, a)",
                          "dl_x = 0", "for n, dl_h in zip('qkv', dl_heads):", "    dl = merge_heads(dl_h)",
                          "    grads['w' + n] = torch.einsum('bto,bti->oi', dl, x)", "    grads['b' + n] = dl.sum((0, 1))",
                          "    dl_x = dl_x + dl @ params['w' + n]", "return dl_x, grads")),
    ("mha_backward", code("mha_backward", *replaced(MHAB, MHAB[8], (
        "w = torch.cat([params['wq'], params['wk'], params['wv']])",
        "dl_x = torch.cat([dl_q, dl_k, dl_v], dim=-1) @ w")))),
    # ---- block_forward
    ("block_forward", code("block_forward", *replaced(BLOCK, BLOCK[6], "y = z + F.linear(torch.relu(f1), params['w2'], params['b2'])"))),
    ("block_forward", code("block_forward", "att = {k: v for k, v in params.items() if k[0] in 'wb' and k[1] in 'qkvo'}",
                           *BLOCK[1:])),
    # ---- block_backward
    ("block_backward", code("block_backward", *replaced(BLOCKB, BLOCKB[3], "dl_f1 = torch.where(f1 > 0, dl_y @ params['w2'], 0.0)"))),
    ("block_backward", code("block_backward", *replaced(BLOCKB, BLOCKB[-1], ("dl_x = dl_z.clone()", "dl_x += dl_x1",
                                                                             "return dl_x, grads"))),),
]

TRIAL = [
    ("softmax", code("softmax", "e = torch.exp(s)", "return e / e.sum(dim=-1, keepdim=True)"), "débordement sur de grands logits"),
    ("attention_forward", code("attention_forward", "s = q @ k.transpose(-2, -1)", *MASK, *ATTENTION_END),
     "il manque la division par √d"),
    ("layer_norm_forward", code("layer_norm_forward", "mean = x.mean(dim=-1, keepdim=True)",
                                "var = x.var(dim=-1, keepdim=True)", *LN_END), "variance non biaisée"),
]
TRIAL_TRAINING = "vos fonctions ne calculent pas les gradients de torch"
