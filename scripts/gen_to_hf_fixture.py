#!/usr/bin/env python3
"""Golden fixture for `hubrun convert to-hf` (lua/hub/convert_to_hf.lua), checked by
tests/lua/test_convert_to_hf.lua.

Makes a tiny Hugging Face BertModel with random weights (every tensor of a useful size, a pooler,
three token types, and config values away from the defaults so that a field lost on the way
shows), saves it with transformers' own save_pretrained into tests/fixtures/to_hf/ (config.json,
model.safetensors, vocab.txt: the first 400 lines of tests/fixtures/vocab_zh.txt, and
tokenizer_config.json), and records in float64, for a batch of token ids with padding and token
types:

  expected.json         input_ids, token_type_ids, attention_mask, library versions
  expected.safetensors  "sequence_output" [B, L, H] and "pooled_output" [B, H] of BertModel

The test converts the directory with `hubrun convert hf` (-> a module), checks the module's
outputs against these, converts the module back with `hubrun convert to-hf` and checks that the
config's fields, every tensor (name with the "bert." prefix, shape and value) and the vocabulary
are the original's.

Run (PyPI torch and transformers in a venv; the one bench/finetune/run.sh makes will do):
  python3 -m venv $HUB_DATA/venv-hf && $HUB_DATA/venv-hf/bin/pip install torch transformers accelerate
  $HUB_DATA/venv-hf/bin/python scripts/gen_to_hf_fixture.py
The fixture is committed (tests/fixtures/to_hf/); the test needs no Python.

  $HUB_DATA/venv-hf/bin/python scripts/gen_to_hf_fixture.py --check HF_DIR
checks the other end by hand: HF_DIR (what `hubrun convert to-hf` made of the converted fixture)
loads into transformers' BertModel with no missing or unexpected tensor and gives the expected
outputs (and BertForSequenceClassification loads it with only its new classifier missing).
"""
import json
import os

import torch
import transformers
from safetensors.torch import save_file
from transformers import BertConfig, BertModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
FIX = os.path.join(ROOT, "tests", "fixtures")
OUT = os.path.join(FIX, "to_hf")


def check(hf_dir):
    from safetensors.torch import load_file
    exp = json.load(open(os.path.join(OUT, "expected.json")))
    ref = load_file(os.path.join(OUT, "expected.safetensors"))
    model, info = BertModel.from_pretrained(hf_dir, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"BertModel.from_pretrained({hf_dir}): {bad}"
    model = model.double().eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(exp["input_ids"]), token_type_ids=torch.tensor(exp["token_type_ids"]),
                    attention_mask=torch.tensor(exp["attention_mask"]))
    for name, got in (("sequence_output", out.last_hidden_state), ("pooled_output", out.pooler_output)):
        err = (got.float() - ref[name]).abs().max().item()
        assert err < 1e-5, f"{name}: max abs error {err}"
        print(f"{name}: max abs error {err:.3g}")
    from transformers import BertForSequenceClassification
    _, info = BertForSequenceClassification.from_pretrained(hf_dir, num_labels=2, output_loading_info=True)
    assert sorted(info["missing_keys"]) == ["classifier.bias", "classifier.weight"], info
    assert not info["unexpected_keys"], info
    print(f"{hf_dir}: loads into BertModel (nothing missing or unexpected) and BertForSequenceClassification "
          f"(only the classifier missing); outputs equal the fixture's")


def main():
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        return check(sys.argv[2])
    gen = torch.Generator().manual_seed(20261205)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(FIX, "vocab_zh.txt"), encoding="utf-8") as f:
        vocab = f.read().splitlines()[:400]
    with open(os.path.join(OUT, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    config = BertConfig(vocab_size=len(vocab), hidden_size=24, num_hidden_layers=2, num_attention_heads=3,
                        intermediate_size=40, hidden_act="gelu", hidden_dropout_prob=0.15,
                        attention_probs_dropout_prob=0.05, max_position_embeddings=20, type_vocab_size=3,
                        initializer_range=0.03, layer_norm_eps=1e-6, pad_token_id=0)
    model = BertModel(config, add_pooling_layer=True)
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
    model.save_pretrained(OUT, safe_serialization=True)
    gc = os.path.join(OUT, "generation_config.json")
    if os.path.exists(gc):
        os.remove(gc)
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "tokenizer_class": "BertTokenizer"}, f, indent=2)

    B, L, V = 3, 11, len(vocab)
    ids = torch.randint(5, V, (B, L), generator=gen)
    types = torch.zeros(B, L, dtype=torch.long)
    mask = torch.ones(B, L, dtype=torch.long)
    ids[:, 0] = 2                       # [CLS] of vocab_zh.txt
    types[0, 6:] = 1
    types[2, 3:] = 2
    ids[1, 8:] = 0                      # padding
    mask[1, 8:] = 0
    ids[2, 5:] = 0
    mask[2, 5:] = 0
    types[2, 5:] = 0

    model = model.double().eval()
    with torch.no_grad():
        out = model(input_ids=ids, token_type_ids=types, attention_mask=mask)
    save_file({"sequence_output": out.last_hidden_state.float().contiguous(),
               "pooled_output": out.pooler_output.float().contiguous()},
              os.path.join(OUT, "expected.safetensors"))
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"input_ids": ids.tolist(), "token_type_ids": types.tolist(), "attention_mask": mask.tolist(),
                   "torch": torch.__version__, "transformers": transformers.__version__}, f, indent=1)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
