#!/usr/bin/python3
"""gen_crf_fixture.py - reference values for the linear-chain CRF (hub.crf_nll, hub.crf_decode),
made with PyTorch independently of hubrun's C code.

Run with Debian's python3-torch (1.13):  /usr/bin/python3 scripts/gen_crf_fixture.py
It writes tests/fixtures/crf.json, which tests/lua/test_crf.lua replays.

The CRF here is written out by hand in torch (float64), the textbook way and with different
code from kernels/cpu/crf_nll.c: the forward algorithm vectorised over the batch with
torch.logsumexp and a mask that freezes alpha after each sequence's end, the gold score by
gather, and the gradients by torch.autograd (not by forward-backward marginals, as the C kernel
computes them).  Decoding is a batched max-product Viterbi with back-pointers (torch.max takes
the first index among ties, as the C kernel does).

A path y of length n scores  start[y0] + sum_t em[t, y_t] + sum_t trans[y_(t-1), y_t] + end[y_(n-1)];
nll = logsumexp over all paths - score(gold).

Cases: inputs rounded to 3 decimals (exact f32 numbers, parsed identically by both sides);
lengths per sequence (the padded tags are -1 / -100 and must be ignored); a fixed random weight
W [B], loss = sum(nll * W), and the gradients of loss w.r.t. emissions, transitions, start and
end.  Format: {"version": 1, "cases": [{"name", "B", "L", "C", "lengths", "emissions" (flat
[B, L, C]), "tags" (flat [B, L]), "transitions" (flat [C, C]), "start", "end", "weights",
"nll", "path" (flat [B, L], -1 padded), "grad_emissions", "grad_transitions", "grad_start",
"grad_end"}]}.
"""
import json
import os

import torch

torch.manual_seed(20261204)
F64 = torch.float64


def R(*shape, scale=1.0):
    x = torch.randn(tuple(shape), dtype=F64) * scale
    return torch.round(x * 1000) / 1000


def crf_nll(em, tags, lengths, trans, start, end):
    B, L, C = em.shape
    mask = torch.arange(L)[None, :] < lengths[:, None]  # [B, L]
    alpha = start[None, :] + em[:, 0]  # [B, C]
    for t in range(1, L):
        nxt = torch.logsumexp(alpha[:, :, None] + trans[None, :, :], dim=1) + em[:, t]
        alpha = torch.where(mask[:, t, None], nxt, alpha)
    logz = torch.logsumexp(alpha + end[None, :], dim=1)
    y = tags.clamp(min=0)
    score = start[y[:, 0]] + em[:, 0].gather(1, y[:, :1]).squeeze(1)
    for t in range(1, L):
        step = trans[y[:, t - 1], y[:, t]] + em[:, t].gather(1, y[:, t:t + 1]).squeeze(1)
        score = score + torch.where(mask[:, t], step, torch.zeros_like(step))
    last = y.gather(1, (lengths - 1).clamp(min=0)[:, None]).squeeze(1)
    score = score + end[last]
    return torch.where(lengths > 0, logz - score, torch.zeros_like(logz))


def viterbi(em, lengths, trans, start, end):
    B, L, C = em.shape
    out = torch.full((B, L), -1, dtype=torch.long)
    for b in range(B):
        n = int(lengths[b])
        if n == 0:
            continue
        score = start + em[b, 0]
        bps = []
        for t in range(1, n):
            v, i = torch.max(score[:, None] + trans, dim=0)
            bps.append(i)
            score = v + em[b, t]
        j = int(torch.argmax(score + end))
        path = [j]
        for bp in reversed(bps):
            j = int(bp[j])
            path.append(j)
        out[b, :n] = torch.tensor(path[::-1])
    return out


def case(name, B, L, C, lengths, forbid=None):
    em = R(B, L, C, scale=2.0).requires_grad_()
    trans = R(C, C).requires_grad_()
    start = R(C).requires_grad_()
    end = R(C).requires_grad_()
    if forbid is not None:  # forbidden transitions, as BIO constraints write them
        with torch.no_grad():
            for i, j in forbid:
                trans[i, j] = -10000.0
    lengths = torch.tensor(lengths, dtype=torch.long)
    tags = torch.randint(0, C, (B, L))
    for b in range(B):
        tags[b, int(lengths[b]):] = -100 if b % 2 else -1
    if forbid is not None:  # gold paths that obey the constraints: re-draw offending steps
        bad = set(forbid)
        for b in range(B):
            for t in range(1, int(lengths[b])):
                while (int(tags[b, t - 1]), int(tags[b, t])) in bad:
                    tags[b, t] = int(torch.randint(0, C, (1,)))
    nll = crf_nll(em, tags, lengths, trans, start, end)
    w = R(B)
    (nll * w).sum().backward()
    path = viterbi(em.detach(), lengths, trans.detach(), start.detach(), end.detach())
    flat = lambda t: [float(v) for v in t.detach().reshape(-1)]
    return {
        "name": name, "B": B, "L": L, "C": C, "lengths": [int(v) for v in lengths],
        "emissions": flat(em), "tags": [int(v) for v in tags.reshape(-1)],
        "transitions": flat(trans), "start": flat(start), "end": flat(end), "weights": flat(w),
        "nll": flat(nll), "path": [int(v) for v in path.reshape(-1)],
        "grad_emissions": flat(em.grad), "grad_transitions": flat(trans.grad),
        "grad_start": flat(start.grad), "grad_end": flat(end.grad),
    }


def main():
    cases = [
        case("b6_l20_c9", 6, 20, 9, [20, 17, 1, 9, 20, 13]),
        case("b3_l40_c25", 3, 40, 25, [40, 31, 2]),
        # BIO over 2 types: tags O=0 B-X=1 I-X=2 B-Y=3 I-Y=4; I-X only after B-X/I-X, likewise Y
        case("bio_forbidden", 4, 15, 5, [15, 8, 15, 3],
             forbid=[(0, 2), (0, 4), (3, 2), (4, 2), (1, 4), (2, 4)]),
    ]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "crf.json")
    with open(out, "w") as f:
        json.dump({"version": 1, "cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    print("wrote", os.path.normpath(out), len(cases), "cases")


if __name__ == "__main__":
    main()
