"""bench/cuda/train_torch.py: the PyTorch twin of bench/cuda/train_cuda.lua on the GPU: the same
BERT-style classifier (bench/lib/bench.lua's: word + position + token-type embeddings, LayerNorm
eps 1e-12, post-LN layers with one fused qkv Linear, scaled_dot_product_attention with dropout 0.1,
exact GELU, pooler tanh, dropout, classifier; weights N(0, 0.02), biases 0) and the same step:
forward in train mode + cross_entropy + backward + AdamW (fused, lr 5e-5, weight decay 0.01) +
zero_grad.  Modes f32, tf32 (allow_tf32) and bf16 (torch.autocast).  Lines:
"torch_train mode=M batch=B seq=L layers=N median_ms=.. min_ms=..".  Needs torch with CUDA
(HUB_BENCH_DEVICE=cpu: on the CPU, to check the script; cudatime.py)."""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
from cudatime import DEVICE, time_it

p = argparse.ArgumentParser()
p.add_argument("--batches", default="32,128")
p.add_argument("--seq", type=int, default=128)
p.add_argument("--iters", type=int, default=10)
p.add_argument("--layers", type=int, default=12)
p.add_argument("--hidden", type=int, default=768)
p.add_argument("--heads", type=int, default=12)
p.add_argument("--vocab", type=int, default=21128)
p.add_argument("--modes", default="f32,tf32,bf16")
a = p.parse_args()
dev = DEVICE


class Layer(nn.Module):
    def __init__(self, h, heads, drop=0.1):
        super().__init__()
        self.heads, self.drop = heads, drop
        self.qkv, self.out = nn.Linear(h, 3 * h), nn.Linear(h, h)
        self.ln1, self.ln2 = nn.LayerNorm(h, eps=1e-12), nn.LayerNorm(h, eps=1e-12)
        self.f1, self.f2 = nn.Linear(h, 4 * h), nn.Linear(4 * h, h)

    def forward(self, x):
        B, L, H = x.shape
        q, k, v = self.qkv(x).view(B, L, 3, self.heads, H // self.heads).permute(2, 0, 3, 1, 4)
        ctx = F.scaled_dot_product_attention(q, k, v, dropout_p=self.drop if self.training else 0.0)
        x = self.ln1(x + F.dropout(self.out(ctx.transpose(1, 2).reshape(B, L, H)), self.drop, self.training))
        return self.ln2(x + F.dropout(self.f2(F.gelu(self.f1(x))), self.drop, self.training))


class Bert(nn.Module):
    def __init__(self, vocab, h, heads, layers):
        super().__init__()
        self.word, self.pos, self.tt = nn.Embedding(vocab, h), nn.Embedding(512, h), nn.Embedding(2, h)
        self.ln = nn.LayerNorm(h, eps=1e-12)
        self.layers = nn.ModuleList([Layer(h, heads) for _ in range(layers)])
        self.pooler, self.cls = nn.Linear(h, h), nn.Linear(h, 2)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, ids, tt, pos):
        x = F.dropout(self.ln(self.word(ids) + self.pos(pos) + self.tt(tt)), 0.1, self.training)
        for layer in self.layers:
            x = layer(x)
        return self.cls(F.dropout(torch.tanh(self.pooler(x[:, 0])), 0.1, self.training))


for B in [int(b) for b in a.batches.split(",")]:
    for mode in a.modes.split(","):
        torch.manual_seed(1)
        model = Bert(a.vocab, a.hidden, a.heads, a.layers).to(dev).train()
        opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01, betas=(0.9, 0.999), eps=1e-8, fused=True)
        ids = torch.randint(0, a.vocab, (B, a.seq), device=dev)
        labels = torch.randint(0, 2, (B,), device=dev)
        tt = torch.zeros(B, a.seq, dtype=torch.long, device=dev)
        pos = torch.arange(a.seq, device=dev).unsqueeze(0)
        torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"

        def step():
            with torch.autocast(dev, dtype=torch.bfloat16, enabled=mode == "bf16"):
                loss = F.cross_entropy(model(ids, tt, pos), labels)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)

        med, mn = time_it(step, a.iters)
        print(f"torch_train mode={mode} batch={B} seq={a.seq} layers={a.layers} median_ms={med:.3f} min_ms={mn:.3f}")
        del model, opt
        if dev == "cuda":
            torch.cuda.empty_cache()
torch.backends.cuda.matmul.allow_tf32 = False
