#!/usr/bin/env python3
"""gen_lac_fixture.py - expected LAC outputs for real sentences, from the Python reference.

Runs shared/reference/lac_ref.py (an independent, pure-Python implementation of LAC-small; it is
called by path, never copied) on sentences of Debian's debian-reference-zh-cn book and writes
tests/fixtures/lac_ref.json.  The corpus itself is not stored: each sentence is identified by
the SHA-1 of its UTF-8 bytes, with its expected segmentation as word lengths (in characters)
and word tags, so tests/lua/test_lac.lua re-derives the sentences from the text it fetched
(scripts/fetch-lac.sh) and the words from the lengths.

  scripts/fetch-lac.sh                      # weights and text into build/data
  scripts/gen_lac_fixture.py [--ref PATH] [--lac DIR] [--text FILE] [--count 240] [--jobs 2] [--out FILE]

Sentences (the test repeats steps 1-3 exactly, in Lua):
  1. the text is split into lines at "\\n"; a paragraph is a maximal run of lines that are not
     blank after stripping ASCII whitespace (space, \\t, \\r, \\f, \\v);
  2. the stripped lines of a paragraph are joined with a space when both sides of the join are
     ASCII, else with nothing (the book wraps Chinese text anywhere);
  3. a paragraph is cut after every 。！？； and each piece is stripped of ASCII whitespace;
  4. kept: 8..50 characters, at least half of them Han (U+4E00..U+9FFF), no '|' (tables), first
     occurrence only; then every k-th of them, k = len // count, up to count sentences.
lac_ref.py is slow (about 0.1 s per character), so the sentences are spread over --jobs
processes; 240 sentences take a few minutes.
"""
import argparse
import hashlib
import json
import multiprocessing
import os
import runpy
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("HUB_DATA") or os.path.join(REPO, "build", "data")
LAC_REL = "jieba/usr/lib/python3/dist-packages/jieba/lac_small"
TEXT_REL = "debian-reference-zh-cn/debian-reference.zh-cn.txt"
WS = " \t\r\f\v"
ENDS = "。！？；"


def candidates(text):
    """Steps 1-3: every sentence piece of the text, in order."""
    paras, cur = [], []
    for line in text.split("\n"):
        s = line.strip(WS)
        if s:
            cur.append(s)
        elif cur:
            paras.append(cur)
            cur = []
    if cur:
        paras.append(cur)
    out = []
    for lines in paras:
        p = lines[0]
        for s in lines[1:]:
            p += (" " if ord(p[-1]) < 128 and ord(s[0]) < 128 else "") + s
        piece = ""
        for ch in p:
            piece += ch
            if ch in ENDS:
                out.append(piece.strip(WS))
                piece = ""
        if piece.strip(WS):
            out.append(piece.strip(WS))
    return out


def select(text, count):
    seen, kept = set(), []
    for s in candidates(text):
        han = sum(1 for ch in s if "\u4e00" <= ch <= "\u9fff")
        if 8 <= len(s) <= 50 and 2 * han >= len(s) and "|" not in s and s not in seen:
            seen.add(s)
            kept.append(s)
    k = max(1, len(kept) // count)
    return kept[::k][:count]


_lac = None


def _init(ref, lac_dir):
    global _lac
    saved = sys.argv
    sys.argv = [ref, lac_dir]          # lac_ref.py loads the weights and defines lac()
    try:
        _lac = runpy.run_path(ref)["lac"]
    finally:
        sys.argv = saved


def _run(s):
    words = _lac(s)
    return [len(w) for w, _ in words], [t for _, t in words]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ref", default=os.path.join(REPO, "..", "shared", "reference", "lac_ref.py"))
    ap.add_argument("--lac", default=os.path.join(DATA, LAC_REL))
    ap.add_argument("--text", default=os.path.join(DATA, TEXT_REL))
    ap.add_argument("--count", type=int, default=240)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "lac_ref.json"))
    a = ap.parse_args()
    for p, what in ((a.ref, "--ref"), (a.lac, "--lac"), (a.text, "--text")):
        if not os.path.exists(p):
            sys.exit("gen_lac_fixture: %s %s not found (run scripts/fetch-lac.sh)" % (what, p))
    with open(a.text, encoding="utf-8") as f:
        sents = select(f.read(), a.count)
    known = ["百度是一家高科技公司", "2019年国庆节我在上海参加了华为发布会"]
    with multiprocessing.Pool(a.jobs, _init, (a.ref, a.lac)) as pool:
        res = pool.map(_run, known + sents, chunksize=1)
    items = []
    for s, (lens, tags) in zip(known + sents, res):
        assert sum(lens) == len(s), s
        items.append({"sha1": hashlib.sha1(s.encode("utf-8")).hexdigest(), "chars": len(s),
                      "words": lens, "tags": tags})
    doc = {
        "about": "expected LAC-small segmentations from shared/reference/lac_ref.py, written by "
                 "scripts/gen_lac_fixture.py; sentences of debian-reference-zh-cn (identified by "
                 "sha1, text not stored); 'known' are DATA.md's two examples",
        "source": "debian-reference-zh-cn: usr/share/debian-reference/debian-reference.zh-cn.txt.gz",
        "known": [{"text": s, **it} for s, it in zip(known, items[:2])],
        "sentences": items[2:],
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:  # one sentence per line, for readable diffs
        head = json.dumps({k: v for k, v in doc.items() if k != "sentences"}, ensure_ascii=False)
        f.write(head[:-1] + ',\n"sentences": [\n')
        f.write(",\n".join(json.dumps(it, ensure_ascii=False) for it in items[2:]))
        f.write("\n]}\n")
    os.replace(tmp, a.out)
    print("gen_lac_fixture: %d sentences (%d characters) -> %s" % (len(sents), sum(len(s) for s in sents), a.out))


if __name__ == "__main__":
    main()
