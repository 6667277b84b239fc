-- resume_train.lua: the training run test_checkpoint_resume.lua kills and resumes (not a test
-- itself).  A small MLP with dropout on seeded random data, AdamW with warm-up and linear decay,
-- batches shuffled per epoch from the seed; a checkpoint every EVERY steps and a metrics line
-- (step, loss, lr) every step.  Started again with the same arguments it resumes from the latest
-- checkpoint, so a killed run and an uninterrupted one must log the same lines and end with the
-- same weights, bit for bit.
--
--   hubrun resume_train.lua CKPT_DIR METRICS.jsonl FINAL.safetensors [STEPS] [EVERY] [SLEEP_S]
local hub = require "hub"
local nn = hub.nn

local dir, metrics, final = arg[1], arg[2], arg[3]
local total, every, pause = tonumber(arg[4] or 60), tonumber(arg[5] or 10), tonumber(arg[6] or 0)
assert(dir and metrics and final, "usage: resume_train.lua CKPT_DIR METRICS.jsonl FINAL.safetensors [STEPS] [EVERY] [SLEEP_S]")

hub.manual_seed(20261204)
local n, features, classes = 200, 16, 4
local x = hub.randn({ n, features })
local y = x:matmul(hub.randn({ features, classes })):argmax(-1)
local data = hub.data.TensorDataset { x = x, y = y }
local model = nn.Sequential(nn.Linear(features, 32), nn.GELU(), nn.Dropout(0.2), nn.Linear(32, classes))
local opt = hub.optim.AdamW(model, { lr = 1e-2, weight_decay = 0.01, no_decay = { "bias" },
                                     schedule = hub.lr.linear { warmup = 0.1, total = total } })

local step, epoch, batch = 0, 1, 0
local latest = hub.checkpoint.latest(dir)
if latest then
  local r = hub.checkpoint.load(latest, { model = model, optimizer = opt })
  step, epoch, batch = r.step, r.state.epoch, r.state.batch
  io.stderr:write("resumed from ", latest, "\n")
end
local log = hub.jsonl(metrics, { resume_step = step })

while step < total do
  for xb, yb, b in data:batches(16, { seed = 7, epoch = epoch }) do
    if b > batch then
      local loss = hub.cross_entropy(model(xb), yb)
      opt:zero_grad()
      loss:backward()
      hub.optim.clip_grad_norm(model, 1.0)
      local lr = opt:get_lr()
      opt:step()
      step, batch = step + 1, b
      log:write { step = step, epoch = epoch, loss = loss:item(), lr = lr }
      if step % every == 0 then
        hub.checkpoint.save(dir, { model = model, optimizer = opt, step = step, state = { epoch = epoch, batch = batch } })
      end
      if pause > 0 then hub.C.hub_os_sleep(pause) end
      if step >= total then break end
    end
  end
  if step < total then epoch, batch = epoch + 1, 0 end
end
log:close()
hub.save(final, model:state_dict())
