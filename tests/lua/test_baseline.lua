-- hub.baseline (the fine-tune proof's linear baselines): features counted by hand, the embedding-
-- bag logistic regression's logits and gradients against hand computation and finite
-- differences, and both baselines learning toy data whose answer is known.
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local ok = T.ok
local hub = require "hub"
local B = hub.baseline
local dataset = require "hub.datasets.dataset"

-- features
local f = B.text_features("好好的")
ok(table.concat(f, "|") == "U:好|B:好好|B:好的|U:的", "text features: unique characters and bigrams in order", table.concat(f, "|"))
local w = B.window_features({ "a", "b", "c" }, 1)
ok(table.concat(w, "|") == "U-2:<s>|U-1:<s>|U0:a|U1:b|U2:c|B-2:<s><s>|B-1:<s>a|B0:ab|B1:bc", "window features at the start",
  table.concat(w, "|"))
w = B.window_features({ "a", "b", "c" }, 3)
ok(table.concat(w, "|") == "U-2:a|U-1:b|U0:c|U1:</s>|U2:</s>|B-2:ab|B-1:bc|B0:c</s>|B1:</s></s>", "window features at the end",
  table.concat(w, "|"))

-- the model: logits = sum of the feature rows + bias; padding id 0 adds nothing
local m = B.Bag(3, 2)
hub.no_grad(function()
  m.weight.weight:copy_(hub.tensor { { 0, 0 }, { 1, 2 }, { 3, -1 }, { 0.5, 0.25 } })
  m.bias:copy_(hub.tensor { 0.1, -0.2 })
end)
local ids = hub.tensor({ { 1, 2, 0 }, { 3, 0, 0 } }, "i64")
local lg = m(ids):totable()
ok(math.abs(lg[1][1] - 4.1) < 1e-6 and math.abs(lg[1][2] - 0.8) < 1e-6 and math.abs(lg[2][1] - 0.6) < 1e-6
  and math.abs(lg[2][2] - 0.05) < 1e-6, "logits = rows summed + bias (hand computed)", lg)
-- cross-entropy gradient of row 2 (feature 2, in example 1 only) = softmax(l1) - onehot(y1)
local y = hub.tensor({ 1, 0 }, "i64")
local loss = hub.cross_entropy(m(ids), y)
loss:backward()
local g = m.weight.weight.grad:totable()
local e1, e2 = math.exp(4.1), math.exp(0.8)
local p1 = e1 / (e1 + e2)
ok(math.abs(g[3][1] - p1 / 2) < 1e-5 and math.abs(g[3][2] - ((1 - p1) - 1) / 2) < 1e-5,
  "gradient of a feature row = (softmax - onehot) / batch (hand computed)", g[3])
ok(g[1][1] == 0 and g[1][2] == 0, "the padding row gets no gradient")
-- finite differences on every weight
local base = m.weight.weight:clone()
local worst = 0
for r = 2, 4 do
  for c = 1, 2 do
    local function at(d)
      local wt = base:clone()
      local t = wt:totable(); t[r][c] = t[r][c] + d
      hub.no_grad(function() m.weight.weight:copy_(hub.tensor(t)) end)
      return hub.cross_entropy(m(ids), y):item()
    end
    local num = (at(1e-3) - at(-1e-3)) / 2e-3
    worst = math.max(worst, math.abs(num - g[r][c]))
  end
end
ok(worst < 1e-3, "gradients match finite differences", worst)

-- classify learns a toy set: 好 positive, 差 negative, other characters noise
local function toy_cls(n, off)
  local l = {}
  local noise = { "这", "个", "东", "西", "酒", "店", "房", "间" }
  for i = 1, n do
    local pos = (i + off) % 2 == 0
    local k = math.floor(i / 2)   -- the noise does not follow the label
    local s = noise[(k % #noise) + 1] .. (pos and "好" or "差") .. noise[((k * 3) % #noise) + 1]
    l[i] = { text_a = s, label = pos and 1 or 0, id = tostring(i) }
  end
  return l
end
local ds = dataset.new { name = "toy", kind = "classification", labels = { "negative", "positive" },
  train = toy_cls(200, 0), dev = toy_cls(40, 1), test = toy_cls(40, 0) }
local r = B.classify(ds, { quiet = true })
ok(r.dev.acc == 1 and r.test.acc == 1, "classify: 100% on the toy set", r.dev.acc)

-- tag learns a toy set: 张三 is a person, 北京 a place
local labels = { "O", "B-PER", "I-PER", "B-LOC", "I-LOC" }
local function toy_ner(n)
  local l = {}
  for i = 1, n do
    if i % 2 == 0 then l[i] = { text_a = "张三去北京", label = { 1, 2, 0, 3, 4 }, id = tostring(i) }
    else l[i] = { text_a = "我在北京", label = { 0, 0, 3, 4 }, id = tostring(i) } end
  end
  return l
end
local nd = dataset.new { name = "toyner", kind = "sequence", labels = labels, train = toy_ner(100), dev = toy_ner(10), test = toy_ner(10) }
local rt = B.tag(nd, { quiet = true })
ok(rt.dev.f1 == 1 and rt.test.f1 == 1, "tag: entity F1 1.0 on the toy set", rt.dev.f1)

-- errors
T.errors(function() B.classify(nd) end, "sequence data set", "classify refuses a sequence data set")
T.errors(function() B.tag(ds) end, "expected sequence", "tag refuses a classification data set")
T.errors(function() B.classify(ds, { epochs = 0 }) end, "'epochs' must be a positive integer", "bad epochs")
T.errors(function() B.classify(ds, { epoch = 2 }) end, "epoch", "unknown option named")
T.finish()
