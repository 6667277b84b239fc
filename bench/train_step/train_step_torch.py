#!/usr/bin/python3
"""PyTorch side of bench/train_step: the BERT-style classifier of train_step.lua in torch.nn.

    /usr/bin/python3 bench/train_step/train_step_torch.py [--size small|large] [--steps N]
        [--warmup W] [--threads T] [--mode train|infer|both] [--mem-steps N] [--label NAME]
        [--impl bert|nn] [--seed S] [--budget S] [--attn-dropout P]

The same model, shapes, initialisation scheme, dropout, optimiser settings and step as
train_step.lua (see its header):
  embeddings  word [V, H] + position [512, H] + token type [2, H], summed, LayerNorm, dropout 0.1
  encoder     N post-LN BERT layers: one fused qkv Linear, softmax(q k^T / sqrt(Dh) + mask) with
              dropout 0.1 on the probabilities, out Linear, dropout, residual, LayerNorm; then
              Linear(H, 4H), exact GELU, Linear(4H, H), dropout, residual, LayerNorm
  pooler      tanh(Linear(H, H)) of token 0; dropout 0.1; classifier Linear(H, 2)
LayerNorm eps 1e-12; every Linear/Embedding weight N(0, 0.02), biases zero, LayerNorm ones/zeros;
AdamW(lr 5e-5, weight_decay 0.01 on every parameter, betas (0.9, 0.999), eps 1e-8).  Random
token ids and labels come from torch.manual_seed(seed) (not the same numbers as hub's generator:
the work per step does not depend on them), with an all-ones attention mask and zero token types.

--impl nn builds the encoder from torch.nn.TransformerEncoderLayer(batch_first=True,
activation="gelu", norm_first=False) instead; that layer has one more dropout (inside the
feed-forward, after the activation) and in eval mode PyTorch may take its fused "fast path".

train = forward (train mode) + F.cross_entropy + backward + opt.step() + opt.zero_grad(set_to_none=True)
        (hub's zero_grad also drops the gradients);
infer = forward in eval mode under torch.no_grad().
Threads: torch.set_num_threads(T) (T from --threads, else HUB_THREADS, else 2) and
OMP_NUM_THREADS=T set before torch is imported.

--attn-dropout P changes the dropout on the attention probabilities (an experiment; --impl bert).

--budget S (seconds, for slow builds such as Debian's torch on the reference BLAS): when the first
warm-up step takes longer than S/4 it is counted as a timed step (allocation is nothing beside
minutes of arithmetic) and the other warm-ups are skipped; timed steps stop before one that would
overrun S since the mode started, leaving at least one.  `steps=` in the output is the count used.

Output: the same machine-readable lines as train_step.lua, with impl=torch-LABEL:
  result impl=torch-debian size=small mode=train median_ms=.. min_ms=.. max_ms=.. steps=N threads=T cpu_ms=.. version=1.13.1
(cpu_ms: median process CPU time per step, all threads, time.process_time())
  memory impl=torch-debian size=small peak_rss_mb=.. rss_mb=.. params=..
  memsteps impl=... steps=N rss100_mb=.. rss_end_mb=.. growth_pct=.. peak_rss_mb=..
"""
import math
import os
import statistics
import sys
import time

SIZES = {
    "small": dict(layers=4, hidden=128, heads=4, vocab=8000, batch=32, seq=128),
    "large": dict(layers=12, hidden=768, heads=12, vocab=21128, batch=8, seq=128),
}
DROPOUT, EPS, MAX_POS, TYPES = 0.1, 1e-12, 512, 2


def parse_args(argv):
    o = dict(size="small", steps=10, warmup=3, threads=0, mode="both", mem_steps=0, label="debian",
             impl="bert", seed=1234, budget=0.0, attn_dropout=DROPOUT)
    i = 0
    keys = {"--size": ("size", str), "--steps": ("steps", int), "--warmup": ("warmup", int),
            "--threads": ("threads", int), "--mode": ("mode", str), "--mem-steps": ("mem_steps", int),
            "--label": ("label", str), "--impl": ("impl", str), "--seed": ("seed", int),
            "--budget": ("budget", float), "--attn-dropout": ("attn_dropout", float)}
    while i < len(argv):
        a = argv[i]
        if a in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if a not in keys or i + 1 >= len(argv):
            sys.exit(f"train_step_torch.py: bad option {a} (see --help)")
        k, conv = keys[a]
        o[k] = conv(argv[i + 1])
        i += 2
    if o["threads"] <= 0:
        env = os.environ.get("HUB_THREADS", "")
        o["threads"] = int(env) if env.isdigit() and int(env) > 0 else 2
    if o["size"] not in SIZES or o["mode"] not in ("train", "infer", "both") or o["impl"] not in ("bert", "nn"):
        sys.exit("train_step_torch.py: --size small|large, --mode train|infer|both, --impl bert|nn")
    return o


def proc_status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


def main():
    o = parse_args(sys.argv[1:])
    os.environ["OMP_NUM_THREADS"] = str(o["threads"])
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(o["threads"])
    torch.manual_seed(o["seed"])
    c = SIZES[o["size"]]
    H, NH = c["hidden"], c["heads"]
    DH = H // NH

    class Layer(nn.Module):
        """BERT's post-LN encoder layer, with the child names of hub.nn.TransformerEncoderLayer."""

        def __init__(self):
            super().__init__()
            self.qkv = nn.Linear(H, 3 * H)
            self.out = nn.Linear(H, H)
            self.norm1 = nn.LayerNorm(H, eps=EPS)
            self.linear1 = nn.Linear(H, 4 * H)
            self.linear2 = nn.Linear(4 * H, H)
            self.norm2 = nn.LayerNorm(H, eps=EPS)
            self.dropout = nn.Dropout(DROPOUT)
            self.attn_dropout = nn.Dropout(o["attn_dropout"])

        def forward(self, x, mask):
            B, L, _ = x.shape
            qkv = self.qkv(x).view(B, L, 3, NH, DH).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0], qkv[1], qkv[2]
            scores = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(DH)) + mask
            ctx = torch.matmul(self.attn_dropout(scores.softmax(-1)), v)
            ctx = ctx.permute(0, 2, 1, 3).reshape(B, L, H)
            x = self.norm1(x + self.dropout(self.out(ctx)))
            return self.norm2(x + self.dropout(self.linear2(F.gelu(self.linear1(x)))))

    class Bert(nn.Module):
        def __init__(self):
            super().__init__()
            self.word = nn.Embedding(c["vocab"], H)
            self.position = nn.Embedding(MAX_POS, H)
            self.token_type = nn.Embedding(TYPES, H)
            self.emb_norm = nn.LayerNorm(H, eps=EPS)
            self.emb_drop = nn.Dropout(DROPOUT)
            if o["impl"] == "bert":
                self.layers = nn.ModuleList([Layer() for _ in range(c["layers"])])
            else:
                self.layers = nn.ModuleList([nn.TransformerEncoderLayer(
                    H, NH, 4 * H, DROPOUT, activation="gelu", layer_norm_eps=EPS, batch_first=True,
                    norm_first=False) for _ in range(c["layers"])])
            self.pooler = nn.Linear(H, H)
            self.cls_drop = nn.Dropout(DROPOUT)
            self.classifier = nn.Linear(H, 2)

        def forward(self, ids, token_types, positions, mask):
            x = self.word(ids) + self.position(positions) + self.token_type(token_types)
            x = self.emb_drop(self.emb_norm(x))
            if o["impl"] == "bert":
                add = ((1.0 - mask) * -1e4).view(mask.shape[0], 1, 1, mask.shape[1])
                for layer in self.layers:
                    x = layer(x, add)
            else:
                pad = mask == 0  # True = padding, as torch.nn wants
                for layer in self.layers:
                    x = layer(x, src_key_padding_mask=pad)
            pooled = torch.tanh(self.pooler(x[:, 0]))
            return self.classifier(self.cls_drop(pooled))

    model = Bert()
    for m in model.modules():  # BERT's initialisation
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.MultiheadAttention):  # --impl nn: its packed projection
            nn.init.normal_(m.in_proj_weight, std=0.02)
            nn.init.zeros_(m.in_proj_bias)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)

    B, L = c["batch"], c["seq"]
    ids = torch.randint(0, c["vocab"], (B, L))
    labels = torch.randint(0, 2, (B,))
    token_types = torch.zeros(B, L, dtype=torch.long)
    positions = torch.arange(L)
    mask = torch.ones(B, L)

    def train_step():
        logits = model(ids, token_types, positions, mask)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    def infer_step():
        with torch.no_grad():
            return model(ids, token_types, positions, mask)

    tag = f"impl=torch-{o['label']}{'-nn' if o['impl'] == 'nn' else ''} size={o['size']}"
    print(f"# torch {torch.__version__} ({o['label']}): {o['size']}, {c['layers']} layers, hidden {H}, {NH} heads, "
          f"vocab {c['vocab']}, batch {B}, seq {L}, {n_params} parameters, {torch.get_num_threads()} threads, "
          f"impl {o['impl']}", flush=True)

    if o["mem_steps"] > 0:
        model.train()
        rss100 = None
        t0 = time.perf_counter()
        for s in range(1, o["mem_steps"] + 1):
            train_step()
            if s == min(100, o["mem_steps"]):
                rss100 = proc_status("VmRSS")
        rss_end = proc_status("VmRSS")
        print(f"memsteps {tag} steps={o['mem_steps']} rss100_mb={rss100 / 1024:.1f} rss_end_mb={rss_end / 1024:.1f} "
              f"growth_pct={100 * (rss_end - rss100) / rss100:.2f} peak_rss_mb={proc_status('VmHWM') / 1024:.1f} "
              f"seconds={time.perf_counter() - t0:.1f} threads={o['threads']}")
        return

    def timed(mode, fn):
        times, cpu = [], []
        budget = o["budget"]
        start = time.perf_counter()
        for w in range(o["warmup"]):
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            dt = time.perf_counter() - t0
            if budget > 0 and w == 0 and dt > budget / 4:
                times.append(dt * 1e3)  # slow path: the first step is timed too, no more warm-up
                cpu.append((time.process_time() - c0) * 1e3)
                break
        while len(times) < o["steps"]:
            if budget > 0 and times and time.perf_counter() - start + times[0] / 1e3 > budget:
                break
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        print(f"result {tag} mode={mode} median_ms={statistics.median(times):.2f} min_ms={min(times):.2f} "
              f"max_ms={max(times):.2f} steps={len(times)} threads={o['threads']} "
              f"cpu_ms={statistics.median(cpu):.2f} version={torch.__version__}", flush=True)

    if o["mode"] != "infer":
        model.train()
        timed("train", train_step)
    if o["mode"] != "train":
        model.eval()
        timed("infer", infer_step)
    print(f"memory {tag} peak_rss_mb={proc_status('VmHWM') / 1024:.1f} rss_mb={proc_status('VmRSS') / 1024:.1f} "
          f"params={n_params}")


if __name__ == "__main__":
    main()
