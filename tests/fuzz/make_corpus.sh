#!/usr/bin/env bash
# Writes the seed corpora of tests/fuzz/corpus/ (committed; rerun only to change the seeds):
# valid inputs for each reader, so the fuzzers start from files that get past the first checks.
#   tests/fuzz/make_corpus.sh [BUILD_DIR]     (needs BUILD_DIR/hubrun for the safetensors seeds)
# The regress-* files beside them are inputs the fuzzers once crashed on (see docs/fuzzing.md);
# this script leaves them alone.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
c="$root/tests/fuzz/corpus"
mkdir -p "$c"/{ops,safetensors,json,paddle,vocab}

# safetensors: written by hubrun itself (every dtype, a scalar, an empty tensor, metadata)
HUB_SEED_DIR="$c/safetensors" "$build/hubrun" -e '
local hub = require "hub"
local d = os.getenv("HUB_SEED_DIR")
hub.save(d .. "/seed-small.safetensors", { w = hub.tensor{{1, 2}, {3, 4}}, b = hub.tensor({7}, "i64") })
hub.save(d .. "/seed-dtypes.safetensors", { a = hub.tensor({1.5, -2}, "f16"), b = hub.tensor({3}, "bf16"),
  c = hub.tensor({-5}, "i32"), d = hub.tensor({200}, "u8"), e = hub.tensor({1, 0}, "bool"),
  s = hub.tensor(2.5), z = hub.zeros(0, 3) })'
# with metadata, as hub_st_save writes it (from C: hub.save has no metadata argument)
printf '%s' '{"__metadata__":{"format":"pt"},"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' > /tmp/hub-st-hdr.$$
python3 - "$c/safetensors/seed-meta.safetensors" /tmp/hub-st-hdr.$$ <<'PY'
import struct, sys
h = open(sys.argv[2], 'rb').read()
h += b' ' * (-len(h) % 8)
open(sys.argv[1], 'wb').write(struct.pack('<Q', len(h)) + h + struct.pack('<2f', 1.0, -1.0))
PY
rm -f /tmp/hub-st-hdr.$$

# json: snippets of what the runtime parses (safetensors headers, module.json, config)
printf '%s' '{"a":[1,2.5,-3e-2,true,false,null],"b":{"c":"d\u00e9\n\"x\""}}' > "$c/json/seed-mixed.json"
printf '%s' '{"name":"lac","version":"1.0.0","files":{"w.safetensors":{"sha256":"00ff","size":12}}}' > "$c/json/seed-module.json"
printf '%s' '[[[[[[1]]]]],{"\ud83d\ude00":"\u4e2d\u6587"},9223372036854775807,-9223372036854775808,1e308]' > "$c/json/seed-deep.json"
printf '%s' '  "plain string"  ' > "$c/json/seed-string.json"

# paddle: LoDTensor parameter files in the layout hub_paddle.h documents
python3 - "$c/paddle" <<'PY'
import struct, sys
d = sys.argv[1]
def varint(v):
    out = b''
    while True:
        b = v & 0x7f; v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v: return out
def param(dims, packed=True, lod=()):
    desc = b'\x08' + varint(5)                      # field 1: data_type FP32
    if packed:
        body = b''.join(varint(x) for x in dims)
        desc += b'\x12' + varint(len(body)) + body  # field 2, packed
    else:
        desc += b''.join(b'\x10' + varint(x) for x in dims)
    n = 1
    for x in dims: n *= x
    out = struct.pack('<I', 0) + struct.pack('<Q', len(lod))
    for level in lod:
        out += struct.pack('<Q', len(level)) + level
    out += struct.pack('<I', 0) + struct.pack('<i', len(desc)) + desc
    return out + struct.pack('<%df' % n, *[i * 0.5 - 1 for i in range(n)])
open(d + '/seed-2x3.param', 'wb').write(param([2, 3]))
open(d + '/seed-unpacked.param', 'wb').write(param([4], packed=False))
open(d + '/seed-lod.param', 'wb').write(param([3, 1], lod=[struct.pack('<2Q', 0, 3)]))
PY

# vocab: a flag byte, a vocab file, 0xff, then a text to tokenize (see fuzz_vocab.c)
printf '\x01[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\n##lo\nhel\nworld\n,\n中\n文\n\xffHello, world! 中文 hello' > "$c/vocab/seed-basic"
printf '\x1e[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\ncafé\n##s\ncafe\n\xffCafés CAFÉ' > "$c/vocab/seed-accents"

# ops: small programs for fuzz_ops (opcode, slots, arguments): a constructor, a view, an op
printf '\x00\x00\x00\x00\x00\x02\x02\x03\x00\x07' > "$c/ops/seed-full"            # full([2,3], 7) f32 -> slot 0
printf '\x00\x00\x00\x00\x00\x02\x02\x03\x02\x03\x00\x00\x01\x01\x03\x01' > "$c/ops/seed-randn-transpose"
printf '\x00\x00\x00\x00\x00\x02\x02\x03\x02\x15\x00\x00\x01\x00\x02\x03\x00' > "$c/ops/seed-matmul"
echo "make_corpus: seeds written under $c"
