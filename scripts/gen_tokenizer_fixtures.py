#!/usr/bin/env python3
"""gen_tokenizer_fixtures.py: Hugging Face's BERT tokenizers as the reference for hubrun's.

    scripts/fetch-text.sh                                  # the corpus, into build/data/text
    python3 scripts/gen_tokenizer_fixtures.py [--train-vocab]

Runs in the virtual environment build/pyvenv (created here, with pinned `tokenizers` and
`transformers` from PyPI, when the current Python lacks them; both are pure CPU, no torch);
--setup only makes that environment (bench/tokenizer/run.sh uses it).

--train-vocab trains tests/fixtures/vocab_zh.txt: an 8,000-token lower-cased WordPiece
vocabulary (HF's BertWordPieceTokenizer trainer, every character of the corpus in the alphabet,
min frequency 2) on the three corpus files.  It is the project's own artefact, small enough to
commit, and can serve the project's own Chinese ERNIE.  Training is not bit-reproducible (the
Rust trainer breaks frequency ties in hash-map order, so ids move between runs): the committed
file is the reference, and retraining it means regenerating the fixture in the same run.

Then it writes tests/fixtures/tokenizer_expected.json, the golden data of
tests/lua/test_tokenizer.lua:
  lines    4,000 lines of each corpus file (12,000), evenly spaced through the file, as
           [file, line number, sha1 of the line, ids] (ids space-separated, no specials), from
           BertTokenizerFast (lower-cased).  Every 24th line (500) also has
           offsets (start end ...), the pair (this line, the next selected line) encoded with
           max_length 32, truncation longest_first and padding max_length (ids, token types,
           attention mask, offsets), and the decoded text of its [CLS] ... [SEP] encoding with
           and without skip_special_tokens.
  cases    hand-written edge cases (accents, Hangul, controls, CJK ranges, special tokens in
           text, words over 100 characters ...) under four settings (lower, cased,
           cased + strip_accents, lower without strip) and two vocabularies: ids and offsets.
  trunc    every pair length n1, n2 in 0..10 and max_length up to 16 with longest_first,
           only_first and only_second: the kept lengths, or -1 where HF raises.
  decode   random id sequences of the edge vocabulary and their decoded text.
Only sums, ids and our own strings are stored; the corpus itself is never committed.

The slow Python tokenizer (BertTokenizerLegacy in transformers 5, BertTokenizer in 4) runs on
the same lines; disagreements with the fast one are reported and counted in the fixture (the
fast one is the reference: it is what BertTokenizerFast users and offsets get).
"""
import argparse
import hashlib
import json
import os
import random
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "build", "pyvenv")
PINS = ["tokenizers==0.23.3", "transformers==5.24.0"]
FILES = ["manpages-zh.txt", "debian-reference-zh-cn.txt", "debian-reference-en.txt"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def bootstrap():
    try:
        import tokenizers  # noqa: F401
        import transformers  # noqa: F401
        return
    except ImportError:
        pass
    py = os.path.join(VENV, "bin", "python")
    if os.path.abspath(sys.prefix) == os.path.abspath(VENV):
        sys.exit("gen_tokenizer_fixtures: %s lacks tokenizers/transformers; run %s -m pip install %s"
                 % (VENV, py, " ".join(PINS)))
    if not os.path.exists(py):
        print("gen_tokenizer_fixtures: creating %s" % VENV, file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    subprocess.check_call([py, "-m", "pip", "install", "-q"] + PINS)
    os.execv(py, [py, os.path.abspath(__file__)] + sys.argv[1:])


bootstrap()
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
import warnings  # noqa: E402

warnings.filterwarnings("ignore")
import transformers  # noqa: E402

transformers.logging.set_verbosity_error()
from transformers import BertTokenizerFast  # noqa: E402

try:  # transformers 5: BertTokenizer is the fast one; the Python one is kept as Legacy
    from transformers.models.bert.tokenization_bert_legacy import BertTokenizerLegacy as SlowBert
except ImportError:  # transformers 4
    from transformers import BertTokenizer as SlowBert


def read_vocab(path):
    vocab = {}
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            vocab[line.rstrip("\n")] = i
    return vocab


def fast_tokenizer(vocab_path, lower=True, strip=None):
    if int(transformers.__version__.split(".")[0]) >= 5:
        return BertTokenizerFast(vocab=read_vocab(vocab_path), do_lower_case=lower, strip_accents=strip)
    return BertTokenizerFast(vocab_file=vocab_path, do_lower_case=lower, strip_accents=strip)


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def train_vocab(data, path, size):
    from tokenizers import BertWordPieceTokenizer
    import tempfile
    tok = BertWordPieceTokenizer(clean_text=True, handle_chinese_chars=True, strip_accents=None,
                                 lowercase=True)
    tok.train([os.path.join(data, f) for f in FILES], vocab_size=size, min_frequency=2,
              limit_alphabet=100000, special_tokens=SPECIALS, show_progress=False)
    with tempfile.TemporaryDirectory() as d:
        tok.save_model(d)
        with open(os.path.join(d, "vocab.txt"), encoding="utf-8") as f:
            text = f.read()
    write_atomic(path, text)
    print("vocab: %d tokens in %s" % (text.count("\n"), path))


def select_lines(data, per_file):
    out = []
    for fi, name in enumerate(FILES):
        path = os.path.join(data, name)
        if not os.path.exists(path):
            sys.exit("gen_tokenizer_fixtures: %s is missing: run scripts/fetch-text.sh" % path)
        with open(path, "rb") as f:
            lines = f.read().split(b"\n")
        if lines and lines[-1] == b"":
            lines.pop()
        n = len(lines)
        idx = sorted(set(i * n // per_file for i in range(min(per_file, n))))
        for i in idx:
            out.append((fi, i + 1, lines[i]))
    return out


def spaced(xs):
    return " ".join(str(int(x)) for x in xs)


def flat_offsets(offs):
    return " ".join("%d %d" % (s, e) for s, e in offs)


# Hand-written edge cases (ours to commit).
CASES = [
    "Hello [MASK] world", "a[MASK]b", "[mask] x", "[UNK][CLS]", "[SEP]", "[[MASK]]", "[CLS",
    "Café naïve ÉCOLE", "e\u0301cole", "한국어 한", "İstanbul ıi", "ΟΔΟΣ Σοφία", "Привет, мир!",
    "a\u2028b\u2029c", "x\u00a0y\u3000z\u1680w\u2007v\u202fu\u205ft", "ab\x01cd\x7fe",
    "x\x0bx\x0cx\x1cx\x85x", "\u200bzero\u200dwidth\ufeff", "a\u00adb", "x\ue000x\U000f0000x",
    "x\u0378x", "豈 F900 丽", "ﬁle ①② ａｂｃ１２３", "😀 emoji👍🏽!", "日本語テキスト、カタカナ",
    "tab\there\nnl\r\nend", "a\ufffdb", "don't stop. It's a dog's life, isn't it?",
    "\u4e00\u9fff\u3400\u4dbf\U00020000\U0002a6df\U0002a700\U0002b73f\U0002b740\U0002b81f",
    "a\U0002b820a\U0002b91fa\U0002b920a\U0002ceafa\U0002f800a\U0002fa1fa\U00031350a",
    "x" * 100, "y" * 101, "ab" * 60 + " cd", "。，、；：？！“”‘’（）【】《》—…",
    "\u037e;\u0387", "A\u0301\u0327 \u1e9e \u00df \u01c5", "  leading and trailing  ", "", " ",
    "中文English混合text，带标点。", "http://example.com/a_b-c?d=e&f=g#h", "$100 + 50% = ~150€",
    "ﾊﾝｶｸ ｶﾀｶﾅ", "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
]

# No token twice: hubrun's loader refuses duplicates (HF would keep the later id).
EDGE_VOCAB = SPECIALS + [
    "a", "b", "c", "e", "i", "x", "y", "z", "w", "v", "u", "t", "s", "o", "##a", "##b", "##c",
    "##e", "##x", "##s", "ab", "##ab", "##\u0301", "##\u0307", "##\u0327", "\u1100", "\u1112",
    "##\u1161", "##\u11ab", "\u1112\u1161", "is", "##tan", "##bul", "Ab", "##B", "cole", "##cole",
    "ca", "##fe", "na", "##ive", ".", ",", "'", "?", "!", "n", "##t", "don", "it",
    "\u4e00", "\u8c48", "\u4e3d", "f", "##9", "##00", "A", "\u00e9", "\u00c9", "E", "\u0399", "\u03b9",
    "[", "]", "mask", "hello", "world", "zero", "##width", "end", "here", "tab", "nl", "\u03c3",
    "\u03c2", "\u03bf", "##\u03b4", "\u03bf\u03b4\u03bf\u03c3", "\u00df", "ss",
]


def run_cases(fast_by_cfg, slow_by_cfg):
    out, differ = [], 0
    for (vname, lower, strip), tok in fast_by_cfg.items():
        slow = slow_by_cfg[(vname, lower, strip)]
        for text in CASES:
            e = tok(text, add_special_tokens=False, return_offsets_mapping=True)
            s = slow(text, add_special_tokens=False)
            if s["input_ids"] != e["input_ids"]:
                differ += 1
            out.append({"vocab": vname, "lower": lower, "strip": strip, "text": text,
                        "ids": spaced(e["input_ids"]), "offsets": flat_offsets(e["offset_mapping"])})
    return out, differ


def run_trunc(tok):
    rows = []
    for strategy in ["longest_first", "only_first", "only_second"]:
        for n1 in range(0, 11):
            for n2 in range(-1, 11):  # -1: no pair
                for L in range(2 if n2 < 0 else 3, 17):
                    a = " ".join(["a"] * n1)
                    b = None if n2 < 0 else " ".join(["b"] * n2)
                    try:  # as a batch: a single call would take the pair "" for no pair
                        e = tok([a], None if b is None else [b], max_length=L,
                                truncation=strategy, padding=False)
                        ids = e["input_ids"][0]
                        k1 = sum(1 for t in ids if t == tok.convert_tokens_to_ids("a"))
                        k2 = sum(1 for t in ids if t == tok.convert_tokens_to_ids("b"))
                    except Exception:
                        k1 = k2 = -1
                    if n2 < 0:
                        k2 = -1 if k1 < 0 else 0
                    rows.append("%s %d %d %d %d %d" % (strategy, n1, n2, L, k1, k2))
    return ";".join(rows)


def run_decode(tok, vocab_tokens, rng):
    out = []
    for _ in range(60):
        ids = [rng.randrange(len(vocab_tokens)) for _ in range(rng.randrange(0, 12))]
        out.append([spaced(ids), tok.decode(ids, skip_special_tokens=True),
                    tok.decode(ids, skip_special_tokens=False)])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(os.environ.get("HUB_DATA", os.path.join(ROOT, "build", "data")), "text"))
    ap.add_argument("--vocab", default=os.path.join(ROOT, "tests", "fixtures", "vocab_zh.txt"))
    ap.add_argument("--out", default=os.path.join(ROOT, "tests", "fixtures", "tokenizer_expected.json"))
    ap.add_argument("--train-vocab", action="store_true")
    ap.add_argument("--setup", action="store_true", help="only create build/pyvenv")
    ap.add_argument("--vocab-size", type=int, default=8000)
    ap.add_argument("--per-file", type=int, default=4000)
    args = ap.parse_args()
    if args.setup:
        print("gen_tokenizer_fixtures: %s has transformers %s" % (sys.prefix, transformers.__version__))
        return

    if args.train_vocab:
        train_vocab(args.data, args.vocab, args.vocab_size)
    fast = fast_tokenizer(args.vocab)
    slow = SlowBert(vocab_file=args.vocab, do_lower_case=True)

    selected = select_lines(args.data, args.per_file)
    lines, differ, examples = [], 0, []
    texts = [raw.decode("utf-8") for _, _, raw in selected]
    enc = fast(texts, add_special_tokens=False, return_offsets_mapping=True)
    pair_differ = 0
    for k, ((fi, ln, raw), text) in enumerate(zip(selected, texts)):
        ids = enc["input_ids"][k]
        sids = slow(text, add_special_tokens=False)["input_ids"]
        if sids != ids:
            differ += 1
            if len(examples) < 20:
                examples.append("%s:%d" % (FILES[fi], ln))
        row = [fi, ln, hashlib.sha1(raw).hexdigest(), spaced(ids)]
        if k % 24 == 0:
            nxt = (k + 1) % len(texts)
            p = fast(text, texts[nxt], max_length=32, truncation="longest_first",
                     padding="max_length", return_offsets_mapping=True)
            sp = slow(text, texts[nxt], max_length=32, truncation="longest_first", padding="max_length")
            if sp["input_ids"] != p["input_ids"]:
                pair_differ += 1
            full = fast(text)["input_ids"]
            row.append({"offsets": flat_offsets(enc["offset_mapping"][k]), "next": nxt,
                        "pair": [spaced(p["input_ids"]), spaced(p["token_type_ids"]),
                                 spaced(p["attention_mask"]), flat_offsets(p["offset_mapping"])],
                        "decode": [fast.decode(full, skip_special_tokens=True),
                                   fast.decode(full, skip_special_tokens=False)]})
        lines.append(row)
    n_pairs = sum(1 for r in lines if len(r) > 4)
    print("corpus: %d lines; BertTokenizerFast and the Python BertTokenizer agree on %d, differ on %d %s"
          % (len(lines), len(lines) - differ, differ, " ".join(examples)))
    print("pairs (max_length 32, longest_first): %d; the two differ on %d (truncation rules differ)"
          % (n_pairs, pair_differ))

    import tempfile
    with tempfile.TemporaryDirectory() as d:
        edge_path = os.path.join(d, "vocab.txt")
        write_atomic(edge_path, "\n".join(EDGE_VOCAB) + "\n")
        cfgs = [(True, None), (False, None), (False, True), (True, False)]
        fast_by, slow_by = {}, {}
        for vname, vpath in [("main", args.vocab), ("edge", edge_path)]:
            for lower, strip in cfgs:
                fast_by[(vname, lower, strip)] = fast_tokenizer(vpath, lower, strip)
                slow_by[(vname, lower, strip)] = SlowBert(vocab_file=vpath, do_lower_case=lower, strip_accents=strip)
        cases, case_differ = run_cases(fast_by, slow_by)
        print("cases: %d; the Python tokenizer differs on %d" % (len(cases), case_differ))
        edge = fast_by[("edge", True, None)]
        trunc = run_trunc(edge)
        decode = run_decode(edge, EDGE_VOCAB, random.Random(7))

    doc = {
        "about": "Expected BERT WordPiece tokenization from Hugging Face BertTokenizerFast; made by "
                 "scripts/gen_tokenizer_fixtures.py from the text of scripts/fetch-text.sh",
        "versions": {"transformers": transformers.__version__,
                     "tokenizers": __import__("tokenizers").__version__},
        "vocab": os.path.relpath(args.vocab, os.path.join(ROOT, "tests")),
        "files": FILES,
        "agreement": {"lines": len(lines), "slow_differs": differ, "slow_differs_at": examples,
                      "pairs": n_pairs, "slow_pairs_differ": pair_differ,
                      "cases": len(cases), "slow_cases_differ": case_differ},
        "edge_vocab": EDGE_VOCAB,
        "cases": cases,
        "trunc": trunc,
        "decode": decode,
        "lines": lines,
    }
    parts = []
    for k, v in doc.items():
        if k in ("lines", "cases", "decode"):
            body = ",\n".join("  " + json.dumps(x, ensure_ascii=False) for x in v)
            parts.append('"%s": [\n%s\n]' % (k, body))
        else:
            parts.append('"%s": %s' % (k, json.dumps(v, ensure_ascii=False)))
    write_atomic(args.out, "{\n" + ",\n".join(parts) + "\n}\n")
    print("wrote %s (%d bytes)" % (args.out, os.path.getsize(args.out)))


if __name__ == "__main__":
    main()
