#!/usr/bin/python3
"""gen_lr_fixtures.py - reference learning-rate multipliers for hub.lr, made with torch's own
schedulers (no formula of hub.lr is re-implemented here).

Run with Debian's python3-torch (1.13):  /usr/bin/python3 scripts/gen_lr_fixtures.py
It writes tests/fixtures/lr_schedules.json, which tests/lua/test_lr.lua replays.

An SGD optimiser with base lr 1 is stepped once per update and its lr read before each step, so
value k is the multiplier of update k (0-based), as hub.lr's schedules are indexed.  The parts:
  warm-up            LinearLR(start_factor=1e-12, end_factor=1, total_iters=W): 1e-12 + k/W, which
                     is hub's k/W (torch refuses a start factor of exactly 0) within 1e-12;
  cosine decay       CosineAnnealingLR(T_max, eta_min=MIN) over the updates after the warm-up,
                     with T_max = (total - W) / (2 * cycles) (half a period = T_max updates), so
                     cycles = 0.5 is one half cosine down to MIN and cycles = 1 goes down and up;
  linear decay       LinearLR(start_factor=1, end_factor=0, total_iters=total - W);
  constant           the warm-up, then 1.
A schedule with a warm-up is the warm-up's first W values followed by the decay's values (the
decay scheduler run on its own, from its start).  Format: {"cases": [{"name", "kind", "opts"
(hub.lr's options), "values": [multiplier of update 0, 1, ...]}]}.
"""
import json
import os

import torch


def run(make, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1.0)
    sch = make(opt)
    v = []
    for _ in range(n):
        v.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    return v


def warmup(w, n):
    if w == 0:
        return []
    return run(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1e-12, end_factor=1.0, total_iters=w), n)[:w]


def cosine(w, total, mn=0.0, cycles=0.5):
    t_max = (total - w) / (2 * cycles)
    assert t_max == int(t_max), "choose total - warmup divisible by 2 * cycles"
    decay = run(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=int(t_max), eta_min=mn), total - w + 1)
    return warmup(w, w) + decay


def linear(w, total):
    decay = run(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1.0, end_factor=0.0, total_iters=total - w),
                total - w + 1)
    return warmup(w, w) + decay


def constant(w, n):
    return run(lambda o: torch.optim.lr_scheduler.LinearLR(o, start_factor=1e-12, end_factor=1.0, total_iters=w), n) \
        if w > 0 else [1.0] * n


cases = [
    ("cosine_w5_t25", "cosine", {"warmup": 5, "total": 25}, cosine(5, 25)),
    ("cosine_w1_t21", "cosine", {"warmup": 1, "total": 21}, cosine(1, 21)),
    ("cosine_w4_t24_min", "cosine", {"warmup": 4, "total": 24, "min": 0.1}, cosine(4, 24, 0.1)),
    ("cosine_w6_t46_cycles1", "cosine", {"warmup": 6, "total": 46, "cycles": 1}, cosine(6, 46, 0.0, 1)),
    ("cosine_w2_t42_cycles2_min", "cosine", {"warmup": 2, "total": 42, "cycles": 2, "min": 0.25},
     cosine(2, 42, 0.25, 2)),
    # a fractional warm-up: 0.1 of 40 updates is 4
    ("cosine_w0.1_t40", "cosine", {"warmup": 0.1, "total": 40}, cosine(4, 40)),
    ("cosine_t16", "cosine", {"total": 16}, cosine(0, 16)),
    ("linear_w3_t13", "linear", {"warmup": 3, "total": 13}, linear(3, 13)),
    ("constant_w4", "constant", {"warmup": 4}, constant(4, 10)),
    ("constant_w1", "constant", {"warmup": 1}, constant(1, 5)),
    ("constant", "constant", {}, constant(0, 5)),
]
out = {"torch": torch.__version__,
       "cases": [{"name": n, "kind": k, "opts": o, "values": v} for n, k, o, v in cases]}
path = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures", "lr_schedules.json")
with open(path, "w") as f:
    json.dump(out, f, indent=1)
print("wrote", path)
