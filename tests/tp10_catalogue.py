"""Catalogues of student code for TP 10, as data: (function, source[, expected message fragment]).

Every source defines one function; the rest of the notebook is the reference solution.
"""

FORWARD = "def forward_pass(params, x):\n"
BACKWARD = "def backward_pass(params, x, y, s1, x1, s2):\n"
SGD = "def sgd_momentum_step(params, grads, velocities, lr, momentum):\n"

WRONG = [
    # ---- relu
    ("relu", "def relu(x):\n    return torch.max(x, 0)", "torch.max(x, 0) cherche le maximum"),
    ("relu", "def relu(x):\n    return x.clamp(max=0)", "pas l'inverse"),
    ("relu", "def relu(x):\n    return (x > 0).to(x.dtype)", "pas la dérivée"),
    ("relu", "def relu(x):\n    return torch.stack([v.clamp(min=0) for v in x])", "boucle Python détectée"),
    ("relu", "def relu(x):\n    return x.clamp_(min=0)", "modifie en place son entrée `x`"),
    ("relu", "def relu(x):\n    x[x < 0] = 0\n    return x", "modifie en place son entrée `x`"),
    ("relu", "def relu(x):\n    return x.clamp(min=0).tolist()", "un tenseur torch était attendu"),
    ("relu", "def relu(x):\n    return torch.abs(x)", "valeurs fausses"),
    # ---- drelu
    ("drelu", "def drelu(x):\n    return (x >= 0).to(x.dtype)", "en 0, la dérivée de ReLU vaut 0"),
    ("drelu", "def drelu(x):\n    return torch.heaviside(x, torch.ones_like(x))", "en 0, la dérivée de ReLU vaut 0"),
    ("drelu", "def drelu(x):\n    return relu(x)", "pas ReLU elle-même"),
    ("drelu", "def drelu(x):\n    return (x < 0).to(x.dtype)", "signe inversé"),
    ("drelu", "def drelu(x):\n    x = x.clone().requires_grad_()\n    torch.relu(x).sum().backward()\n    return x.grad",
     "utilise autograd"),
    ("drelu", "def drelu(x):\n    return torch.sign(x)", "valeurs fausses"),
    # ---- log_softmax
    ("log_softmax", "def log_softmax(s):\n    return s - torch.log(torch.exp(s).sum(dim=1, keepdim=True))",
     "débordement sur de grands logits"),
    ("log_softmax", "def log_softmax(s):\n    z = torch.exp(s - s.max(dim=1, keepdim=True).values)\n"
                    "    return torch.log(z / z.sum(dim=1, keepdim=True))", "log(softmax(s)) donne −inf"),
    ("log_softmax", "def log_softmax(s):\n    z = s - s.max(dim=0, keepdim=True).values\n"
                    "    return z - torch.log(torch.exp(z).sum(dim=0, keepdim=True))", "pas sur les colonnes (dim=0)"),
    ("log_softmax", "def log_softmax(s):\n    z = torch.exp(s - s.max(dim=1, keepdim=True).values)\n"
                    "    return z / z.sum(dim=1, keepdim=True)", "il manque le logarithme"),
    ("log_softmax", "def log_softmax(s):\n    return torch.log_softmax(s, dim=1)", "`torch.log_softmax` fait le travail"),
    ("log_softmax", "def log_softmax(s):\n    return F.log_softmax(s, dim=1)", "`torch.log_softmax` fait le travail"),
    ("log_softmax", "def log_softmax(s):\n    return torch.log(torch.softmax(s, dim=1))", "`torch.softmax` fait le travail"),
    ("log_softmax", "def log_softmax(s):\n    s -= s.max(dim=1, keepdim=True).values\n"
                    "    return s - torch.log(torch.exp(s).sum(dim=1, keepdim=True))", "modifie en place son entrée `s`"),
    ("log_softmax", "def log_softmax(s):\n    return torch.stack([r - r.max() - torch.log(torch.exp(r - r.max()).sum()) "
                    "for r in s])", "boucle Python détectée"),
    # ---- cross_entropy
    ("cross_entropy", "def cross_entropy(s, y):\n    return -log_softmax(s)[torch.arange(len(y)), y].sum()",
     "somme au lieu de moyenne"),
    ("cross_entropy", "def cross_entropy(s, y):\n    return -log_softmax(s)[:, y].mean()", "s[:, y] prend toutes les lignes"),
    ("cross_entropy", "def cross_entropy(s, y):\n    l = s - torch.log(torch.exp(s).sum(dim=1, keepdim=True))\n"
                      "    return -l.gather(1, y[:, None]).mean()", "débordement sur de grands logits"),
    ("cross_entropy", "def cross_entropy(s, y):\n    return log_softmax(s).gather(1, y[:, None]).mean()", "signe inversé"),
    ("cross_entropy", "def cross_entropy(s, y):\n    return -log_softmax(s).gather(1, y[:, None]).squeeze(1)",
     "la loss doit être un scalaire"),
    ("cross_entropy", "def cross_entropy(s, y):\n    return F.cross_entropy(s, y)", "`F.cross_entropy` fait le travail"),
    ("cross_entropy", "def cross_entropy(s, y):\n    return F.nll_loss(log_softmax(s), y)", "`F.nll_loss` fait le travail"),
    ("cross_entropy", "def cross_entropy(s, y):\n    return -log_softmax(s)[torch.arange(len(y)), y].mean().item()",
     "un tenseur torch était attendu"),
    ("cross_entropy", "def cross_entropy(s, y):\n    l = log_softmax(s)\n"
                      "    return -torch.stack([l[n, y[n]] for n in range(len(y))]).mean()", "boucle Python détectée"),
    # ---- dcross_entropy
    ("dcross_entropy", "def dcross_entropy(s, y):\n    return torch.exp(log_softmax(s)) - F.one_hot(y, s.shape[1]).to(s.dtype)",
     "n'est pas divisé par la taille du lot"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n    return torch.exp(log_softmax(s)) / s.shape[0]", "il manque le −1"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n    onehot = F.one_hot(s.argmax(dim=1), s.shape[1]).to(s.dtype)\n"
                       "    return (torch.exp(log_softmax(s)) - onehot) / s.shape[0]", "pas de la classe prédite (argmax)"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n"
                       "    return (F.one_hot(y, s.shape[1]).to(s.dtype) - torch.exp(log_softmax(s))) / s.shape[0]",
     "signe inversé"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n    s = s.detach().clone().requires_grad_()\n"
                       "    cross_entropy(s, y).backward()\n    return s.grad", "utilise autograd"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n"
                       "    return (torch.softmax(s, dim=1) - F.one_hot(y, s.shape[1]).to(s.dtype)) / s.shape[0]",
     "`torch.softmax` fait le travail"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n    g = torch.exp(log_softmax(s))\n    for n in range(len(y)):\n"
                       "        g[n, y[n]] -= 1\n    return g / len(y)", "boucle Python détectée"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n    s -= s.max(dim=1, keepdim=True).values\n    p = torch.exp(s)\n"
                       "    p = p / p.sum(dim=1, keepdim=True)\n    p[torch.arange(len(y)), y] -= 1\n    return p / len(y)",
     "modifie en place son entrée `s`"),
    # ---- he_init
    ("he_init", "def he_init(nbOut, nbIn, generator):\n    return torch.randn(nbOut, nbIn, generator=generator) * (2 / nbIn)",
     "2/nbIn est la variance, pas l'écart-type"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n"
                "    return torch.randn(nbOut, nbIn, generator=generator) * math.sqrt(2 / nbOut)", "pas nbOut"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n"
                "    return (2 * torch.rand(nbOut, nbIn, generator=generator) - 1) * math.sqrt(6 / nbIn)", "loi uniforme"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n    return torch.randn(nbOut, nbIn) * math.sqrt(2 / nbIn)",
     "même graine"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n    w = torch.empty(nbOut, nbIn)\n"
                "    torch.nn.init.kaiming_normal_(w, generator=generator)\n    return w", "torch.nn.init fait le travail"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n"
                "    return torch.randn(nbOut, nbIn, generator=generator) * math.sqrt(1 / nbIn)", "il manque le facteur 2"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n    return torch.randn(nbOut, nbIn, generator=generator)",
     "torch.randn donne une variance 1"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n"
                "    return torch.randn(nbIn, nbOut, generator=generator) * math.sqrt(2 / nbIn)", "forme attendue (nbOut, nbIn)"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n    g = torch.Generator().manual_seed(0)\n"
                "    return torch.randn(nbOut, nbIn, generator=g) * math.sqrt(2 / nbIn)", "ne change pas quand la graine"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n"
                "    return torch.rand(nbOut, nbIn, generator=generator) * math.sqrt(6 / nbIn)", "doivent être centrés"),
    # ---- forward_pass
    ("forward_pass", FORWARD + "    s1 = x @ params['w1'].T + params['b1']\n    s2 = s1 @ params['w2'].T + params['b2']\n"
                               "    return s1, s1, s2", "ReLU est oubliée"),
    ("forward_pass", FORWARD + "    s1 = x @ params['w1'].T + params['b1']\n    x1 = relu(s1)\n"
                               "    return s1, x1, relu(x1 @ params['w2'].T + params['b2'])", "pas de ReLU après la deuxième couche"),
    ("forward_pass", FORWARD + "    s1 = x @ params['w1'] + params['b1']\n    x1 = relu(s1)\n"
                               "    return s1, x1, x1 @ params['w2'] + params['b2']", "vérifiez les transpositions"),
    ("forward_pass", FORWARD + "    s1 = x @ params['w1'].T + params['b1']\n    x1 = relu(s1)\n"
                               "    return x1 @ params['w2'].T + params['b2']", "tuple de 3 valeurs"),
    ("forward_pass", FORWARD + "    s1 = torch.stack([params['w1'] @ row + params['b1'] for row in x])\n    x1 = relu(s1)\n"
                               "    return s1, x1, x1 @ params['w2'].T + params['b2']", "boucle Python détectée"),
    ("forward_pass", FORWARD + "    s1 = x @ params['w1'].T\n    x1 = relu(s1)\n"
                               "    return s1, x1, x1 @ params['w2'].T", "valeurs fausses"),
    # ---- backward_pass
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y)\n    dl_s1 = drelu(s1) * (dl_s2 @ params['w2'])\n"
                                 "    return {'w1': x.T @ dl_s1, 'b1': dl_s1.sum(0), 'w2': x1.T @ dl_s2, 'b2': dl_s2.sum(0)}",
     "gradient de w1 transposé"),
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y) / len(y)\n    dl_s1 = drelu(s1) * (dl_s2 @ params['w2'])\n"
                                 "    return {'w1': dl_s1.T @ x, 'b1': dl_s1.sum(0), 'w2': dl_s2.T @ x1, 'b2': dl_s2.sum(0)}",
     "gradient divisé deux fois par N"),
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y)\n    dl_s1 = dl_s2 @ params['w2']\n"
                                 "    return {'w1': dl_s1.T @ x, 'b1': dl_s1.sum(0), 'w2': dl_s2.T @ x1, 'b2': dl_s2.sum(0)}",
     "la dérivée de ReLU est oubliée"),
    ("backward_pass", BACKWARD + "    p = {k: v.detach().clone().requires_grad_() for k, v in params.items()}\n"
                                 "    cross_entropy(forward_pass(p, x)[2], y).backward()\n"
                                 "    return {k: v.grad for k, v in p.items()}", "utilise autograd"),
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y)\n    dl_s1 = drelu(s1) * (dl_s2 @ params['w2'])\n"
                                 "    dl_w1 = sum(torch.outer(dl_s1[n], x[n]) for n in range(len(x)))\n"
                                 "    return {'w1': dl_w1, 'b1': dl_s1.sum(0), 'w2': dl_s2.T @ x1, 'b2': dl_s2.sum(0)}",
     "boucle Python détectée"),
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y)\n    dl_s1 = s1.gt_(0) * (dl_s2 @ params['w2'])\n"
                                 "    return {'w1': dl_s1.T @ x, 'b1': dl_s1.sum(0), 'w2': dl_s2.T @ x1, 'b2': dl_s2.sum(0)}",
     "modifie en place son entrée `s1`"),
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y)\n    dl_s1 = drelu(s1) * (dl_s2 @ params['w2'])\n"
                                 "    return dl_s1.T @ x, dl_s1.sum(0), dl_s2.T @ x1, dl_s2.sum(0)", "pas un tuple de 4 éléments"),
    # ---- minibatches
    ("minibatches", "def minibatches(n, batch_size, generator):\n    perm = torch.randperm(n, generator=generator)\n"
                    "    return [perm[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]",
     "le dernier lot, plus court, est oublié"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n    return list(torch.arange(n).split(batch_size))",
     "ne sont pas mélangés"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n"
                    "    return list(torch.randint(0, n, (n,), generator=generator).split(batch_size))",
     "apparaissent plusieurs fois"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n    return list(torch.randperm(n).split(batch_size))",
     "même graine"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n"
                    "    return list(torch.randperm(n, generator=generator).chunk(batch_size))", "attendu des lots de"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n"
                    "    return list(torch.randperm(n, generator=generator, dtype=torch.float32).split(batch_size))",
     "tenseur d'indices int64"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n"
                    "    return list(torch.randperm(n + 1, generator=generator)[1:].split(batch_size))",
     "sortent de range(n)"),
    # ---- sgd_momentum_step
    ("sgd_momentum_step", SGD + "    for k in params:\n        v = torch.zeros_like(params[k])\n"
                                "        v = momentum * v + grads[k]\n        params[k] -= lr * v", "la vitesse repart de zéro"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        v = momentum * velocities[k] + grads[k]\n"
                                "        params[k] -= lr * v", "la vitesse repart de zéro"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        velocities[k].mul_(momentum).add_((1 - momentum) * grads[k])\n"
                                "        params[k].sub_(lr * velocities[k])", "pas d'amortissement"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        velocities[k].mul_(momentum).add_(grads[k])\n"
                                "        params[k].add_(lr * velocities[k])", "signe inversé"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        velocities[k].mul_(momentum).add_(grads[k])\n"
                                "        params[k].sub_(lr * (grads[k] + momentum * velocities[k]))", "moment de Nesterov"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        velocities[k].mul_(momentum).sub_(lr * grads[k])\n"
                                "        params[k].add_(velocities[k])", "le pas d'apprentissage ne va pas dans la vitesse"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        p = params[k]\n        velocities[k].mul_(momentum).add_(grads[k])\n"
                                "        p = p - lr * velocities[k]", "les paramètres ne changent pas"),
    ("sgd_momentum_step", SGD + "    opt = torch.optim.SGD(list(params.values()), lr=lr, momentum=momentum)\n"
                                "    for k, p in params.items():\n        p.grad = grads[k]\n"
                                "        opt.state[p]['momentum_buffer'] = velocities[k]\n    opt.step()",
     "torch.optim fait le travail"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        params[k].sub_(lr * velocities[k])\n"
                                "        velocities[k].mul_(momentum).add_(grads[k])", "incorrect après l'appel 1"),
]

CORRECT = [
    # ---- relu
    ("relu", "def relu(x):\n    return torch.where(x > 0, x, torch.zeros_like(x))"),
    ("relu", "def relu(x):\n    return x * (x > 0)"),
    ("relu", "def relu(x):\n    return torch.maximum(x, torch.zeros_like(x))"),
    ("relu", "def relu(x):\n    return F.relu(x)"),
    ("relu", "def relu(x):\n    return torch.relu(x)"),
    ("relu", "def relu(x):\n    return (x + x.abs()) / 2"),
    ("relu", "def relu(x):\n    return torch.max(x, torch.tensor(0.0, dtype=x.dtype))"),
    # ---- drelu
    ("drelu", "def drelu(x):\n    return torch.where(x > 0, torch.ones_like(x), torch.zeros_like(x))"),
    ("drelu", "def drelu(x):\n    return torch.heaviside(x, torch.zeros_like(x))"),
    ("drelu", "def drelu(x):\n    return (x > 0).type_as(x)"),
    ("drelu", "def drelu(x):\n    return torch.sign(relu(x))"),
    # ---- log_softmax
    ("log_softmax", "def log_softmax(s):\n    return s - torch.logsumexp(s, dim=1, keepdim=True)"),
    ("log_softmax", "def log_softmax(s):\n    m = s.amax(dim=1, keepdim=True)\n"
                    "    return s - m - (s - m).exp().sum(dim=1, keepdim=True).log()"),
    ("log_softmax", "def log_softmax(s):\n    m, _ = torch.max(s, dim=1, keepdim=True)\n"
                    "    return s - (m + torch.log(torch.sum(torch.exp(s - m), dim=1, keepdim=True)))"),
    # ---- cross_entropy
    ("cross_entropy", "def cross_entropy(s, y):\n    return -torch.gather(log_softmax(s), 1, y.unsqueeze(1)).mean()"),
    ("cross_entropy", "def cross_entropy(s, y):\n    N = s.shape[0]\n    return -log_softmax(s)[torch.arange(N), y].sum() / N"),
    ("cross_entropy", "def cross_entropy(s, y):\n"
                      "    return -(log_softmax(s) * F.one_hot(y, s.shape[1])).sum() / len(y)"),
    ("cross_entropy", "def cross_entropy(s, y):\n"
                      "    return (torch.logsumexp(s, dim=1) - s[torch.arange(len(y)), y]).mean()"),
    ("cross_entropy", "def cross_entropy(s, y):\n    return -log_softmax(s).take_along_dim(y[:, None], dim=1).mean()"),
    # ---- dcross_entropy
    ("dcross_entropy", "def dcross_entropy(s, y):\n    z = s - s.max(dim=1, keepdim=True).values\n    p = z.exp()\n"
                       "    p = p / p.sum(dim=1, keepdim=True)\n"
                       "    return (p - torch.zeros_like(p).scatter_(1, y[:, None], 1.0)) / len(y)"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n    g = log_softmax(s).exp()\n"
                       "    g[torch.arange(len(y)), y] -= 1\n    return g / s.shape[0]"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n    p = torch.exp(s - torch.logsumexp(s, dim=1, keepdim=True))\n"
                       "    return (p - F.one_hot(y, s.shape[1])) / s.shape[0]"),
    ("dcross_entropy", "def dcross_entropy(s, y):\n"
                       "    return (torch.exp(log_softmax(s)) - torch.eye(s.shape[1], dtype=s.dtype)[y]) / len(y)"),
    # ---- he_init
    ("he_init", "def he_init(nbOut, nbIn, generator):\n"
                "    return torch.empty(nbOut, nbIn).normal_(0, math.sqrt(2 / nbIn), generator=generator)"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n"
                "    return torch.normal(0.0, math.sqrt(2 / nbIn), size=(nbOut, nbIn), generator=generator)"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n"
                "    return torch.randn((nbOut, nbIn), generator=generator, dtype=torch.float64) * (2 / nbIn) ** 0.5"),
    ("he_init", "def he_init(nbOut, nbIn, generator):\n    u = 1 - torch.rand(2, nbOut, nbIn, generator=generator)\n"
                "    z = torch.sqrt(-2 * torch.log(u[0])) * torch.cos(2 * math.pi * u[1])\n"
                "    return z * math.sqrt(2) / math.sqrt(nbIn)"),
    # ---- forward_pass
    ("forward_pass", FORWARD + "    s1 = F.linear(x, params['w1'], params['b1'])\n    x1 = relu(s1)\n"
                               "    return s1, x1, F.linear(x1, params['w2'], params['b2'])"),
    ("forward_pass", FORWARD + "    s1 = torch.addmm(params['b1'], x, params['w1'].T)\n    x1 = torch.relu(s1)\n"
                               "    s2 = torch.addmm(params['b2'], x1, params['w2'].t())\n    return (s1, x1, s2)"),
    ("forward_pass", FORWARD + "    s1 = torch.einsum('ni,oi->no', x, params['w1']) + params['b1']\n    x1 = relu(s1)\n"
                               "    s2 = torch.einsum('ni,oi->no', x1, params['w2']) + params['b2']\n    return [s1, x1, s2]"),
    ("forward_pass", FORWARD + "    s1 = (params['w1'] @ x.T).T + params['b1']\n    x1 = s1.clamp(min=0)\n"
                               "    return s1, x1, (params['w2'] @ x1.T).T + params['b2']"),
    # ---- backward_pass
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y)\n"
                                 "    dl_s1 = drelu(s1) * torch.einsum('no,oh->nh', dl_s2, params['w2'])\n"
                                 "    return {'w1': torch.einsum('nh,ni->hi', dl_s1, x), 'b1': torch.einsum('nh->h', dl_s1),\n"
                                 "            'w2': torch.einsum('no,nh->oh', dl_s2, x1), 'b2': torch.einsum('no->o', dl_s2)}"),
    ("backward_pass", BACKWARD + "    z = s2 - s2.max(dim=1, keepdim=True).values\n    p = z.exp() / z.exp().sum(dim=1, keepdim=True)\n"
                                 "    p[torch.arange(len(y)), y] -= 1\n    dl_s2 = p / len(y)\n"
                                 "    dl_s1 = torch.where(s1 > 0, torch.mm(dl_s2, params['w2']), torch.zeros_like(s1))\n"
                                 "    ones = torch.ones(len(y), dtype=x.dtype)\n"
                                 "    return {'w1': torch.mm(dl_s1.t(), x), 'b1': ones @ dl_s1,\n"
                                 "            'w2': torch.mm(dl_s2.t(), x1), 'b2': ones @ dl_s2}"),
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y)\n    dl_s1 = drelu(x1) * torch.mm(dl_s2, params['w2'])\n"
                                 "    return {'w1': torch.addmm(torch.zeros_like(params['w1']), dl_s1.T, x), 'b1': dl_s1.sum(0),\n"
                                 "            'w2': torch.addmm(torch.zeros_like(params['w2']), dl_s2.T, x1), 'b2': dl_s2.sum(0)}"),
    ("backward_pass", BACKWARD + "    dl_s2 = dcross_entropy(s2, y)\n    dl_x1 = dl_s2 @ params['w2']\n"
                                 "    dl_s1 = dl_x1 * (x1 > 0)\n    grads = {}\n"
                                 "    grads['w2'] = (x1.T @ dl_s2).T\n    grads['b2'] = dl_s2.sum(dim=0)\n"
                                 "    grads['w1'] = (x.T @ dl_s1).T\n    grads['b1'] = dl_s1.sum(dim=0)\n    return grads"),
    # ---- minibatches
    ("minibatches", "def minibatches(n, batch_size, generator):\n"
                    "    return torch.randperm(n, generator=generator).split(batch_size)"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n    perm = torch.randperm(n, generator=generator)\n"
                    "    return [perm[i:i + batch_size] for i in range(0, n, batch_size)]"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n"
                    "    order = torch.argsort(torch.rand(n, generator=generator))\n"
                    "    return list(torch.tensor_split(order, list(range(batch_size, n, batch_size))))"),
    ("minibatches", "def minibatches(n, batch_size, generator):\n    perm = torch.randperm(n, generator=generator)\n"
                    "    batches = []\n    while len(perm) > 0:\n        batches.append(perm[:batch_size])\n"
                    "        perm = perm[batch_size:]\n    return batches"),
    # ---- sgd_momentum_step
    ("sgd_momentum_step", SGD + "    for k, p in params.items():\n        v = velocities[k]\n        v *= momentum\n"
                                "        v += grads[k]\n        p -= lr * v"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        velocities[k] = momentum * velocities[k] + grads[k]\n"
                                "        params[k] = params[k] - lr * velocities[k]"),
    ("sgd_momentum_step", SGD + "    for k in params.keys():\n        velocities[k].copy_(momentum * velocities[k] + grads[k])\n"
                                "        params[k].add_(velocities[k], alpha=-lr)"),
    ("sgd_momentum_step", SGD + "    for k in params:\n        torch.mul(velocities[k], momentum, out=velocities[k])\n"
                                "        velocities[k].add_(grads[k])\n        params[k].sub_(velocities[k] * lr)"),
]
