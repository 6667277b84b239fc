#!/usr/bin/env python3
"""PyTorch twin of bench/pretrain/pretrain_step.lua: one masked-LM pretraining step of
ernie-tiny-zh's shape (4 layers, hidden 312, 12 heads, FFN 1248, vocab 10000, tied decoder,
dropout 0.1), B x 128 random tokens, 15% of the positions predicted, clip_grad_norm(1.0),
AdamW(5e-4, weight decay 0.01 except biases and LayerNorm), zero_grad(set_to_none=True).

    python bench/pretrain/pretrain_step_torch.py [--impl hf|gather] [--steps N] [--warmup W] [--threads T] [--batch B]

--impl hf      Hugging Face's BertForMaskedLM(input_ids, attention_mask, labels) as users call it:
               labels -100 except at the masked positions (the head runs over every position)
--impl gather  the same model, the head applied only at the masked positions (as hubrun does):
               bert(...) -> hidden[positions] -> cls(...) -> cross_entropy
Prints: result impl=torch-IMPL median_ms=.. min_ms=.. max_ms=.. steps=N threads=T tokens_per_s=.. version=..
"""
import argparse
import os
import statistics
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--impl", default="gather", choices=["hf", "gather"])
p.add_argument("--steps", type=int, default=10)
p.add_argument("--warmup", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--batch", type=int, default=32)
a = p.parse_args()
os.environ["OMP_NUM_THREADS"] = str(a.threads)
import torch  # noqa: E402
from transformers import BertConfig, BertForMaskedLM  # noqa: E402

torch.set_num_threads(a.threads)
torch.manual_seed(1234)
V, L, B = 10000, 128, a.batch
cfg = BertConfig(vocab_size=V, hidden_size=312, num_hidden_layers=4, num_attention_heads=12, intermediate_size=1248,
                 hidden_act="gelu", max_position_embeddings=512, attn_implementation="sdpa")
model = BertForMaskedLM(cfg).train()
no_decay = [p for n, p in model.named_parameters() if "bias" in n or "LayerNorm" in n]
decay = [p for n, p in model.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=5e-4)
ids = torch.randint(5, V, (B, L))
mask = torch.ones(B, L, dtype=torch.long)
M = int(B * L * 0.15)
pos = torch.randperm(B * L)[:M].sort().values
lab = torch.randint(5, V, (M,))
full = torch.full((B * L,), -100, dtype=torch.long)
full[pos] = lab
full = full.view(B, L)


def step():
    if a.impl == "hf":
        loss = model(input_ids=ids, attention_mask=mask, labels=full).loss
    else:
        h = model.bert(input_ids=ids, attention_mask=mask).last_hidden_state.reshape(B * L, -1)[pos]
        loss = torch.nn.functional.cross_entropy(model.cls(h), lab)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return loss.item()


for _ in range(a.warmup):
    step()
t = []
for _ in range(a.steps):
    t0 = time.perf_counter()
    step()
    t.append((time.perf_counter() - t0) * 1000)
med = statistics.median(t)
print(f"result impl=torch-{a.impl} median_ms={med:.1f} min_ms={min(t):.1f} max_ms={max(t):.1f} steps={a.steps} "
      f"threads={a.threads} tokens_per_s={B * L / med * 1000:.0f} version={torch.__version__}")
