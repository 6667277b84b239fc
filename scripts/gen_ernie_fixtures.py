#!/usr/bin/env python3
"""Golden fixtures for hubrun's BERT-family encoder (lua/hub/models/ernie.lua).

Writes tiny checkpoints with random weights in Hugging Face's own naming and layout, and the
outputs of Hugging Face's own BertModel / ErnieModel for them, into tests/fixtures/ernie/<case>/:

  config.json          the Hugging Face config (as save_pretrained writes it)
  model.safetensors    the weights, in the naming of the case (see CASES: prefixes, old
                       gamma/beta LayerNorm names, pre-training heads, no pooler)
  vocab.txt            the WordPiece vocabulary (tests/fixtures/vocab_zh.txt or its first 2000 lines)
  tokenizer_config.json  do_lower_case
  expected.json        for each batch of inputs: the texts, max_seq_len and the token ids that
                       BertTokenizerFast gives (input_ids, token_type_ids, attention_mask, and
                       task_type_ids / position_ids where the case uses them); the loss used for
                       the gradients; library versions
  expected.safetensors the reference tensors: "<batch>.sequence_output", "<batch>.pooled_output",
                       "loss.r_seq" / "loss.r_pool" (the fixed random weights of the loss) and
                       "grad.<Hugging Face parameter name>" for every parameter but the word
                       embeddings, whose gradient is stored only for the rows of the ids in the
                       batch ("grad_rows.<name>", the ids in expected.json's "grad_rows")

The reference runs in float64 (model.double()), so the fixture is the exact function up to f32
rounding of the stored values, and hubrun's f32 error is its own.  The gradient is that of
loss = sum(sequence_output * r_seq) + sum(pooled_output * r_pool) over the batch named in
expected.json ("grad_batch"), in eval mode (no dropout).

Run with a Python that has torch and transformers (ErnieModel: transformers >= 4.22):
  /usr/bin/python3 -m venv --system-site-packages build/pyvenv-torch   # Debian's torch 1.13
  build/pyvenv-torch/bin/pip install transformers==4.36.2 safetensors
  build/pyvenv-torch/bin/python scripts/gen_ernie_fixtures.py
The fixtures are committed, so the tests (tests/lua/test_ernie_golden.lua) need no Python.
"""
import json
import os
import shutil
import sys

import torch
import transformers
from safetensors.torch import save_file
from transformers import (BertConfig, BertForPreTraining, BertModel, BertTokenizerFast,
                          ErnieConfig, ErnieModel)

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "ernie")

ZH = [
    "今天天气很好，我们去公园散步吧。",
    "这家餐厅的菜太难吃了，服务也很差！",
    "北京是中国的首都",
    "深度学习模型需要大量的数据来训练。",
    "Hello World, this is BERT speaking.",
    "人工智能 AI 正在改变世界 2024",
    "我",
]
PAIRS = [
    ("这部电影好看吗？", "非常好看，强烈推荐。"),
    ("What is the capital of China?", "北京是中国的首都。"),
    ("他说了什么", ""),
]
LONG = "".join(ZH[:6]) * 12   # several hundred tokens: truncated at 512 and at small lengths


def write_vocab(path, n):
    with open(os.path.join(FIX, "vocab_zh.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines[:n] if n else lines) + "\n")
    return len(lines[:n] if n else lines)


def randomize(model, gen):
    """Weights of a useful size everywhere (HF initialises LayerNorm to 1/0 and biases to 0)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name and name.endswith("weight"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif "embeddings" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(torch.randn(p.shape, generator=gen) / p.shape[-1] ** 0.5)


def encode(tok, items, max_len):
    a = [x[0] if isinstance(x, tuple) else x for x in items]
    b = [x[1] for x in items] if isinstance(items[0], tuple) else None
    enc = tok(a, b, max_length=max_len, truncation="longest_first", padding="max_length",
              return_tensors="pt")
    return {k: enc[k] for k in ("input_ids", "token_type_ids", "attention_mask")}


# Each case: the config, how its checkpoint is named, and its batches of inputs.
CASES = [
    dict(name="bert_gelu", cls="bert", vocab_lines=2000, heads_model="pretraining",
         prefix="bert.", doc="BERT-like: gelu, pre-training heads (cls.*) in the file, bert. prefix",
         config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                     hidden_act="gelu", max_position_embeddings=64, type_vocab_size=2,
                     layer_norm_eps=1e-12),
         batches=[dict(name="singles", items=ZH, max_len=24),
                  dict(name="pairs", items=PAIRS, max_len=20),
                  dict(name="truncated", items=[LONG, ZH[0]], max_len=16)],
         grad_batch="pairs"),
    dict(name="ernie1_relu", cls="ernie", vocab_lines=0, prefix="ernie.",
         doc="ERNIE 1.0-like: relu, full 8000-token vocab, ernie. prefix",
         config=dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48,
                     hidden_act="relu", max_position_embeddings=64, type_vocab_size=2,
                     layer_norm_eps=1e-5, use_task_id=False),
         batches=[dict(name="singles", items=ZH, max_len=24),
                  dict(name="pairs", items=PAIRS, max_len=24)],
         grad_batch="singles"),
    dict(name="ernie3_task", cls="ernie", vocab_lines=2000, prefix="",
         doc="ERNIE 3.0-like: task type embeddings (use_task_id), type_vocab_size 4, no prefix",
         config=dict(hidden_size=40, num_hidden_layers=2, num_attention_heads=4, intermediate_size=80,
                     hidden_act="gelu", max_position_embeddings=48, type_vocab_size=4,
                     task_type_vocab_size=3, use_task_id=True, layer_norm_eps=1e-12),
         batches=[dict(name="pairs_task", items=PAIRS, max_len=20, task=[0, 1, 2]),
                  dict(name="singles_default_task", items=ZH[:3], max_len=16),
                  dict(name="positions", items=ZH[:2], max_len=12, task=[2, 1], positions=5)],
         grad_batch="pairs_task"),
    dict(name="odd_shapes", cls="bert", vocab_lines=2000, prefix="", no_pooler=True, gamma_beta=True,
         doc="odd shapes: 3 heads of 12, gelu_new, no pooler, old LayerNorm gamma/beta names, L = 1 and 512",
         config=dict(hidden_size=36, num_hidden_layers=2, num_attention_heads=3, intermediate_size=50,
                     hidden_act="gelu_new", max_position_embeddings=512, type_vocab_size=2,
                     layer_norm_eps=1e-12),
         batches=[dict(name="len1", ids=[[2], [105]]),
                  dict(name="len512", items=[LONG, ZH[1]], max_len=512),
                  dict(name="pairs", items=PAIRS, max_len=13)],
         grad_batch="len512"),
]


def run_case(case, gen):
    d = os.path.join(OUT, case["name"])
    os.makedirs(d, exist_ok=True)
    nvocab = write_vocab(os.path.join(d, "vocab.txt"), case["vocab_lines"])
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f, indent=2)
    tok = BertTokenizerFast(os.path.join(d, "vocab.txt"), do_lower_case=True)
    cfg = dict(case["config"], vocab_size=nvocab, hidden_dropout_prob=0.1,
               attention_probs_dropout_prob=0.1)
    if case["cls"] == "bert":
        config = BertConfig(**cfg)
        if case.get("heads_model") == "pretraining":
            full = BertForPreTraining(config)
            randomize(full, gen)
            model = full.bert
        else:
            full = model = BertModel(config, add_pooling_layer=not case.get("no_pooler"))
            randomize(model, gen)
    else:
        config = ErnieConfig(**cfg)
        full = model = ErnieModel(config)
        randomize(model, gen)
    config.save_pretrained(d)

    # the checkpoint, named as the case says
    sd = {}
    for k, v in full.state_dict().items():
        if k.endswith("position_ids") or k.endswith("embeddings.token_type_ids"):
            continue
        name = k if full is not model else case["prefix"] + k
        if case.get("gamma_beta") and "LayerNorm" in name:
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        sd[name] = v.detach().clone().contiguous()
    save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})

    model = model.double().eval()
    out_t, batches = {}, []
    use_task = getattr(config, "use_task_id", False)
    for b in case["batches"]:
        if "ids" in b:
            ids = torch.tensor(b["ids"], dtype=torch.long)
            enc = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids),
                   "attention_mask": torch.ones_like(ids)}
        else:
            enc = encode(tok, b["items"], b["max_len"])
        B, L = enc["input_ids"].shape
        kw = dict(enc)
        if "task" in b:
            kw["task_type_ids"] = torch.tensor(b["task"], dtype=torch.long)[:, None].expand(B, L).contiguous()
        if "positions" in b:
            kw["position_ids"] = (torch.arange(L) + b["positions"])[None, :].expand(B, L).contiguous()
        with torch.no_grad():
            o = model(**kw)
        out_t[b["name"] + ".sequence_output"] = o.last_hidden_state.float()
        if o.pooler_output is not None:
            out_t[b["name"] + ".pooled_output"] = o.pooler_output.float()
        rec = {"name": b["name"], "shape": [B, L]}
        if "items" in b:
            rec["texts"] = [list(x) if isinstance(x, tuple) else x for x in b["items"]]
            rec["max_seq_len"] = b["max_len"]
        for k, v in kw.items():
            rec[k] = v.tolist()
        batches.append(rec)

        if b["name"] == case["grad_batch"]:
            model.zero_grad()
            seq = model(**kw)
            r_seq = torch.randn(seq.last_hidden_state.shape, generator=gen, dtype=torch.float64)
            loss = (seq.last_hidden_state * r_seq).sum()
            out_t["loss.r_seq"] = r_seq.float()
            if seq.pooler_output is not None:
                r_pool = torch.randn(seq.pooler_output.shape, generator=gen, dtype=torch.float64)
                loss = loss + (seq.pooler_output * r_pool).sum()
                out_t["loss.r_pool"] = r_pool.float()
            loss.backward()
            for n, p in model.named_parameters():
                if p.grad is None:
                    continue
                if n.endswith("word_embeddings.weight"):   # only the rows of the ids used
                    used = sorted(set(kw["input_ids"].flatten().tolist()))
                    out_t["grad_rows." + n] = p.grad[used].float().contiguous()
                    grad_rows = {n: used}
                else:
                    out_t["grad." + n] = p.grad.float().contiguous()
            loss_value = loss.item()
    save_file(out_t, os.path.join(d, "expected.safetensors"))
    meta = {
        "case": case["name"], "doc": case["doc"], "hf_class": type(model).__name__,
        "use_task_id": bool(use_task), "has_pooler": model.pooler is not None,
        "batches": batches, "grad_batch": case["grad_batch"], "loss": loss_value, "grad_rows": grad_rows,
        "loss_formula": "sum(sequence_output * loss.r_seq) + sum(pooled_output * loss.r_pool), eval mode",
        "torch": torch.__version__, "transformers": transformers.__version__,
    }
    with open(os.path.join(d, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, ensure_ascii=False, separators=(",", ":"))
    sizes = {fn: os.path.getsize(os.path.join(d, fn)) for fn in os.listdir(d)}
    print(case["name"], sizes)


def main():
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    gen = torch.Generator().manual_seed(20240601)
    torch.manual_seed(0)
    for case in CASES:
        run_case(case, gen)
    # a checkpoint with only pytorch_model.bin (convert must refuse it clearly)
    d = os.path.join(OUT, "pytorch_bin_only")
    os.makedirs(d)
    shutil.copy(os.path.join(OUT, "bert_gelu", "config.json"), d)
    shutil.copy(os.path.join(OUT, "bert_gelu", "vocab.txt"), d)
    with open(os.path.join(d, "pytorch_model.bin"), "wb") as f:
        f.write(b"PK\x03\x04 not a real pickle: convert must refuse it before reading\n")


if __name__ == "__main__":
    sys.exit(main())
