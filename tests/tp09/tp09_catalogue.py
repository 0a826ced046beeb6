"""Catalogues of student code for TP 9, as data: (function, source[, expected message fragment]).

Every source defines one function; the rest of the notebook is the reference solution.
"""

WRONG = [
    # ---- sigma
    ("sigma", "def sigma(x):\n    return torch.sigmoid(x)", "pas la sigmoïde"),
    ("sigma", "def sigma(x):\n    return x.tanh_()", "modifie en place son entrée `x`"),
    ("sigma", "def sigma(x):\n    return torch.stack([torch.tanh(v) for v in x])", "boucle Python"),
    ("sigma", "class T(torch.Tensor):\n    pass\n\ndef sigma(x):\n    return torch.tanh(x).as_subclass(T)",
     "sous-classe de torch.Tensor"),
    ("sigma", "def sigma(x):\n    return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(x))", "valeurs fausses"),
    ("sigma", "def sigma(x):\n    return 1 - torch.tanh(x) ** 2", "c'est la dérivée de tanh"),
    # ---- dsigma
    ("dsigma", "def dsigma(x):\n    return 1 - x ** 2", "pas 1 − s²"),
    ("dsigma", "def dsigma(x):\n    return 1 - torch.tanh(x)", "il manque le carré"),
    ("dsigma", "def dsigma(x):\n    return torch.tanh(x) ** 2 - 1", "signe inversé"),
    ("dsigma", "def dsigma(x):\n    return torch.sigmoid(x) * (1 - torch.sigmoid(x))", "dérivée de la sigmoïde"),
    ("dsigma", "def dsigma(x):\n    x = x.clone().requires_grad_()\n    torch.tanh(x).sum().backward()\n    return x.grad",
     "utilise autograd"),
    ("dsigma", "def dsigma(x):\n    y = x.detach().clone()\n    y.requires_grad = True\n"
               "    return torch.autograd.grad(torch.tanh(y).sum(), y)[0]", "utilise autograd"),
    ("dsigma", "def dsigma(x):\n    return torch.func.vmap(torch.func.grad(torch.tanh))(x.flatten()).reshape(x.shape)",
     "utilise autograd"),
    ("dsigma", "def dsigma(x):\n    return 1 / torch.cosh(x)", "élevé au carré"),
    # autograd by other roads: hidden behind getattr, through the engine or functorch, forward mode, in a thread
    ("dsigma", "def dsigma(x):\n    y = x.clone()\n    getattr(y, 'requires_' + 'grad_')()\n"
               "    ag = getattr(torch, 'auto' + 'grad')\n    return getattr(ag, 'gr' + 'ad')(torch.tanh(y).sum(), y)[0]",
     "utilise autograd"),
    ("dsigma", "def dsigma(x):\n    return torch.autograd.functional.jacobian(lambda u: torch.tanh(u).sum(), x)",
     "utilise autograd"),
    ("dsigma", "from torch.autograd import Variable\n\ndef dsigma(x):\n    y = x.detach().clone()\n"
               "    y.requires_grad = True\n    out = torch.tanh(y).sum()\n"
               "    return Variable._execution_engine.run_backward((out,), (torch.ones_like(out),), False, False, (y,),"
               " True, False)[0]", "utilise autograd"),
    ("dsigma", "import torch.autograd.forward_ad as fwAD\n\ndef dsigma(x):\n    with fwAD.dual_level():\n"
               "        d = fwAD.make_dual(x, torch.ones_like(x))\n        return fwAD.unpack_dual(torch.tanh(d)).tangent",
     "utilise autograd"),
    ("dsigma", "def dsigma(x):\n    return torch.ops.aten.tanh_backward(torch.ones_like(x), torch.tanh(x))",
     "utilise autograd"),
    ("dsigma", "def dsigma(x):\n    with torch.inference_mode(False), torch.enable_grad():\n"
               "        y = x.clone().requires_grad_()\n        return torch.autograd.grad(torch.tanh(y).sum(), y)[0]",
     "utilise autograd"),
    ("dsigma", "import threading\n\ndef dsigma(x):\n    box = []\n    def work():\n"
               "        y = x.clone().requires_grad_()\n        box.append(torch.autograd.grad(torch.tanh(y).sum(), y)[0])\n"
               "    t = threading.Thread(target=work)\n    t.start()\n    t.join()\n    return box[0]",
     "contourné la vérification"),
    ("dsigma", "import sys\n\ndef dsigma(x):\n    sys.setprofile(None)\n    y = x.clone().requires_grad_()\n"
               "    return torch.autograd.grad(torch.tanh(y).sum(), y)[0]", "contourné la vérification"),
    # ---- loss
    ("loss", "def loss(v, t):\n    return torch.mean((t - v) ** 2)", "moyenne au lieu de somme"),
    ("loss", "def loss(v, t):\n    return torch.norm(t - v)", "élevée au carré"),
    ("loss", "def loss(v, t):\n    return (t - v) ** 2", "doit être un scalaire"),
    ("loss", "def loss(v, t):\n    return ((t - v) ** 2).sum(dim=-1)", "pas sur un seul axe"),
    ("loss", "def loss(v, t):\n    return (t - v).abs().sum()", "valeurs absolues"),
    ("loss", "def loss(v, t):\n    return ((t - v) ** 2).sum().item()", "un tenseur torch était attendu"),
    ("loss", "def loss(v, t):\n    return (t - v).sum() ** 2", "les carrés ne sont pas sommés"),
    # ---- dloss
    ("dloss", "def dloss(v, t):\n    return v - t", "il manque le facteur 2"),
    ("dloss", "def dloss(v, t):\n    return 2 * (t - v)", "signe inversé"),
    ("dloss", "def dloss(v, t):\n    return 2 * (v - t) / v.numel()", "pas une moyenne"),
    ("dloss", "def dloss(v, t):\n    return (2 * (v - t)).sum()", "un tenseur de la forme de v"),
    ("dloss", "def dloss(v, t):\n    v = v.clone().requires_grad_()\n    loss(v, t).backward()\n    return v.grad",
     "utilise autograd"),
    ("dloss", "def dloss(v, t):\n    v -= t\n    return 2 * v", "modifie en place son entrée `v`"),
    # ---- forward_step
    ("forward_step", "def forward_step(xIn, w, b):\n    s = xIn @ w.T\n    return s, sigma(s)", "biais b n'est pas ajouté"),
    ("forward_step", "def forward_step(xIn, w, b):\n    s = xIn @ w.T + b\n    return sigma(s), s", "ordre de retour"),
    ("forward_step", "def forward_step(xIn, w, b):\n    s = xIn @ w + b\n    return s, sigma(s)", "vérifiez les transpositions"),
    ("forward_step", "def forward_step(xIn, w, b):\n    s = xIn @ w.T + b\n    return s, sigma(xIn @ w.T) + b", "biais compris"),
    ("forward_step", "def forward_step(xIn, w, b):\n    s = xIn @ w.T + b\n    return s, s", "x doit être σ(s)"),
    ("forward_step", "def forward_step(xIn, w, b):\n    return sigma(xIn @ w.T + b)", "tuple de 2 valeurs"),
    # ---- forward_pass
    ("forward_pass", "def forward_pass(w1, b1, w2, b2, x):\n    s1, x1 = forward_step(x, w1, b1)\n"
                     "    s2, x2 = forward_step(x1, w2, b2)\n    return s1, s2, x1, x2", "ordre de retour"),
    ("forward_pass", "def forward_pass(w1, b1, w2, b2, x):\n    s1, x1 = forward_step(x, w1, b1)\n"
                     "    s2, x2 = forward_step(s1, w2, b2)\n    return s1, x1, s2, x2", "prend x1 = σ(s1) en entrée"),
    ("forward_pass", "def forward_pass(w1, b1, w2, b2, x):\n    s1, x1 = forward_step(x, w1, b1)\n"
                     "    return forward_step(x1, w2, b2)", "tuple de 4 valeurs"),
    ("forward_pass", "def forward_pass(w1, b1, w2, b2, x):\n    s1, x1 = forward_step(x, w2, b2)\n"
                     "    s2, x2 = forward_step(x1, w1, b1)\n    return s1, x1, s2, x2", "produit impossible"),
    # ---- backward_step
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                      "    return xIn.T @ dl_s, dl_s.sum(0), dl_s @ w", "`dl_w` est transposé"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                      "    return dl_s.T @ xIn, dl_s.mean(0), dl_s @ w", "ne faites pas la moyenne"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                      "    return dl_s.T @ xIn, dl_s, dl_s @ w", "sommé sur la dimension du lot"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(sigma(s)) * dl_xOut\n"
                      "    return dl_s.T @ xIn, dl_s.sum(0), dl_s @ w", "pas à sa sortie σ(s)"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dl_xOut\n"
                      "    return dl_s.T @ xIn, dl_s.sum(0), dl_s @ w", "dérivée de l'activation est oubliée"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                      "    return dl_s.T @ xIn, dl_s.sum(0), dl_s @ w.T", "dl_xIn = dl_s @ w"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                      "    return dl_s.sum(0), dl_s.T @ xIn, dl_s @ w", "ordre de retour"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                      "    return dl_s.T @ xIn / len(xIn), dl_s.sum(0), dl_s @ w", "ne divisez pas par la taille du lot"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    w = w.clone().requires_grad_()\n"
                      "    xIn = xIn.clone().requires_grad_()\n    b = torch.zeros(w.shape[0], dtype=w.dtype, requires_grad=True)\n"
                      "    s2 = xIn @ w.T + b + (s - xIn @ w.T - b).detach()\n    (torch.tanh(s2) * dl_xOut).sum().backward()\n"
                      "    return w.grad, b.grad, xIn.grad", "utilise autograd"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                      "    dl_w = sum(torch.outer(dl_s[i], xIn[i]) for i in range(len(xIn)))\n"
                      "    return dl_w, dl_s.sum(0), dl_s @ w", "boucle Python"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_xOut *= dsigma(s)\n"
                      "    return dl_xOut.T @ xIn, dl_xOut.sum(0), dl_xOut @ w", "modifie en place son entrée `dl_xOut`"),
    # ---- backward_pass
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dloss(x2, t))\n"
                      "    dl_w1, dl_b1, _ = backward_step(x, w1, s1, dl_x1)\n"
                      "    dl_dw1 = dl_dw1 + dl_w1\n    dl_db1 = dl_db1 + dl_b1\n"
                      "    dl_dw2 = dl_dw2 + dl_w2\n    dl_db2 = dl_db2 + dl_b2", "`dl_dw1 = dl_dw1 + …` crée un nouveau tenseur"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dloss(x2, t))\n"
                      "    dl_w1, dl_b1, _ = backward_step(x, w1, s1, dl_x1)\n"
                      "    dl_dw1.copy_(dl_w1)\n    dl_db1.copy_(dl_b1)\n    dl_dw2.copy_(dl_w2)\n    dl_db2.copy_(dl_b2)",
     "écrasé au lieu d'être accumulé"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dloss(t, x2))\n"
                      "    dl_w1, dl_b1, _ = backward_step(x, w1, s1, dl_x1)\n"
                      "    dl_dw1 += dl_w1\n    dl_db1 += dl_b1\n    dl_dw2 += dl_w2\n    dl_db2 += dl_b2",
     "ordre des arguments de dloss"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, x2, dloss(x2, t))\n"
                      "    dl_w1, dl_b1, _ = backward_step(x, w1, x1, dl_x1)\n"
                      "    dl_dw1 += dl_w1\n    dl_db1 += dl_b1\n    dl_dw2 += dl_w2\n    dl_db2 += dl_b2",
     "reçoit s (avant l'activation)"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dloss(x2, t))\n"
                      "    dl_w1, dl_b1, _ = backward_step(x, w1, s1, dl_x1)\n"
                      "    return dl_w1, dl_b1, dl_w2, dl_b2",
     "`dl_dw1` n'est pas modifié : `dl_dw1 = dl_dw1 + …` crée un nouveau tenseur local ; accumulez en place avec "
     "`dl_dw1 += …` ou `dl_dw1.add_(…)`. (de même pour `dl_db1`, `dl_dw2`, `dl_db2`)"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    params = [p.clone().requires_grad_() for p in (w1, b1, w2, b2)]\n"
                      "    x2_ = sigma(sigma(x @ params[0].T + params[1]) @ params[2].T + params[3])\n"
                      "    loss(x2_, t).backward()\n"
                      "    for g, p in zip((dl_dw1, dl_db1, dl_dw2, dl_db2), params):\n        g += p.grad",
     "utilise autograd"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dloss(x2, t))\n"
                      "    dl_w1, dl_b1, _ = backward_step(x, w1, s1, dl_x1)\n"
                      "    for g, d in zip((dl_dw1, dl_db1, dl_dw2, dl_db2), (dl_w1, dl_b1, dl_w2, dl_b2)):\n"
                      "        g += d", "boucle Python"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dloss(x2, t))\n"
                      "    dl_w1, dl_b1, _ = backward_step(x1, w1, s1, dl_x1)\n"
                      "    dl_dw1 += dl_w1\n    dl_db1 += dl_b1\n    dl_dw2 += dl_w2\n    dl_db2 += dl_b2",
     "vérifiez les entrées de chaque backward_step"),
]

CORRECT = [
    ("sigma", "def sigma(x):\n    return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))"),
    ("sigma", "def sigma(x):\n    return 2 * torch.sigmoid(2 * x) - 1"),
    ("sigma", "def sigma(x):\n    return torch.sinh(x) / torch.cosh(x)"),
    ("sigma", "def sigma(x):\n    return x.tanh()"),
    ("sigma", "def sigma(x):\n    return torch.nn.functional.tanh(x)"),
    ("dsigma", "def dsigma(x):\n    return 1 / torch.cosh(x) ** 2"),
    ("dsigma", "def dsigma(x):\n    return torch.mul(1 - torch.tanh(x), 1 + torch.tanh(x))"),
    ("dsigma", "def dsigma(x):\n    return 1 - torch.pow(sigma(x), 2)"),
    ("dsigma", "def dsigma(x):\n    return 4 / (torch.exp(x) + torch.exp(-x)) ** 2"),
    ("dsigma", "def dsigma(x):\n    import warnings\n    warnings.warn('essai')\n    return 1 - x.tanh().square()"),
    ("loss", "def loss(v, t):\n    return torch.norm(t - v) ** 2"),
    ("loss", "def loss(v, t):\n    d = (t - v).flatten()\n    return torch.dot(d, d)"),
    ("loss", "def loss(v, t):\n    return torch.einsum('...,...->', t - v, t - v)"),
    ("loss", "def loss(v, t):\n    return torch.nn.functional.mse_loss(v, t, reduction='sum')"),
    ("loss", "def loss(v, t):\n    return torch.linalg.vector_norm(v - t) ** 2"),
    ("dloss", "def dloss(v, t):\n    return -2 * (t - v)"),
    ("dloss", "def dloss(v, t):\n    return torch.mul(v - t, 2)"),
    ("dloss", "def dloss(v, t):\n    d = v - t\n    return d + d"),
    ("forward_step", "def forward_step(xIn, w, b):\n    s = torch.addmm(b, xIn, w.T)\n    return s, torch.tanh(s)"),
    ("forward_step", "def forward_step(xIn, w, b):\n    s = torch.nn.functional.linear(xIn, w, b)\n    return (s, sigma(s))"),
    ("forward_step", "def forward_step(xIn, w, b):\n    s = torch.einsum('bi,oi->bo', xIn, w) + b\n    return s, sigma(s)"),
    ("forward_step", "def forward_step(xIn, w, b):\n    s = (w @ xIn.T).T + b.unsqueeze(0)\n    return s, sigma(s)"),
    ("forward_pass", "def forward_pass(w1, b1, w2, b2, x):\n    s1 = x @ w1.T + b1\n    x1 = torch.tanh(s1)\n"
                     "    s2 = x1 @ w2.T + b2\n    return [s1, x1, s2, torch.tanh(s2)]"),
    ("forward_pass", "def forward_pass(w1, b1, w2, b2, x):\n    return (*forward_step(x, w1, b1), "
                     "*forward_step(forward_step(x, w1, b1)[1], w2, b2))"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = (1 - torch.tanh(s) ** 2) * dl_xOut\n"
                      "    return torch.einsum('bo,bi->oi', dl_s, xIn), torch.einsum('bo->o', dl_s), "
                      "torch.einsum('bo,oi->bi', dl_s, w)"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s.detach()) * dl_xOut\n"
                      "    return torch.mm(dl_s.t(), xIn.detach()), torch.ones(len(dl_s), dtype=dl_s.dtype) @ dl_s, "
                      "torch.mm(dl_s, w.detach())"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = torch.mul(dsigma(s), dl_xOut)\n"
                      "    dl_w = (xIn.T @ dl_s).T\n    return dl_w, dl_s.T.sum(dim=1), (w.T @ dl_s.T).T"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    g2 = backward_step(x1, w2, s2, dloss(v=x2, t=t))\n    g1 = backward_step(x, w1, s1, g2[2])\n"
                      "    dl_dw1.add_(g1[0]); dl_db1.add_(g1[1]); dl_dw2.add_(g2[0]); dl_db2.add_(g2[1])"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    g2 = backward_step(x1, w2, s2, dloss(x2, t))\n    g1 = backward_step(x, w1, s1, g2[2])\n"
                      "    dl_dw1[:] = dl_dw1 + g1[0]\n    dl_db1[:] = dl_db1 + g1[1]\n"
                      "    dl_dw2[...] += g2[0]\n    dl_db2[...] = dl_db2 + g2[1]"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_s2 = (1 - torch.tanh(s2) ** 2) * 2 * (x2 - t)\n"
                      "    dl_s1 = (1 - torch.tanh(s1) ** 2) * (dl_s2 @ w2)\n"
                      "    torch.add(dl_dw1, dl_s1.T @ x, out=dl_dw1)\n    torch.add(dl_db1, dl_s1.sum(0), out=dl_db1)\n"
                      "    dl_dw2.copy_(dl_dw2 + dl_s2.T @ x1)\n    dl_db2.copy_(dl_db2 + dl_s2.sum(0))"),
]

# A student's three most common mistakes, made at once in one notebook (tests/contract/test_selfcheck_trial.py):
# (function, source, fragment of the diagnosis its visible check must show), then what the
# check of the training must say, and what the training cell says when it crashes.
TRIAL = [
    ("dloss", "def dloss(v, t):\n    return v - t", "il manque le facteur 2"),
    ("backward_step", "def backward_step(xIn, w, s, dl_xOut):\n    dl_s = dsigma(s) * dl_xOut\n"
                      "    dl_w = dl_s @ xIn\n    dl_b = dl_s.sum(dim=0)\n    dl_xIn = dl_s @ w\n"
                      "    return dl_w, dl_b, dl_xIn", "produit impossible"),
    ("backward_pass", "def backward_pass(w1, b1, w2, b2, t, x, s1, x1, s2, x2, dl_dw1, dl_db1, dl_dw2, dl_db2):\n"
                      "    dl_x2 = dloss(x2, t)\n    dl_w2, dl_b2, dl_x1 = backward_step(x1, w2, s2, dl_x2)\n"
                      "    dl_w1, dl_b1, _ = backward_step(x, w1, s1, dl_x1)\n    dl_dw1 = dl_dw1 + dl_w1\n"
                      "    dl_db1 = dl_db1 + dl_b1\n    dl_dw2 = dl_dw2 + dl_w2\n    dl_db2 = dl_db2 + dl_b2",
     "`dl_dw1` n'est pas modifié"),
]
TRIAL_TRAINING = "erreur dans votre fonction `backward_step`"
TRIAL_CRASH = "❌ erreur dans votre fonction `backward_step` : RuntimeError: mat1 and mat2 shapes cannot be multiplied"
