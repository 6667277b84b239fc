-- mlp_digits.lua: trains a two-layer MLP on scikit-learn's 8x8 handwritten digits (1,797 real
-- images, 80/20 split) and prints the loss of each epoch and the test accuracy (about 97%).
-- Run: scripts/fetch-data.sh digits && hubrun recipes/mlp_digits.lua [--check]
-- With --check it exits with status 1 when the test accuracy is below 95%.
local hub = require "hub"
local nn = hub.nn
hub.manual_seed(0)
local train, test = hub.datasets.digits():split(0.8, { seed = 0 })
local model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
local opt = hub.optim.AdamW(model, { lr = 1e-2 })
for epoch = 1, 30 do
  local total, n = 0, 0
  for x, y in train:batches(32) do
    local loss = hub.cross_entropy(model(x), y)
    opt:zero_grad(); loss:backward(); opt:step()
    total, n = total + loss:item(), n + 1
  end
  print(string.format("epoch %2d  loss %.4f", epoch, total / n))
end
local acc = hub.no_grad(function() return hub.metrics.accuracy(model(test.x), test.y) end)
print(string.format("test accuracy %.4f (%d examples)", acc, test:size()))
if arg and arg[1] == "--check" and acc < 0.95 then os.exit(1) end
return acc
