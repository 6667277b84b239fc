"""bench_tokenizer_hf.py: Hugging Face tokenizers (Rust) WordPiece throughput, single thread.

    TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 python bench_tokenizer_hf.py VOCAB FILE... [--rounds N]

The same measures as bench_tokenizer.lua, on the same lines and vocabulary, with
tokenizers.BertWordPieceTokenizer(vocab, lowercase=True) (the Rust tokenizer behind
BertTokenizerFast: BertNormalizer, BertPreTokenizer, WordPiece):
  tokenize        encode_batch(all lines, add_special_tokens=False): one call, so Python's
                  per-call cost is paid once; run.sh sets TOKENIZERS_PARALLELISM=false (and
                  RAYON_NUM_THREADS=1), which makes encode_batch run on one thread
  tokenize/fast   encode_batch_fast(all lines): the same without offsets (HF's fastest path)
  tokenize/line   encode(line, add_special_tokens=False) per line: a batch of 1, as a Python
                  program that tokenizes one text at a time sees it (Python call cost included)
  encode          encode_batch on batches of 32 lines with truncation and padding to 128
MB/s counts the UTF-8 bytes of the lines; best of N rounds of process CPU time.
"""
import os
import sys
import time

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("RAYON_NUM_THREADS", "1")
import tokenizers  # noqa: E402
from tokenizers import BertWordPieceTokenizer  # noqa: E402


def main():
    args, rounds = [], 5
    it = iter(sys.argv[1:])
    for a in it:
        if a == "--rounds":
            rounds = int(next(it))
        else:
            args.append(a)
    vocab, files = args[0], args[1:]
    lines = []
    for f in files:
        with open(f, encoding="utf-8") as fh:
            lines.extend(fh.read().split("\n"))
        if lines and lines[-1] == "":
            lines.pop()
    nbytes = sum(len(s.encode("utf-8")) for s in lines)

    tok = BertWordPieceTokenizer(vocab, lowercase=True)

    def best(fn):
        fn()
        t, r = float("inf"), None
        for _ in range(rounds):
            t0 = time.process_time()
            r = fn()
            t = min(t, time.process_time() - t0)
        return t, r

    def tokenize_batch():
        return sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))

    def tokenize_fast():
        return sum(len(e.ids) for e in tok._tokenizer.encode_batch_fast(lines, add_special_tokens=False))

    def tokenize_lines():
        n = 0
        for s in lines:
            n += len(tok.encode(s, add_special_tokens=False).ids)
        return n

    enc = BertWordPieceTokenizer(vocab, lowercase=True)
    enc.enable_truncation(128)
    enc.enable_padding(length=128)

    def encode_batches():
        rows = 0
        for k in range(0, len(lines), 32):
            rows += len(enc.encode_batch(lines[k:k + 32]))
        return rows

    for name, fn in [("tokenize", tokenize_batch), ("tokenize/fast", tokenize_fast),
                     ("tokenize/line", tokenize_lines), ("encode", encode_batches)]:
        t, r = best(fn)
        print("hf %s %.2f MB/s %d lines %d bytes %s %.3f s tokenizers %s" % (
            name, nbytes / t / 1e6, len(lines), nbytes, r, t, tokenizers.__version__))


if __name__ == "__main__":
    main()
