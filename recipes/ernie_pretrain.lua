-- ernie_pretrain.lua: pretrains ernie-tiny-zh, hubrun's own small Chinese ERNIE, with ERNIE 1.0's
-- knowledge masking (whole LAC words and entities) on the corpus scripts/fetch-corpus.sh builds.
--
--   hubrun recipes/ernie_pretrain.lua [--out runs/ernie-tiny-zh] [--steps 5000] [--batch_size 32]
--                                     [--lr 1e-3] [--seed 1]
--                                     [--basic_steps 2000] [--threads N] [--stop_after N]
--
-- Killed or stopped, the same command resumes from the latest checkpoint in --out and continues
-- bit-identically.  The finished run leaves OUT/model.safetensors, OUT/config.json,
-- OUT/metrics.jsonl and OUT/curves.png; scripts/export-ernie-tiny.sh makes the module of it.
-- docs/pretraining.md has the details and the figures of the committed model.
local hub = require "hub"
local args = {}
local i = 1
while i <= #arg do
  if arg[i] == "-h" or arg[i] == "--help" then
    print("usage: hubrun recipes/ernie_pretrain.lua [--out DIR] [--steps N] [--batch_size N] [--lr X] [--seed N] [--basic_steps N]\n"
      .. "  [--threads N] [--stop_after N] [--checkpoint_every N] [--eval_every N] [--vocab F] [--train F] [--heldout F] [--init F]\n"
      .. "Pretrains ernie-tiny-zh (docs/pretraining.md); run again with the same --out to resume.")
    os.exit(0)
  end
  local k = arg[i]:match("^%-%-([%w_]+)$")
  local known = { out = 1, steps = 1, batch_size = 1, lr = 1, seed = 1, threads = 1, stop_after = 1, checkpoint_every = 1,
                  eval_every = 1, basic_steps = 1, vocab = 1, train = 1, heldout = 1, init = 1 }
  if not k or not known[k] or arg[i + 1] == nil then error("ernie_pretrain: bad argument '" .. arg[i] .. "' (see --help)", 0) end
  args[k] = tonumber(arg[i + 1]) or arg[i + 1]
  i = i + 2
end
local data = os.getenv("HUB_DATA") or (hub.datasets.repo_dir() or "./") .. "build/data"
local repo = hub.datasets.repo_dir() or "./"

hub.pretrain.run {
  -- ERNIE 3.0-tiny's shape: 4 layers, hidden 312, 12 heads, feed-forward 1248
  model = { hidden_size = 312, num_hidden_layers = 4, num_attention_heads = 12, intermediate_size = 1248,
            max_position_embeddings = 512, type_vocab_size = 2, hidden_act = "gelu" },
  vocab = args.vocab or (repo .. "modules/ernie-tiny-zh/vocab.txt"),
  train = args.train or (data .. "/corpus/train.txt"),
  heldout = args.heldout or (data .. "/corpus/heldout.txt"),
  out = args.out or "runs/ernie-tiny-zh",
  -- ERNIE 1.0's curriculum: single-character masking for the first 40% of the steps, then
  -- whole words and entities
  steps = args.steps or 5000, batch_size = args.batch_size or 32, lr = args.lr or 1e-3,
  basic_steps = args.basic_steps or 2000,
  warmup = 0.06, weight_decay = 0.01, clip = 1.0, seed = args.seed or 1,
  threads = args.threads or 0, stop_after = args.stop_after or false,
  checkpoint_every = args.checkpoint_every or 200, eval_every = args.eval_every or 500,
  -- --init modules/ernie-tiny-zh/model.safetensors: continue from the committed weights
  init = args.init,
}
