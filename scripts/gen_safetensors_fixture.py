#!/usr/bin/python3
"""gen_safetensors_fixture.py - an independent reference for hubrun's safetensors files.

Written from the documented format only (https://github.com/huggingface/safetensors, "Format"):
8 bytes little-endian u64 header length N, N bytes of UTF-8 JSON mapping each tensor name to
{"dtype", "shape", "data_offsets": [begin, end]} (byte offsets into the data section that
follows) plus an optional "__metadata__" object of strings, then the data, little-endian.
It uses the Python standard library only (struct, json), so it runs wherever python3 does.

  gen_safetensors_fixture.py [OUTDIR]
      writes OUTDIR/reference.safetensors and OUTDIR/reference_values.json (default
      tests/fixtures next to this script's repository).
  gen_safetensors_fixture.py --check FILE EXPECT.json
      reads FILE, a safetensors file written by hubrun, with the strict rules of the reference
      Rust reader (header length a multiple of 8 as the writer pads it, offsets contiguous from 0
      and covering the whole data section, sizes matching shapes) and compares it with EXPECT.json;
      exits 1 with the reasons on any mismatch.

EXPECT.json (and reference_values.json) look like:
  {"metadata": {"k": "v"}, "tensors": {"name": {"dtype": "F32", "shape": [2, 3],
                                                "values": [row-major values ...]}}}
"""
import json
import math
import os
import struct
import sys

# dtype -> (bytes per element, struct code); BF16 handled by hand.
DTYPES = {
    "F64": (8, "d"), "F32": (4, "f"), "F16": (2, "e"), "BF16": (2, None),
    "I64": (8, "q"), "I32": (4, "i"), "I16": (2, "h"), "I8": (1, "b"),
    "U32": (4, "I"), "U16": (2, "H"), "U8": (1, "B"), "BOOL": (1, "?"),
}


def bf16_bits(x):
    """bfloat16 bits of x: the top half of its f32 bits, rounded to nearest even."""
    (u,) = struct.unpack("<I", struct.pack("<f", x))
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) & 0xFFFF


def bf16_value(bits):
    return struct.unpack("<f", struct.pack("<I", bits << 16))[0]


def encode(dtype, values):
    size, code = DTYPES[dtype]
    if dtype == "BF16":
        return b"".join(struct.pack("<H", bf16_bits(v)) for v in values)
    return struct.pack("<%d%s" % (len(values), code), *values)


def decode(dtype, raw):
    size, code = DTYPES[dtype]
    n = len(raw) // size
    if dtype == "BF16":
        return [bf16_value(b) for b in struct.unpack("<%dH" % n, raw)]
    vals = list(struct.unpack("<%d%s" % (n, code), raw))
    return [int(v) for v in vals] if dtype == "BOOL" else vals


def numel(shape):
    n = 1
    for s in shape:
        n *= s
    return n


def write_safetensors(path, tensors, metadata):
    """tensors: {name: (dtype, shape, values)}.  Laid out as the reference writer does: by element
    size (largest first), then by name; header padded with spaces to a multiple of 8."""
    order = sorted(tensors, key=lambda k: (-DTYPES[tensors[k][0]][0], k))
    header, chunks, off = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in order:
        dtype, shape, values = tensors[name]
        assert len(values) == numel(shape), name
        raw = encode(dtype, values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)


def stored(dtype, values):
    """The values as a reader sees them after the round trip through dtype."""
    return decode(dtype, encode(dtype, values))


def generate(outdir):
    tensors = {
        "weight": ("F32", [2, 3], [1.5, -2.25, 3.0, 0.0, 1e-3, -7.125]),
        "half": ("F16", [4], [0.5, -1.0, 65504.0, 0.333251953125]),
        "brain": ("BF16", [2, 2], [1.0, -3.140625, 0.0078125, 1.2345678]),
        "ids": ("I64", [3], [0, -42, 9007199254740993]),
        "scalar": ("F32", [], [2.5]),
        "empty": ("F32", [0, 5], []),
        "count": ("I32", [2], [7, -2147483648]),
        "bytes": ("U8", [3], [0, 128, 255]),
        "mask": ("BOOL", [4], [1, 0, 0, 1]),
        "double": ("F64", [2], [0.1, -1e10]),
        "small": ("I8", [3], [-128, 0, 127]),
    }
    metadata = {"format": "pt", "note": "made by gen_safetensors_fixture.py"}
    os.makedirs(outdir, exist_ok=True)
    write_safetensors(os.path.join(outdir, "reference.safetensors"), tensors, metadata)
    expect = {"metadata": metadata, "tensors": {}}
    for name, (dtype, shape, values) in sorted(tensors.items()):
        expect["tensors"][name] = {"dtype": dtype, "shape": shape, "values": stored(dtype, values)}
    with open(os.path.join(outdir, "reference_values.json"), "w") as f:
        json.dump(expect, f, indent=1, sort_keys=True)
        f.write("\n")


def close(a, b, dtype):
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if dtype in ("F32", "F64"):
        return a == b or abs(a - b) <= 1e-6 * max(abs(a), abs(b))
    if dtype in ("F16", "BF16"):
        return a == b or abs(a - b) <= 1e-2 * max(abs(a), abs(b))
    return a == b


def check(path, expect_path):
    errors = []
    with open(path, "rb") as f:
        blob = f.read()
    with open(expect_path) as f:
        expect = json.load(f)
    if len(blob) < 8:
        return ["file has %d bytes, shorter than the 8-byte header length" % len(blob)]
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        return ["header length %d exceeds the file (%d bytes)" % (n, len(blob))]
    if n % 8:
        errors.append("header length %d is not a multiple of 8 (reference writers pad it)" % n)
    try:
        header = json.loads(blob[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return ["header is not valid UTF-8 JSON: %s" % e]
    if not isinstance(header, dict):
        return ["header is not a JSON object"]
    data = blob[8 + n:]
    meta = header.pop("__metadata__", None)
    want_meta = expect.get("metadata") or None
    if meta != want_meta:
        errors.append("metadata %r, expected %r" % (meta, want_meta))
    if meta is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        errors.append("metadata values must be strings: %r" % meta)
    # Offsets: sorted by begin they must tile the data section exactly, like the Rust reader wants.
    spans = []
    for name, info in header.items():
        if not isinstance(info, dict) or set(info) != {"dtype", "shape", "data_offsets"}:
            errors.append("tensor %r: entry %r must have exactly dtype, shape, data_offsets" % (name, info))
            continue
        if info["dtype"] not in DTYPES:
            errors.append("tensor %r: unknown dtype %r" % (name, info["dtype"]))
            continue
        b, e = info["data_offsets"]
        size = DTYPES[info["dtype"]][0]
        if e - b != numel(info["shape"]) * size:
            errors.append("tensor %r: data_offsets [%d,%d] do not match shape %r %s" % (name, b, e, info["shape"], info["dtype"]))
        if b % size:
            errors.append("tensor %r: offset %d is not aligned to its element size %d" % (name, b, size))
        spans.append((b, e, name))
    pos = 0
    for b, e, name in sorted(spans):
        if b != pos:
            errors.append("tensor %r starts at %d, expected %d (gap or overlap)" % (name, b, pos))
        pos = max(pos, e)
    if pos != len(data):
        errors.append("tensors cover %d bytes but the data section has %d" % (pos, len(data)))
    want = expect["tensors"]
    for name in sorted(set(want) | set(header)):
        if name not in header:
            errors.append("tensor %r is missing" % name)
            continue
        if name not in want:
            errors.append("tensor %r is not expected" % name)
            continue
        info, w = header[name], want[name]
        if info.get("dtype") != w["dtype"] or info.get("shape") != w["shape"]:
            errors.append("tensor %r: %s %r, expected %s %r" % (name, info.get("dtype"), info.get("shape"), w["dtype"], w["shape"]))
            continue
        b, e = info["data_offsets"]
        got = decode(info["dtype"], data[b:e])
        if len(got) != len(w["values"]):
            errors.append("tensor %r: %d values, expected %d" % (name, len(got), len(w["values"])))
            continue
        for i, (g, x) in enumerate(zip(got, w["values"])):
            if not close(g, x, info["dtype"]):
                errors.append("tensor %r: value %d is %r, expected %r" % (name, i, g, x))
                break
    return errors


def main(argv):
    if len(argv) >= 2 and argv[1] == "--check":
        if len(argv) != 4:
            print("usage: gen_safetensors_fixture.py --check FILE EXPECT.json", file=sys.stderr)
            return 2
        errors = check(argv[2], argv[3])
        for e in errors:
            print("check %s: %s" % (argv[2], e), file=sys.stderr)
        if errors:
            return 1
        print("check %s: ok" % argv[2])
        return 0
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    outdir = argv[1] if len(argv) > 1 else os.path.join(root, "tests", "fixtures")
    generate(outdir)
    print("wrote %s" % os.path.join(outdir, "reference.safetensors"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
