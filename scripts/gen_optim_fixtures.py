#!/usr/bin/python3
"""Writes tests/fixtures/optim.json: parameter trajectories of torch.optim optimisers and
learning-rate schedules, for tests/lua/test_optim.lua.

Each case starts from the same parameters and applies the same fixed sequence of gradients for
6 steps; the parameters after every step are recorded.  Run with Debian's python3-torch:
    /usr/bin/python3 scripts/gen_optim_fixtures.py
"""
import json
import math
import os

import torch

torch.manual_seed(0)
P0 = torch.randn(4, 3)
GRADS = [torch.randn(4, 3) for _ in range(6)]

CASES = [
    ("sgd_plain", torch.optim.SGD, dict(lr=0.1)),
    ("sgd_momentum_wd", torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("sgd_nesterov", torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("sgd_dampening", torch.optim.SGD, dict(lr=0.05, momentum=0.8, dampening=0.3)),
    ("adam", torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.999), eps=1e-8)),
    ("adam_l2", torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    ("adamw", torch.optim.AdamW, dict(lr=0.01, weight_decay=0.1)),
    ("adamw_betas", torch.optim.AdamW, dict(lr=0.02, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.01)),
]


def flat(t):
    return [float(v) for v in t.reshape(-1).tolist()]


out = {"p0": flat(P0), "shape": list(P0.shape), "grads": [flat(g) for g in GRADS], "cases": []}
for name, cls, kw in CASES:
    p = P0.clone().requires_grad_(True)
    opt = cls([p], **kw)
    traj = []
    for g in GRADS:
        p.grad = g.clone()
        opt.step()
        traj.append(flat(p.detach()))
    opts = {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}
    out["cases"].append({"name": name, "kind": cls.__name__, "opts": opts, "trajectory": traj})

# Schedules: torch's LambdaLR with the Hugging Face formulas, and torch's own cosine annealing.
def hf_linear(warmup, total):
    return lambda s: s / max(1, warmup) if s < warmup else max(0.0, (total - s) / max(1, total - warmup))


def lrs(lam, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sch = torch.optim.lr_scheduler.LambdaLR(opt, lam)
    v = []
    for _ in range(n):
        v.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    return v


def cosine_annealing(total, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sch = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total, eta_min=0.0)
    v = []
    for _ in range(n):
        v.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    return v


out["schedules"] = {
    "linear_w3_t10": lrs(hf_linear(3, 10), 12),
    "cosine_t10": cosine_annealing(10, 11),
}
path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "optim.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", path)
