#!/usr/bin/env python3
"""gen_corpus_tokenizer_fixture.py: Hugging Face's BertTokenizerFast with ernie-tiny-zh's vocab.

    scripts/fetch-corpus.sh && build/hubrun scripts/build-corpus.lua     # the corpus
    python3 scripts/gen_corpus_tokenizer_fixture.py

Runs in build/pyvenv with the pinned tokenizers/transformers of scripts/gen_tokenizer_fixtures.py
(created there when the current Python lacks them).  Tokenizes every sentence of the held-out
corpus ($HUB_DATA/corpus/heldout.txt) with BertTokenizerFast(vocab_file =
modules/ernie-tiny-zh/vocab.txt, do_lower_case = True), as BERT-Chinese is used, and writes
tests/fixtures/corpus_tokenizer_expected.json for tests/lua/test_corpus_vocab.lua:

  vocab_sha256   of the vocabulary the ids belong to
  lines          [line number in heldout.txt, sha1 of the line, ids (space-separated, no
                 [CLS]/[SEP])]; every 10th line also its offsets (start end ...) and its
                 [CLS] ... [SEP] encoding at max_length 64 (truncated, padded).
  unk            how many [UNK] tokens HF produced in all (a measure of the vocabulary's reach)

The slow Python BertTokenizer runs on the same lines and the number of lines where it differs
is recorded.  Only sums, ids and counts are stored: the corpus text is never committed.
"""
import argparse
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
try:
    import tokenizers  # noqa: F401
    import transformers  # noqa: F401
except ImportError:
    py = os.path.join(ROOT, "build", "pyvenv", "bin", "python")
    if not os.path.exists(py) or os.path.abspath(sys.prefix) == os.path.abspath(os.path.dirname(os.path.dirname(py))):
        sys.exit("gen_corpus_tokenizer_fixture: no tokenizers/transformers; make build/pyvenv with: "
                 "python3 scripts/gen_tokenizer_fixtures.py --setup")
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import gen_tokenizer_fixtures as g  # noqa: E402


def main():
    data = os.environ.get("HUB_DATA", os.path.join(ROOT, "build", "data"))
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=os.path.join(data, "corpus", "heldout.txt"))
    ap.add_argument("--vocab", default=os.path.join(ROOT, "modules", "ernie-tiny-zh", "vocab.txt"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "corpus_tokenizer_expected.json"))
    args = ap.parse_args()

    with open(args.vocab, "rb") as f:
        vocab_sha = hashlib.sha256(f.read()).hexdigest()
    fast = g.fast_tokenizer(args.vocab, True, None)
    slow = g.SlowBert(vocab_file=args.vocab, do_lower_case=True)
    unk_id = fast.convert_tokens_to_ids("[UNK]")

    with open(args.corpus, "rb") as f:
        raw = f.read().split(b"\n")
    rows, texts = [], []
    for i, line in enumerate(raw):
        if line:
            rows.append((i + 1, line))
            texts.append(line.decode("utf-8"))
    enc = fast(texts, add_special_tokens=False, return_offsets_mapping=True)
    out, differ, unk = [], 0, 0
    for k, ((ln, line), text) in enumerate(zip(rows, texts)):
        ids = enc["input_ids"][k]
        unk += sum(1 for t in ids if t == unk_id)
        if slow(text, add_special_tokens=False)["input_ids"] != ids:
            differ += 1
        row = [ln, hashlib.sha1(line).hexdigest(), g.spaced(ids)]
        if k % 10 == 0:
            e = fast(text, max_length=64, truncation=True, padding="max_length")
            row.append({"offsets": g.flat_offsets(enc["offset_mapping"][k]),
                        "encode64": [g.spaced(e["input_ids"]), g.spaced(e["attention_mask"])]})
        out.append(row)
    tokens = sum(len(x) for x in enc["input_ids"])
    print("%d lines, %d tokens, %d [UNK]; the Python BertTokenizer differs on %d lines" % (len(out), tokens, unk, differ))
    doc = {
        "about": "BertTokenizerFast (lower-cased) with modules/ernie-tiny-zh/vocab.txt on the held-out corpus; "
                 "made by scripts/gen_corpus_tokenizer_fixture.py",
        "versions": {"transformers": __import__("transformers").__version__,
                     "tokenizers": __import__("tokenizers").__version__},
        "vocab_sha256": vocab_sha,
        "corpus": "heldout.txt",
        "tokens": tokens, "unk": unk, "slow_differs": differ,
    }
    parts = ['"%s": %s' % (k, json.dumps(v, ensure_ascii=False)) for k, v in doc.items()]
    parts.append('"lines": [\n%s\n]' % ",\n".join("  " + json.dumps(r, ensure_ascii=False) for r in out))
    g.write_atomic(args.out, "{\n" + ",\n".join(parts) + "\n}\n")
    print("wrote %s (%d bytes)" % (args.out, os.path.getsize(args.out)))


if __name__ == "__main__":
    main()
