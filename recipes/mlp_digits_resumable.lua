-- mlp_digits_resumable.lua: mlp_digits.lua as a long run would be written -- checkpoints every
-- 100 steps, automatic resume (kill it with kill -9 or Ctrl-C and start it again: it continues
-- where the last checkpoint left it and ends with the same weights), a progress bar, a metrics
-- log and a PNG of the curves.  See docs/training.md.
-- Run: hubrun recipes/mlp_digits_resumable.lua [RUN_DIR (default run/mlp_digits)]
local hub = require "hub"
local nn = hub.nn
local dir = arg and arg[1] or "run/mlp_digits"
local EPOCHS, BATCH = 30, 32

hub.manual_seed(0)
local train, test = hub.datasets.digits():split(0.8, { seed = 0 })
local per_epoch = train:num_batches(BATCH)
local steps = EPOCHS * per_epoch
local model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Dropout(0.1), nn.Linear(128, 10))
local opt = hub.optim.AdamW(model, { lr = 1e-2, schedule = hub.lr.linear { warmup = 0.05, total = steps } })

local r = hub.checkpoint.resume(dir .. "/ckpt", { model = model, optimizer = opt })
local step, epoch, batch = r.step, r.state.epoch or 1, r.state.batch or 0
local log = hub.jsonl(dir .. "/metrics.jsonl", { resume_step = step })
local bar = hub.progress { total = steps, initial = step, desc = "mlp_digits", unit = "step", order = { "epoch", "loss" } }

local function accuracy()
  model:eval()
  local acc = hub.no_grad(function() return hub.metrics.accuracy(model(test.x), test.y) end)
  model:train()
  return acc
end

while epoch <= EPOCHS do
  for x, y, b in train:batches(BATCH, { seed = 1, epoch = epoch }) do
    if b > batch then
      local loss = hub.cross_entropy(model(x), y)
      opt:zero_grad(); loss:backward()
      local lr = opt:get_lr()
      opt:step()
      step, batch = step + 1, b
      log:write { step = step, loss = loss:item(), lr = lr }
      bar:update(1, { epoch = epoch, loss = loss:item() })
      if step % 100 == 0 then
        hub.checkpoint.save(dir .. "/ckpt", { model = model, optimizer = opt, step = step, state = { epoch = epoch, batch = b } })
      end
    end
  end
  log:write { step = step, epoch = epoch, test_acc = accuracy() }
  epoch, batch = epoch + 1, 0
end
bar:close()
log:close()
hub.save(dir .. "/model.safetensors", model:state_dict())
hub.plot.jsonl { path = dir .. "/metrics.jsonl", out = dir .. "/curves.png", title = "MLP on digits", x = "step",
                 y = { { "loss", smooth = 0.9 }, { "test_acc", axis = "right", name = "test acc" } } }
local acc = accuracy()
print(string.format("test accuracy %.4f; curves in %s/curves.png", acc, dir))
return acc
