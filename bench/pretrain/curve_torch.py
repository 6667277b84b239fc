"""curve_torch.py N LR BATCHES THREADS: the PyTorch twin of curve_hub.lua -- Hugging Face's
BertForMaskedLM of the same shape and init distribution, the same batches, optimiser, schedule and
clipping -- printing the same lines (bench/pretrain/curve.sh)."""
import sys, time, torch
from safetensors.torch import load_file
from transformers import BertConfig, BertForMaskedLM, get_linear_schedule_with_warmup
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 2); torch.manual_seed(1)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
lr = float(sys.argv[2]) if len(sys.argv) > 2 else 1e-3
b = load_file(sys.argv[3])
cfg = BertConfig(vocab_size=10000, hidden_size=312, num_hidden_layers=4, num_attention_heads=12, intermediate_size=1248,
                 max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu", pad_token_id=0)
m = BertForMaskedLM(cfg); m.train()
nd = [p for n, p in m.named_parameters() if "bias" in n or "LayerNorm" in n]
d = [p for n, p in m.named_parameters() if not ("bias" in n or "LayerNorm" in n)]
opt = torch.optim.AdamW([{"params": d, "weight_decay": 0.01}, {"params": nd, "weight_decay": 0.0}], lr=lr)
sch = get_linear_schedule_with_warmup(opt, int(0.1 * N), N)
sl = sa = sn = 0; t0 = time.time()
for k in range(1, N + 1):
    ids, am = b[f"b{k}.input_ids"], b[f"b{k}.attention_mask"]
    pos, lab = b[f"b{k}.positions"], b[f"b{k}.labels"]
    h = m.bert(input_ids=ids, attention_mask=am).last_hidden_state
    h = h.reshape(-1, h.shape[-1])[pos]
    logits = m.cls(h)
    loss = torch.nn.functional.cross_entropy(logits, lab)
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0); opt.step(); sch.step()
    sa += (logits.argmax(-1) == lab).sum().item(); sl += loss.item() * len(lab); sn += len(lab)
    if k % 20 == 0:
        print(f"torch step {k} loss {sl/sn:.4f} acc {sa/sn:.4f}  wall {time.time()-t0:.0f}s", flush=True); sl = sa = sn = 0
