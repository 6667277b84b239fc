#!/usr/bin/env python3
"""lac_ref_speed.py - characters per second of shared/reference/lac_ref.py (pure Python, slow),
for bench/lac/run.sh: loads the reference by path (never copied) and times lac() on the first
N texts of a file (one per line).

  lac_ref_speed.py LAC_REF.py LAC_DIR TEXTS.txt [N]
"""
import runpy
import sys
import time

ref, lac_dir, texts = sys.argv[1:4]
n = int(sys.argv[4]) if len(sys.argv) > 4 else 10
sys.argv = [ref, lac_dir]
lac = runpy.run_path(ref)["lac"]
lines = [l.rstrip("\n") for l in open(texts, encoding="utf-8")]
lines = [l for l in lines if l][:n]
t0 = time.perf_counter()
for s in lines:
    lac(s)
dt = time.perf_counter() - t0
chars = sum(len(s) for s in lines)
print("lac_ref.py: %d texts, %d chars: %.1f s (%.1f chars/s)" % (len(lines), chars, dt, chars / dt))
print("RESULT lac_ref_chars_per_s %.1f" % (chars / dt))
