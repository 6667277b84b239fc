-- bench/finetune/hub_timed.lua: runs a fine-tuning recipe unchanged and reports each epoch's
-- training wall time, evaluation excluded (bench/finetune/run.sh).
--
--   hubrun bench/finetune/hub_timed.lua recipes/ernie_cls.lua [the recipe's options]
--
-- The recipe runs as `hubrun RECIPE OPTIONS` would run it.  The task classes' evaluate and
-- forward_batch are wrapped (nothing else changes): an epoch's time runs from the first training
-- batch after the previous evaluation (or the first training batch of the run) to the start of
-- the evaluation that ends the epoch, so featurizing, setting up, evaluating and checkpointing
-- are left out -- what Hugging Face's Trainer times between on_epoch_begin and on_epoch_end.
-- Prints to stderr, at each epoch end:  hub_timed: epoch K trained in S s (N batches)
-- and at the end:                       hub_timed: epoch_s S1,S2,...
-- (Recipes that evaluate within an epoch, --eval_interval N, get one figure per evaluation.)
local hub = require "hub"
local C = hub.C
local function now() return tonumber(C.hub_os_time()) end

local script = arg[1]
if not script or script == "-h" or script == "--help" then
  print("usage: hubrun bench/finetune/hub_timed.lua RECIPE.lua [the recipe's options]")
  os.exit(script and 0 or 2)
end

local times, start, batches, in_eval = {}, nil, 0, false
local function wrap(class)
  local evaluate, forward = class.evaluate, class.forward_batch
  class.evaluate = function(self, ...)
    if start and not in_eval then
      times[#times + 1] = now() - start
      io.stderr:write(string.format("hub_timed: epoch %d trained in %.2f s (%d batches)\n", #times, times[#times], batches))
      start, batches = nil, 0
    end
    in_eval = true
    local r = { n = 0 }
    local function keep(...) r = { n = select("#", ...), ... } end
    keep(pcall(evaluate, self, ...))
    in_eval = false
    if not r[1] then error(r[2], 0) end
    return unpack(r, 2, r.n)
  end
  class.forward_batch = function(self, ...)
    if not in_eval then
      if not start then start = now() end
      batches = batches + 1
    end
    return forward(self, ...)
  end
end
for _, name in ipairs { "classification", "sequence_labeling", "multi_label", "regression" } do
  local ok, class = pcall(require, "hub.task." .. name)
  if ok and type(class) == "table" and class.evaluate and class.forward_batch then wrap(class) end
end

local argv = { [0] = script, [-1] = arg[-1] }
for i = 2, #arg do argv[i - 1] = arg[i] end
_G.arg = argv
local chunk, err = loadfile(script)
if not chunk then io.stderr:write("hub_timed: ", tostring(err), "\n"); os.exit(2) end
chunk(unpack(argv))
local parts = {}
for i, t in ipairs(times) do parts[i] = string.format("%.2f", t) end
io.stderr:write("hub_timed: epoch_s ", table.concat(parts, ","), "\n")
