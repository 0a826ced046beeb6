"""Catalogues of student code for TP 13, as data: (function, source[, expected message fragment]).

Every source defines one function; the rest of the notebook is the reference solution.
"""

SIGNATURES = {
    "batchnorm_forward": "batchnorm_forward(x, gamma, beta, eps)",
    "batchnorm_backward": "batchnorm_backward(dl_y, gamma, xhat, inv_std)",
    "update_running_stats": "update_running_stats(running_mean, running_var, x, momentum)",
    "batchnorm_eval": "batchnorm_eval(x, running_mean, running_var, gamma, beta, eps)",
    "make_mask": "make_mask(shape, p, generator)", "dropout_forward": "dropout_forward(x, mask, p)",
    "dropout_backward": "dropout_backward(dl_y, mask, p)",
    "adam_step": "adam_step(params, grads, m, v, t, lr, betas, eps, weight_decay)",
}


def code(name, *body):
    """The source of `def name(...)` with these lines as its body (each indented once more)."""
    return f"def {SIGNATURES[name]}:\n" + "\n".join("    " + line for line in body)


# ---- shared lines
STATS = ("mean = x.mean(dim=0)", "var = ((x - mean) ** 2).mean(dim=0)")
FORWARD_END = ("inv_std = 1 / torch.sqrt(var + eps)", "xhat = (x - mean) * inv_std", "return gamma * xhat + beta, xhat, inv_std")
G = ("N = dl_y.shape[0]", "g = dl_y * gamma")
FUSED = "dl_x = inv_std / N * (N * g - g.sum(dim=0) - xhat * (g * xhat).sum(dim=0))"
SUMS = ("dl_gamma = (dl_y * xhat).sum(dim=0)", "dl_beta = dl_y.sum(dim=0)")
RUNNING_STATS = ("N = x.shape[0]", "mean = x.mean(dim=0)", "var = ((x - mean) ** 2).sum(dim=0) / (N - 1)")
ADAM_HEAD = ("b1, b2 = betas", "for k in params:", "    g = grads[k] + weight_decay * params[k]")
ADAM_MOMENTS = ("    m[k].mul_(b1).add_((1 - b1) * g)", "    v[k].mul_(b2).add_((1 - b2) * g * g)")

WRONG = [
    # ---- batchnorm_forward
    ("batchnorm_forward", code("batchnorm_forward", "mean = x.mean(dim=0)", "var = x.var(dim=0)", *FORWARD_END),
     "variance non biaisée"),
    ("batchnorm_forward", code("batchnorm_forward", *STATS, "inv_std = 1 / (torch.sqrt(var) + eps)",
                               "xhat = (x - mean) * inv_std", "return gamma * xhat + beta, xhat, inv_std"),
     "eps est hors de la racine"),
    ("batchnorm_forward", code("batchnorm_forward", "mean = x.mean(dim=1, keepdim=True)",
                               "var = ((x - mean) ** 2).mean(dim=1, keepdim=True)", "inv_std = 1 / torch.sqrt(var + eps)",
                               "xhat = (x - mean) * inv_std", "return gamma * xhat + beta, xhat, inv_std.squeeze(1)"),
     "statistiques sur la mauvaise dimension"),
    ("batchnorm_forward", code("batchnorm_forward", "mean = x.mean(dim=1)", "var = ((x - mean) ** 2).mean(dim=1)",
                               *FORWARD_END), "les statistiques se calculent sur le lot"),
    ("batchnorm_forward", code("batchnorm_forward", *STATS, "inv_std = 1 / torch.sqrt(var + eps)",
                               "xhat = (x - mean) * inv_std", "return beta * xhat + gamma, xhat, inv_std"),
     "γ et β sont échangés"),
    ("batchnorm_forward", code("batchnorm_forward", *STATS, "std = torch.sqrt(var + eps)",
                               "xhat = (x - mean) / std", "return gamma * xhat + beta, xhat, std"),
     "inv_std est l'inverse de l'écart-type"),
    ("batchnorm_forward", code("batchnorm_forward", "return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps), "
                               "F.batch_norm(x, None, None, training=True, eps=eps), 1 / torch.sqrt(x.var(0, unbiased=False) + eps)"),
     "F.batch_norm (ou nn.BatchNorm1d)"),
    ("batchnorm_forward", code("batchnorm_forward", "xhat = F.layer_norm(x.T, (x.shape[0],), eps=eps).T",
                               "inv_std = 1 / torch.sqrt(x.var(0, unbiased=False) + eps)",
                               "return gamma * xhat + beta, xhat, inv_std"), "F.layer_norm"),
    # ---- batchnorm_backward
    ("batchnorm_backward", code("batchnorm_backward", "dl_x = gamma * inv_std * dl_y", *SUMS,
                                "return dl_x, dl_gamma, dl_beta"), "dl_x oublie que la moyenne et la variance"),
    ("batchnorm_backward", code("batchnorm_backward", *G, "dl_x = inv_std * (g - g.mean(dim=0))", *SUMS,
                                "return dl_x, dl_gamma, dl_beta"), "dl_x oublie le chemin de la variance"),
    ("batchnorm_backward", code("batchnorm_backward", *G, "dl_x = inv_std / N * (N * g - xhat * (g * xhat).sum(dim=0))",
                                *SUMS, "return dl_x, dl_gamma, dl_beta"), "dl_x oublie le chemin de la moyenne"),
    ("batchnorm_backward", code("batchnorm_backward", "N = dl_y.shape[0]", "g = dl_y",
                                FUSED, *SUMS, "return dl_x, dl_gamma, dl_beta"), "dl_x oublie γ"),
    ("batchnorm_backward", code("batchnorm_backward", *G, FUSED, "return dl_x, dl_y * xhat, dl_y.sum(dim=0)"),
     "dl_gamma n'est pas sommé sur le lot"),
    ("batchnorm_backward", code("batchnorm_backward", *G, FUSED, "return dl_x, (dl_y * xhat).mean(dim=0), dl_y.sum(dim=0)"),
     "dl_gamma est une moyenne"),
    ("batchnorm_backward", code("batchnorm_backward", *G, FUSED, "return dl_x, (dl_y * xhat).sum(dim=0), dl_y.mean(0)"),
     "dl_beta est une moyenne"),
    ("batchnorm_backward", code("batchnorm_backward", *G, FUSED, *SUMS, "return dl_gamma, dl_beta, dl_x"),
     "ordre de retour"),
    ("batchnorm_backward", code("batchnorm_backward", "x = (xhat / inv_std).clone().requires_grad_()",
                                "g_ = gamma.clone().requires_grad_()",
                                "xh = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)",
                                "dl_x, dl_gamma = torch.autograd.grad((g_ * xh * dl_y).sum(), (x, g_))",
                                "return dl_x, dl_gamma, dl_y.sum(0)"), "utilise autograd"),
    # ---- update_running_stats
    ("update_running_stats", code("update_running_stats", "mean, var = x.mean(dim=0), x.var(dim=0, unbiased=False)",
                                  "running_mean.mul_(1 - momentum).add_(momentum * mean)",
                                  "running_var.mul_(1 - momentum).add_(momentum * var)"), "non biaisée du lot"),
    ("update_running_stats", code("update_running_stats", "mean, var = x.mean(dim=0), x.var(dim=0)",
                                  "running_mean.mul_(momentum).add_((1 - momentum) * mean)",
                                  "running_var.mul_(momentum).add_((1 - momentum) * var)"), "les poids du moment sont échangés"),
    ("update_running_stats", code("update_running_stats", "running_mean.copy_(x.mean(dim=0))",
                                  "running_var.copy_(x.var(dim=0))"), "remplacées par celles du lot"),
    ("update_running_stats", code("update_running_stats", "mean, std = x.mean(dim=0), x.std(dim=0)",
                                  "running_mean.mul_(1 - momentum).add_(momentum * mean)",
                                  "running_var.mul_(1 - momentum).add_(momentum * std)"), "l'écart-type du lot"),
    ("update_running_stats", code("update_running_stats", *RUNNING_STATS,
                                  "running_mean = (1 - momentum) * running_mean + momentum * mean",
                                  "running_var = (1 - momentum) * running_var + momentum * var"),
     "les statistiques ne changent pas"),
    ("update_running_stats", code("update_running_stats", "F.batch_norm(x, running_mean, running_var, training=True, "
                                  "momentum=momentum)"), "F.batch_norm (ou nn.BatchNorm1d)"),
    # ---- batchnorm_eval
    ("batchnorm_eval", code("batchnorm_eval", "return batchnorm_forward(x, gamma, beta, eps)[0]"),
     "ce sont les statistiques du lot"),
    ("batchnorm_eval", code("batchnorm_eval", "return gamma * (x - running_mean) / (running_var.sqrt() + eps) + beta"),
     "eps est hors de la racine"),
    ("batchnorm_eval", code("batchnorm_eval", "return gamma * (x - running_mean) / (running_var + eps) + beta"),
     "running_var est une variance"),
    ("batchnorm_eval", code("batchnorm_eval", "return beta * (x - running_mean) / torch.sqrt(running_var + eps) + gamma"),
     "γ et β sont échangés"),
    ("batchnorm_eval", code("batchnorm_eval", "return F.batch_norm(x, running_mean, running_var, gamma, beta, eps=eps)"),
     "F.batch_norm (ou nn.BatchNorm1d)"),
    # ---- make_mask
    ("make_mask", code("make_mask", "return (torch.rand(shape, generator=generator) < p).float()"),
     "p est la probabilité d'éteindre un neurone"),
    ("make_mask", code("make_mask", "return (torch.rand(shape) >= p).float()"), "pas avec le générateur global"),
    ("make_mask", code("make_mask", "return (torch.rand(shape, generator=generator) >= p).float() / (1 - p)"),
     "la division par 1 − p se fait dans dropout_forward"),
    ("make_mask", code("make_mask", "row = (torch.rand(shape[1:], generator=generator) >= p).float()",
                       "return row.expand(shape).clone()"), "toutes les lignes du masque sont identiques"),
    ("make_mask", code("make_mask", "return F.dropout(torch.ones(shape), p) * (1 - p)"), "F.dropout (ou nn.Dropout)"),
    ("make_mask", code("make_mask", "return (torch.rand(shape, generator=generator) >= 0.5).float()"),
     "des neurones sont gardés au lieu de"),
    # ---- dropout_forward
    ("dropout_forward", code("dropout_forward", "return x * mask"), "pas de mise à l'échelle"),
    ("dropout_forward", code("dropout_forward", "return x * mask / p"), "mise à l'échelle par 1/p"),
    ("dropout_forward", code("dropout_forward", "return x * mask * (1 - p)"), "multiplié par 1 − p au lieu de divisé"),
    ("dropout_forward", code("dropout_forward", "return x * (1 - mask) / (1 - p)"), "le masque est inversé"),
    ("dropout_forward", code("dropout_forward", "return F.dropout(x, p)"), "F.dropout (ou nn.Dropout)"),
    # ---- dropout_backward
    ("dropout_backward", code("dropout_backward", "return dl_y * mask"), "pas de mise à l'échelle"),
    ("dropout_backward", code("dropout_backward", "return dl_y * mask / p"), "mise à l'échelle par 1/p"),
    ("dropout_backward", code("dropout_backward", "return dl_y / (1 - p)"), "le gradient passe partout"),
    ("dropout_backward", code("dropout_backward", "return dl_y.clone()"), "dl_x oublie la mise à l'échelle"),
    ("dropout_backward", code("dropout_backward", "x = torch.ones_like(dl_y, requires_grad=True)",
                              "return torch.autograd.grad((x * mask / (1 - p) * dl_y).sum(), x)[0]"), "utilise autograd"),
    # ---- adam_step
    ("adam_step", code("adam_step", *ADAM_HEAD, *ADAM_MOMENTS, "    params[k] -= lr * m[k] / (v[k].sqrt() + eps)"),
     "pas de correction du biais"),
    ("adam_step", code("adam_step", *ADAM_HEAD, *ADAM_MOMENTS, "    m_hat = m[k] / (1 - b1 ** (t + 1))",
                       "    v_hat = v[k] / (1 - b2 ** (t + 1))", "    params[k] -= lr * m_hat / (v_hat.sqrt() + eps)"),
     "t compte à partir de 1 : au premier appel"),
    ("adam_step", code("adam_step", *ADAM_HEAD, *ADAM_MOMENTS, "    m_hat = m[k] / (1 - b1 ** (t - 1))",
                       "    v_hat = v[k] / (1 - b2 ** (t - 1))", "    params[k] -= lr * m_hat / (v_hat.sqrt() + eps)"),
     "division par zéro"),
    ("adam_step", code("adam_step", *ADAM_HEAD, *ADAM_MOMENTS, "    m_hat = m[k] / (1 - b1 ** t)",
                       "    v_hat = v[k] / (1 - b2 ** t)", "    params[k] -= lr * m_hat / (v_hat + eps).sqrt()"),
     "eps est dans la racine"),
    ("adam_step", code("adam_step", "b1, b2 = betas", "for k in params:", "    g = grads[k]",
                       "    params[k] -= lr * weight_decay * params[k]", *ADAM_MOMENTS, "    m_hat = m[k] / (1 - b1 ** t)",
                       "    v_hat = v[k] / (1 - b2 ** t)", "    params[k] -= lr * m_hat / (v_hat.sqrt() + eps)"),
     "pénalité découplée d'AdamW"),
    ("adam_step", code("adam_step", *ADAM_HEAD, *ADAM_MOMENTS, "    m[k] /= 1 - b1 ** t", "    v[k] /= 1 - b2 ** t",
                       "    params[k] -= lr * m[k] / (v[k].sqrt() + eps)"), "m̂ et v̂ sont rangés dans m et v"),
    ("adam_step", code("adam_step", *ADAM_HEAD, *ADAM_MOMENTS, "    m_hat = m[k] / (1 - b1 ** t)",
                       "    v_hat = v[k] / (1 - b2 ** t)", "    params[k] = params[k] - lr * m_hat / (v_hat.sqrt() + eps)"),
     "sont remplacés au lieu d'être modifiés en place"),
    ("adam_step", code("adam_step", "opt = torch.optim.Adam(list(params.values()), lr=lr, betas=betas, eps=eps, "
                       "weight_decay=weight_decay)", "for k in params:", "    params[k].grad = grads[k]", "opt.step()"),
     "torch.optim fait le travail"),
]

CORRECT = [
    # ---- batchnorm_forward
    ("batchnorm_forward", code("batchnorm_forward", "var, mean = torch.var_mean(x, dim=0, unbiased=False)",
                               *FORWARD_END)),
    ("batchnorm_forward", code("batchnorm_forward", "mean = x.mean(0, keepdim=True)",
                               "var = (x * x).mean(0, keepdim=True) - mean * mean",
                               "inv_std = torch.rsqrt(var + eps)", "xhat = (x - mean) * inv_std",
                               "return xhat * gamma + beta, xhat, inv_std.squeeze(0)")),
    ("batchnorm_forward", code("batchnorm_forward", "N = x.shape[0]", "mean = x.sum(dim=0) / N",
                               "var = x.var(dim=0, unbiased=False)", "inv_std = (var + eps) ** -0.5",
                               "xhat = (x - mean) * inv_std", "y = torch.addcmul(beta, gamma, xhat)",
                               "return y, xhat, inv_std")),
    # ---- batchnorm_backward
    ("batchnorm_backward", code("batchnorm_backward", *G, "dl_x = inv_std * (g - g.mean(0) - xhat * (g * xhat).mean(0))",
                                *SUMS, "return dl_x, dl_gamma, dl_beta")),
    # staged, as in makemore: x - mu, var, inv_std, xhat, each path on its own
    ("batchnorm_backward", code("batchnorm_backward", "N = dl_y.shape[0]", "dl_gamma = (dl_y * xhat).sum(0)",
                                "dl_beta = dl_y.sum(0)", "dl_xhat = dl_y * gamma", "xmu = xhat / inv_std",
                                "dl_inv_std = (dl_xhat * xmu).sum(0)", "dl_xmu = dl_xhat * inv_std",
                                "dl_var = dl_inv_std * (-0.5) * inv_std ** 3",
                                "dl_xmu = dl_xmu + 2 * xmu * dl_var / N", "dl_mu = -dl_xmu.sum(0)",
                                "dl_x = dl_xmu + dl_mu / N", "return dl_x, dl_gamma, dl_beta")),
    ("batchnorm_backward", code("batchnorm_backward", "N = dl_y.shape[0]",
                                "dl_gamma = torch.einsum('nd,nd->d', dl_y, xhat)", "dl_beta = dl_y.sum(0)",
                                "dl_x = (gamma * inv_std / N) * (N * dl_y - dl_beta - xhat * dl_gamma)",
                                "return dl_x, dl_gamma, dl_beta")),
    # ---- update_running_stats
    ("update_running_stats", code("update_running_stats", "var, mean = torch.var_mean(x, dim=0)",
                                  "running_mean.lerp_(mean, momentum)", "running_var.lerp_(var, momentum)")),
    ("update_running_stats", code("update_running_stats", *RUNNING_STATS,
                                  "running_mean.copy_((1 - momentum) * running_mean + momentum * mean)",
                                  "running_var[:] = (1 - momentum) * running_var + momentum * var")),
    ("update_running_stats", code("update_running_stats", *RUNNING_STATS,
                                  "running_mean -= momentum * (running_mean - mean)",
                                  "running_var *= 1 - momentum", "running_var += momentum * var")),
    # ---- batchnorm_eval
    ("batchnorm_eval", code("batchnorm_eval", "return (x - running_mean) * torch.rsqrt(running_var + eps) * gamma + beta")),
    ("batchnorm_eval", code("batchnorm_eval", "scale = gamma / torch.sqrt(running_var + eps)",
                            "return x * scale + (beta - running_mean * scale)")),
    # ---- make_mask
    ("make_mask", code("make_mask", "return torch.bernoulli(torch.full(shape, 1 - p), generator=generator)")),
    ("make_mask", code("make_mask", "return torch.rand(shape, generator=generator) >= p")),
    ("make_mask", code("make_mask", "return (torch.rand(*shape, generator=generator) > p).to(torch.float32)")),
    # ---- dropout_forward
    ("dropout_forward", code("dropout_forward", "return torch.where(mask.bool(), x / (1 - p), torch.zeros_like(x))")),
    ("dropout_forward", code("dropout_forward", "scale = 1 / (1 - p)", "return x * mask * scale")),
    # ---- dropout_backward
    ("dropout_backward", code("dropout_backward", "return dl_y * mask * (1 / (1 - p))")),
    ("dropout_backward", code("dropout_backward", "return dropout_forward(dl_y, mask, p)")),
    # ---- adam_step
    ("adam_step", code("adam_step", "b1, b2 = betas", "for k, p in params.items():",
                       "    g = grads[k].add(p, alpha=weight_decay)", "    m[k].lerp_(g, 1 - b1)",
                       "    v[k].mul_(b2).addcmul_(g, g, value=1 - b2)",
                       "    denom = (v[k].sqrt() / math.sqrt(1 - b2 ** t)).add_(eps)",
                       "    p.addcdiv_(m[k], denom, value=-lr / (1 - b1 ** t))")),
    # m[k] = … rebinds the dict entry: the caller reads m through the same dict
    ("adam_step", code("adam_step", "b1, b2 = betas", "for k in params:",
                       "    g = grads[k] + weight_decay * params[k]", "    m[k] = b1 * m[k] + (1 - b1) * g",
                       "    v[k] = b2 * v[k] + (1 - b2) * g ** 2",
                       "    params[k] -= lr * (m[k] / (1 - b1 ** t)) / (torch.sqrt(v[k] / (1 - b2 ** t)) + eps)")),
    ("adam_step", code("adam_step", "b1, b2 = betas", "for k in params:",
                       "    g = grads[k] + weight_decay * params[k]", "    m[k] *= b1", "    m[k] += (1 - b1) * g",
                       "    v[k] *= b2", "    v[k] += (1 - b2) * g * g",
                       "    step = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)",
                       "    params[k].sub_(step * m[k] / (v[k].sqrt() + eps * math.sqrt(1 - b2 ** t)))")),
]

TRIAL = [
    ("batchnorm_forward", code("batchnorm_forward", "mean = x.mean(dim=0)", "var = x.var(dim=0)", *FORWARD_END),
     "variance non biaisée"),
    ("dropout_forward", code("dropout_forward", "return x * mask / p"), "mise à l'échelle par 1/p"),
    ("adam_step", code("adam_step", *ADAM_HEAD, *ADAM_MOMENTS, "    params[k] -= lr * m[k] / (v[k].sqrt() + eps)"),
     "pas de correction du biais"),
]
TRIAL_TRAINING = "exactitude de test du réseau entraîné"
