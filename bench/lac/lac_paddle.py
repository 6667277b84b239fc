#!/usr/bin/env python3
"""lac_paddle.py - LAC-small through PaddlePaddle's own inference, for bench/lac/run.sh.

Builds the network of jieba/lac_small/nets.py with Paddle's own operators in a static program
(lookup_table, mul + elementwise_add for fluid's fc, gru - dynamic_gru's operator - and
crf_decoding), loads the parameter files with Paddle's own loader (paddle.static.io.load_vars)
and runs LoD batches of the texts on the CPU executor.  Paddle >= 2.6 no longer ships
fluid.layers.dynamic_gru, so the operators are appended directly; they are the ones
fluid.layers used.  Prints characters per second and writes the tag ids of every character
(one line per text, space-separated) for run.sh to compare with hubrun's.

  lac_paddle.py LAC_DIR TEXTS.txt --threads N --batch B --repeat R --tags OUT.txt
"""
import argparse
import os
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("lac")
    ap.add_argument("texts")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tags")
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", str(a.threads))
    import numpy as np
    import paddle
    from paddle.base import core
    from paddle.base.layer_helper import LayerHelper

    paddle.enable_static()
    if hasattr(core, "set_num_threads"):
        core.set_num_threads(a.threads)
    w2i = {}
    for line in open(os.path.join(a.lac, "word.dic"), encoding="utf-8"):
        t = line.rstrip("\n").split("\t")
        if len(t) == 2:
            w2i[t[1]] = int(t[0])
    oov = w2i["OOV"]
    texts = [l.rstrip("\n") for l in open(a.texts, encoding="utf-8")]
    texts = [t for t in texts if t]

    main_prog, startup = paddle.static.Program(), paddle.static.Program()
    with paddle.static.program_guard(main_prog, startup):
        block = main_prog.global_block()
        helper = LayerHelper("lac")

        def param(name, shape, dtype="float32"):
            return block.create_parameter(name=name, shape=shape, dtype=dtype)

        def var(dtype="float32"):
            return helper.create_variable_for_type_inference(dtype)

        words = paddle.static.data("words", [-1, 1], dtype="int64", lod_level=1)
        emb = var()
        helper.append_op(type="lookup_table", inputs={"Ids": words, "W": param("word_emb", [20941, 128])},
                         outputs={"Out": emb}, attrs={"is_sparse": False, "padding_idx": -1})

        def fc(x, i, din, dout):
            y, z = var(), var()
            helper.append_op(type="mul", inputs={"X": x, "Y": param("fc_%d.w_0" % i, [din, dout])}, outputs={"Out": y},
                             attrs={"x_num_col_dims": 1, "y_num_col_dims": 1})
            helper.append_op(type="elementwise_add", inputs={"X": y, "Y": param("fc_%d.b_0" % i, [dout])},
                             outputs={"Out": z}, attrs={"axis": 1})
            return z

        def gru(x, i, rev):
            outs = {k: var() for k in ("BatchGate", "BatchResetHiddenPrev", "BatchHidden", "Hidden")}
            helper.append_op(type="gru", inputs={"Input": x, "Weight": param("gru_%d.w_0" % i, [128, 384]),
                                                 "Bias": param("gru_%d.b_0" % i, [1, 384])},
                             outputs=outs, attrs={"is_reverse": rev, "gate_activation": "sigmoid",
                                                  "activation": "tanh", "origin_mode": False})
            return outs["Hidden"]

        x, din = emb, 128
        for L in (0, 2):
            f = gru(fc(x, L, din, 384), L, False)
            r = gru(fc(x, L + 1, din, 384), L + 1, True)
            c = var()
            helper.append_op(type="concat", inputs={"X": [f, r]}, outputs={"Out": c}, attrs={"axis": 1})
            x, din = c, 256
        em = fc(x, 4, 256, 57)
        path = var("int64")
        helper.append_op(type="crf_decoding", inputs={"Emission": em, "Transition": param("crfw", [59, 57])},
                         outputs={"ViterbiPath": path})

    place = paddle.CPUPlace()
    exe = paddle.static.Executor(place)
    params = [v for v in main_prog.list_vars() if v.persistable and v.name != "words"]
    paddle.static.io.load_vars(exe, os.path.join(a.lac, "model_baseline"), main_program=main_prog, vars=params)

    batches = []
    for s in range(0, len(texts), a.batch):
        chunk = texts[s:s + a.batch]
        ids = [w2i.get(ch, oov) for t in chunk for ch in t]
        batches.append((np.array(ids, dtype="int64").reshape(-1, 1), [len(t) for t in chunk]))

    def run_all():
        out = []
        for ids, lens in batches:
            t = core.LoDTensor()
            t.set(ids, place)
            t.set_recursive_sequence_lengths([lens])
            (p,) = exe.run(main_prog, feed={"words": t}, fetch_list=[path], return_numpy=False)
            out.append((np.array(p).reshape(-1), lens))
        return out

    res = run_all()  # warm-up
    times = []
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        res = run_all()
        times.append(time.perf_counter() - t0)
    nchars = sum(len(t) for t in texts)
    best = min(times)
    print("paddle %s lac: %d texts, %d chars, batch %d, %d threads: best %.3f s (%.0f chars/s)"
          % (paddle.__version__, len(texts), nchars, a.batch, a.threads, best, nchars / best))
    print("RESULT paddle_chars_per_s %.0f" % (nchars / best))
    if a.tags:
        with open(a.tags, "w") as f:
            for p, lens in res:
                o = 0
                for n in lens:
                    f.write(" ".join(str(int(v)) for v in p[o:o + n]) + "\n")
                    o += n


if __name__ == "__main__":
    sys.exit(main())
