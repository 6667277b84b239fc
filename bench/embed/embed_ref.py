#!/usr/bin/env python3
"""bench/embed/embed_ref.py - the sentences of bench/embed, and all-MiniLM-L6-v2's sentence
vectors in sentence-transformers (PyTorch) and ONNX Runtime.

  PY bench/embed/embed_ref.py --sentences OUT --text debian-reference-en.txt [--count 2000]
  PY bench/embed/embed_ref.py --what st|ort --model DIR --input SENTENCES [--batch 32]
      [--threads T] [--repeat R] [--clock wall|cpu] [--save VEC.npy] [--onnx PATH] [--reexport]

PY is a Python with sentence-transformers, torch, onnxruntime and onnx (bench/embed/run.sh uses
$HUB_DATA/venv-st, made there when missing).

--sentences: real English sentences out of the Debian Reference (scripts/fetch-text.sh's
  text/debian-reference-en.txt, one trimmed line per line): the lines joined with spaces, cut
  after '.', '!' or '?' followed by a space and a capital letter, stripped; kept when 3 words or
  more and 20-1000 characters, and not of 8 words or fewer ending in a section number
  ('About this document 3.1.': the table of contents); first occurrence only; the first COUNT in book order, one per line.
--what st: SentenceTransformer(DIR, device="cpu").encode(sentences, batch_size=B) (which sorts
  by length and pads each batch to its longest), torch.set_num_threads(T).
--what ort: the model's Transformer (BertModel) exported by torch.onnx.export (opset 17; batch
  and sequence dynamic; inputs input_ids, attention_mask, token_type_ids; output the last
  hidden state) to --onnx (default build/bench/minilm.onnx, reused unless --reexport), run by an
  onnxruntime.InferenceSession (intra_op_num_threads T, inter_op 1, sequential,
  ORT_ENABLE_ALL); the same tokenizer (the model's fast tokenizer, max_seq_length 256), the same
  length-sorted batches padded to their longest, mean pooling over the mask and L2
  normalisation in NumPy: the vectors sentence-transformers gives.
Each run encodes all sentences R times (default 3) after one warm-up pass over the first 2
batches, and prints
  result impl=st|ort sents=N median_s=.. min_s=.. max_s=.. per_s=.. wall_s=.. cpu_s=.. threads=T batch=B
(per_s = sentences per second at the median; --clock cpu times by process CPU time / T), then
'#' lines (versions).  --save writes the vectors (float32 [N, D]) as .npy for run.sh's check.
"""
import os
import re
import statistics
import sys
import time


def make_sentences(text_path, out, count):
    with open(text_path, encoding="utf-8") as f:
        stream = " ".join(line.strip() for line in f)
    seen, keep = set(), []
    for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", stream):
        s = s.strip()
        if len(s.split()) < 3 or not (20 <= len(s) <= 1000) or s in seen or (re.search(r"\d\.$", s) and len(s.split()) <= 8):
            continue
        seen.add(s)
        keep.append(s)
        if len(keep) == count:
            break
    if len(keep) < count:
        sys.exit("embed_ref.py: only %d sentences in %s" % (len(keep), text_path))
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(keep) + "\n")
    lens = sorted(len(s) for s in keep)
    print("# %d sentences, %d-%d characters (median %d) -> %s" % (len(keep), lens[0], lens[-1], lens[len(lens) // 2], out))


def parse():
    o = dict(what=None, model=None, input=None, batch=32, threads=int(os.environ.get("HUB_THREADS", "2") or 2),
             repeat=3, clock="wall", save=None, onnx=None, reexport=False, sentences=None, text=None, count=2000)
    conv = {"--what": ("what", str), "--model": ("model", str), "--input": ("input", str), "--batch": ("batch", int),
            "--threads": ("threads", int), "--repeat": ("repeat", int), "--clock": ("clock", str),
            "--save": ("save", str), "--onnx": ("onnx", str), "--sentences": ("sentences", str),
            "--text": ("text", str), "--count": ("count", int)}
    a = sys.argv[1:]
    i = 0
    while i < len(a):
        if a[i] in ("-h", "--help"):
            print(__doc__)
            sys.exit(0)
        if a[i] == "--reexport":
            o["reexport"] = True
            i += 1
            continue
        if a[i] not in conv or i + 1 >= len(a):
            sys.exit("embed_ref.py: bad option %s (see --help)" % a[i])
        k, f = conv[a[i]]
        o[k] = f(a[i + 1])
        i += 2
    return o


def timed(fn, o):
    def clock():
        return time.perf_counter(), time.process_time()
    fn(warm=True)
    walls, cpus, out = [], [], None
    for _ in range(o["repeat"]):
        w0, c0 = clock()
        out = fn(warm=False)
        w1, c1 = clock()
        walls.append(w1 - w0)
        cpus.append((c1 - c0) / o["threads"])
    xs = walls if o["clock"] == "wall" else cpus
    return out, xs, walls, cpus


def main():
    o = parse()
    if o["sentences"]:
        if not o["text"]:
            sys.exit("embed_ref.py: --sentences needs --text debian-reference-en.txt")
        make_sentences(o["text"], o["sentences"], o["count"])
        return 0
    if o["what"] not in ("st", "ort") or not o["model"] or not o["input"] or o["clock"] not in ("wall", "cpu"):
        sys.exit("embed_ref.py: --what st|ort --model DIR --input FILE [--clock wall|cpu] (see --help)")
    import numpy as np
    import torch
    torch.set_num_threads(o["threads"])
    with open(o["input"], encoding="utf-8") as f:
        sents = [line.rstrip("\n") for line in f if line.strip()]
    from sentence_transformers import SentenceTransformer
    st = SentenceTransformer(o["model"], device="cpu")
    B = o["batch"]
    versions = "torch %s, sentence-transformers %s" % (torch.__version__, __import__("sentence_transformers").__version__)

    if o["what"] == "st":
        def run(warm):
            return st.encode(sents[:2 * B] if warm else sents, batch_size=B, convert_to_numpy=True)
    else:
        import onnxruntime as ort
        here = os.path.dirname(os.path.abspath(__file__))
        path = o["onnx"] or os.path.join(os.path.dirname(os.path.dirname(here)), "build", "bench", "minilm.onnx")
        if o["reexport"] or not os.path.exists(path):
            os.makedirs(os.path.dirname(path), exist_ok=True)
            bert = st[0].auto_model.eval()

            class Wrap(torch.nn.Module):
                def __init__(self, m):
                    super().__init__()
                    self.m = m

                def forward(self, input_ids, attention_mask, token_type_ids):
                    return self.m(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state

            ex = st.tokenizer(["an example sentence", "two"], padding=True, return_tensors="pt")
            axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                    "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}}
            tmp = path + ".tmp"
            with torch.no_grad():
                torch.onnx.export(Wrap(bert), (ex["input_ids"], ex["attention_mask"], ex["token_type_ids"]), tmp,
                                  input_names=["input_ids", "attention_mask", "token_type_ids"],
                                  output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17,
                                  dynamo=False)
            os.replace(tmp, path)
            print("# exported %s" % path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = o["threads"]
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if o["clock"] == "cpu":
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
        tok = st.tokenizer
        max_len = st.max_seq_length
        versions += ", onnxruntime %s" % ort.__version__

        def encode(texts):
            lens = [len(x) for x in tok(texts, truncation=True, max_length=max_len)["input_ids"]]
            order = sorted(range(len(texts)), key=lambda k: -lens[k])
            out = np.zeros((len(texts), 384), dtype=np.float32)
            for s in range(0, len(texts), B):
                idx = order[s:s + B]
                e = tok([texts[k] for k in idx], truncation=True, max_length=max_len, padding="longest", return_tensors="np")
                h = sess.run(None, {"input_ids": e["input_ids"].astype(np.int64),
                                    "attention_mask": e["attention_mask"].astype(np.int64),
                                    "token_type_ids": e["token_type_ids"].astype(np.int64)})[0]
                m = e["attention_mask"].astype(np.float32)[:, :, None]
                v = (h * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
                v = v / np.clip(np.linalg.norm(v, axis=1, keepdims=True), 1e-12, None)
                out[idx] = v
            return out

        def run(warm):
            return encode(sents[:2 * B] if warm else sents)

    vec, xs, walls, cpus = timed(run, o)
    med = statistics.median(xs)
    print("result impl=%s sents=%d median_s=%.3f min_s=%.3f max_s=%.3f per_s=%.1f wall_s=%.3f cpu_s=%.3f threads=%d batch=%d"
          % (o["what"], len(sents), med, min(xs), max(xs), len(sents) / med, statistics.median(walls),
             statistics.median(cpus), o["threads"], B))
    print("# %s: %s" % (o["what"], versions))
    if o["save"]:
        np.save(o["save"], np.asarray(vec, dtype=np.float32))
    return 0


if __name__ == "__main__":
    sys.exit(main())
