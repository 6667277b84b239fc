#!/usr/bin/env python3
"""Golden fixture for the masked-language-model head of hubrun's encoder (Ernie:mlm_logits,
lua/hub/models/ernie.lua) and for `hubrun convert hf` keeping cls.predictions.*.

Makes a tiny Hugging Face BertForMaskedLM with random weights (every tensor of a useful size,
the decoder tied to the word embeddings as Hugging Face ties it), saves it with Hugging Face's
own save_pretrained (safetensors: the tied decoder weight is stored once, as the embeddings),
and records, in float64, for a batch of token ids with padding:

  expected.json         ids, attention_mask, the masked positions (0-based indices into the
                        flattened B * L tokens) and their labels, library versions
  expected.safetensors  "logits"           [B * L, V] the head's logits at every position
                        "masked_logits"    [M, V] at the masked positions
                        "loss"             [1] cross-entropy over the masked positions
                        "grad.<HF name>"   the loss's gradient for every parameter
                                           (the word embeddings' includes the decoder's share)

Run (Debian's torch 1.13 with transformers from PyPI):
  /usr/bin/python3 -m venv --system-site-packages build/data/pyvenv-torch
  build/data/pyvenv-torch/bin/pip install transformers==4.36.2 safetensors
  build/data/pyvenv-torch/bin/python scripts/gen_mlm_fixtures.py
The fixture is committed (tests/fixtures/ernie_mlm/); tests/lua/test_ernie_mlm.lua needs no Python.
"""
import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import BertConfig, BertForMaskedLM

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "ernie_mlm")


def main():
    gen = torch.Generator().manual_seed(20261204)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(FIX, "vocab_zh.txt"), encoding="utf-8") as f:
        vocab = f.read().splitlines()[:1500]
    with open(os.path.join(OUT, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    config = BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=56, hidden_act="gelu", max_position_embeddings=40,
                        type_vocab_size=2, layer_norm_eps=1e-12)
    model = BertForMaskedLM(config)
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
    assert model.cls.predictions.decoder.weight.data_ptr() == model.bert.embeddings.word_embeddings.weight.data_ptr()
    model.save_pretrained(OUT, safe_serialization=True)
    os.remove(os.path.join(OUT, "generation_config.json"))
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f, indent=2)

    B, L, V = 3, 12, len(vocab)
    ids = torch.randint(5, V, (B, L), generator=gen)
    mask = torch.ones(B, L, dtype=torch.long)
    ids[:, 0] = 2                       # [CLS] of vocab_zh.txt
    ids[1, 9:] = 0                      # padding
    mask[1, 9:] = 0
    ids[2, 6:] = 0
    mask[2, 6:] = 0
    positions = [1, 4, 5, 10, 12 + 3, 12 + 7, 24 + 2, 24 + 5]
    labels = torch.randint(5, V, (len(positions),), generator=gen)

    model = model.double().eval()
    out = model(input_ids=ids, attention_mask=mask)
    logits = out.logits.reshape(B * L, V)
    pos = torch.tensor(positions)
    masked = logits[pos]
    loss = torch.nn.functional.cross_entropy(masked, labels)
    model.zero_grad()
    loss.backward()
    tensors = {"logits": logits.detach().float().contiguous(), "masked_logits": masked.detach().float().contiguous(),
               "loss": loss.detach().float().reshape(1)}
    for name, p in model.named_parameters():
        tensors["grad." + name] = p.grad.detach().float().contiguous()
    save_file(tensors, os.path.join(OUT, "expected.safetensors"))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "attention_mask": mask.tolist(), "positions": positions,
                   "labels": labels.tolist(), "torch": torch.__version__,
                   "transformers": transformers.__version__}, f, indent=1)
    print("wrote", OUT, "loss", loss.item())


if __name__ == "__main__":
    main()
