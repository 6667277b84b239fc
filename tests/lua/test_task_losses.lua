-- Each task's loss and metrics against values computed by hand here from the task's own
-- outputs: softmax cross-entropy, sigmoid BCE, MSE, token cross-entropy over the labelled
-- tokens only, and the CRF's negative log-likelihood against brute-force enumeration of every
-- tag path; then accuracy / F1, multi-label micro and macro F1, Pearson and Spearman, and
-- entity-level F1 on fixed predictions.  A tiny random encoder (tests/lua/finetune_fixture.lua).
package.path = (arg[0]:match("^(.*)/") or ".") .. "/?.lua;" .. package.path
local T = require "testlib"
local F = require "finetune_fixture"
local ok = T.ok
local hub = require "hub"
local text = require "hub.data.text"

local function close(a, b, tol) return math.abs(a - b) <= (tol or 1e-5) * math.max(1, math.abs(b)) end

-- a batch of a data set's first n training examples
local function batch_of(task, ds, n)
  task:check_dataset(ds)
  local f = task:featurize(ds, { cache = false, splits = { "train" } }).train
  local idx = {}
  for i = 1, n do idx[i] = i end
  return f:batch(idx), f
end

local function run(task, b)
  task:eval()
  return hub.no_grad(function()
    local out = task:forward_batch(b)
    return out, task:loss(out, b):item()
  end)
end

-- ---- text classification: mean of -log softmax(logits)[label] ----
do
  local net, tk = F.encoder(1)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 32 }
  local b = batch_of(task, F.sentiment(), 6)
  ok(task.labels[2] == "positive", "text_classification takes the data set's label names")
  local out, loss = run(task, b)
  local lg, y = out.logits:totable(), b.labels:totable()
  local want = 0
  for i = 1, #lg do
    local m = math.max(unpack(lg[i]))
    local s = 0
    for _, v in ipairs(lg[i]) do s = s + math.exp(v - m) end
    want = want - (lg[i][y[i] + 1] - m - math.log(s))
  end
  want = want / #lg
  ok(close(loss, want), "classification loss = mean softmax cross-entropy", loss .. " vs " .. want)
  -- metrics on fixed predictions: pred 1 1 0 0 1, gold 1 0 0 1 1
  local m = task:summarize { pred = { 1, 1, 0, 0, 1 }, gold = { 1, 0, 0, 1, 1 } }
  ok(close(m.acc, 0.6), "accuracy 3/5")
  ok(close(m.precision, 2 / 3) and close(m.recall, 2 / 3) and close(m.f1, 2 / 3), "binary P/R/F1 of class 1 = 2/3")
  -- class 0: P 1/2, R 1/2 -> F1 1/2; macro F1 = (1/2 + 2/3) / 2
  ok(close(m.macro_f1, (0.5 + 2 / 3) / 2), "macro F1", m.macro_f1)
  ok(task.main_metric == "acc", "main metric acc")
end

-- ---- pooling = "mean": the head sees the mean of the token states under the mask ----
do
  local net, tk = F.encoder(1)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 32, pooling = "mean" }
  local b = batch_of(task, F.sentiment(), 5)
  -- hide the last two tokens of the first example, so that the mask matters
  local m0 = b.attention_mask:totable()
  m0[1][#m0[1]], m0[1][#m0[1] - 1] = 0, 0
  b.attention_mask = hub.tensor(m0):to(b.attention_mask.dtype)
  local out = run(task, b)
  local seq, mask, lg
  hub.no_grad(function()
    seq = net:forward { input_ids = b.input_ids, token_type_ids = b.token_type_ids, attention_mask = b.attention_mask }
      .sequence_output:totable()
  end)
  mask, lg = b.attention_mask:totable(), out.logits:totable()
  local W, bias = task.classifier.weight:totable(), task.classifier.bias:totable()
  local worst, uneven = 0, false
  for i = 1, #seq do
    local n, v = 0, {}
    for t = 1, #seq[i] do
      if mask[i][t] ~= 0 then
        n = n + 1
        for h = 1, #seq[i][t] do v[h] = (v[h] or 0) + seq[i][t][h] end
      end
    end
    if n < #seq[i] then uneven = true end
    for c = 1, #W do
      local z = bias[c]
      for h = 1, #v do z = z + W[c][h] * v[h] / n end
      worst = math.max(worst, math.abs(z - lg[i][c]))
    end
  end
  ok(uneven, "the batch has padding (so the mask matters)")
  ok(worst < 1e-4, "mean pooling: logits = classifier(mean of the unmasked token states)", worst)
  ok(task:task_config().pooling == "mean", "task_config keeps pooling for export")
  local cls = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 32 }
  ok(cls.pooling == "cls", "classification pools [CLS] by default")
  T.errors(function() hub.task.text_classification { network = net, tokenizer = tk, pooling = "max" } end,
    "pooling must be \"mean\" or \"cls\"", "unknown pooling")
end

-- ---- pair classification: the pair is encoded together ----
do
  local net, tk = F.encoder(2)
  local task = hub.task.text_classification { network = net, tokenizer = tk, max_seq_len = 32 }
  local ds = F.pairs()
  local b = batch_of(task, ds, 4)
  ok(task.pair, "a pair data set makes a pair task")
  local tt = b.token_type_ids:totable()
  local has_b = false
  for _, v in ipairs(tt[1]) do if v == 1 then has_b = true end end
  ok(has_b, "pair batches carry segment b")
  local r = task:predict { { "这个很好", "不错" }, "今天很好\t太差" }
  ok(#r == 2 and r[1].text_b == "不错" and r[2].text_b == "太差", "predict takes {a, b} and a<TAB>b pairs")
  T.errors(function() task:predict { "只有一句" } end, "takes pairs", "a single text to a pair task")
end

-- ---- multi-label: mean over cells of -(y log s + (1 - y) log(1 - s)) ----
do
  local net, tk = F.encoder(3)
  local task = hub.task.multi_label_classification { network = net, tokenizer = tk, max_seq_len = 32 }
  local b = batch_of(task, F.multi_label(), 6)
  local out, loss = run(task, b)
  local lg, y = out.logits:totable(), b.labels:totable()
  local want, n = 0, 0
  for i = 1, #lg do
    for j = 1, #lg[i] do
      local s = 1 / (1 + math.exp(-lg[i][j]))
      want = want - (y[i][j] * math.log(s) + (1 - y[i][j]) * math.log(1 - s))
      n = n + 1
    end
  end
  ok(close(loss, want / n), "multi-label loss = mean sigmoid BCE", loss .. " vs " .. want / n)
  -- big logits stay finite (the stable form)
  local big = hub.task.multi_label_classification { network = net, tokenizer = tk, labels = { "a" } }
  local l = require("hub.task.multi_label").bce_with_logits(hub.tensor { { 200 }, { -200 } }, hub.tensor { { 0 }, { 1 } }):item()
  ok(close(l, 200), "BCE with logits +-200 is 200 (no overflow)", l)
  -- metrics: probs thresholded at 0.5
  -- pred  {1,0,1} {0,1,0} {1,1,0}   gold {1,0,0} {0,1,0} {1,0,1}
  local m = task:summarize { probs = { { .9, .1, .6 }, { .2, .7, .4 }, { .8, .5, .3 } },
                             gold = { { 1, 0, 0 }, { 0, 1, 0 }, { 1, 0, 1 } } }
  -- micro: TP 3 (1,1)(2,2)(3,1); predicted 5 (0.5 counts); true 4 -> P 3/5, R 3/4, F1 2/3
  ok(close(m.micro_f1, 2 / 3), "micro F1 2/3", m.micro_f1)
  -- per label: l0 TP2 pred2 true2 F1 1; l1 TP1 pred2 true1 F1 2/3; l2 TP0 pred1 true1 F1 0
  ok(close(m.macro_f1, (1 + 2 / 3 + 0) / 3), "macro F1", m.macro_f1)
  ok(close(m.exact_match, 1 / 3), "exact match 1/3")
  ok(task.main_metric == "micro_f1", "main metric micro_f1")
end

-- ---- regression: mean squared error ----
do
  local net, tk = F.encoder(4)
  local task = hub.task.regression { network = net, tokenizer = tk, max_seq_len = 32 }
  local b = batch_of(task, F.regression(), 5)
  local out, loss = run(task, b)
  local p, y = out.scores:totable(), b.labels:totable()
  local want = 0
  for i = 1, #p do want = want + (p[i] - y[i]) ^ 2 end
  ok(close(loss, want / #p), "regression loss = MSE", loss .. " vs " .. want / #p)
  local m = task:summarize { pred = { 1, 2, 3, 5 }, gold = { 1, 3, 2, 4 } }
  -- pearson of (1,2,3,5) and (1,3,2,4): means 2.75, 2.5; cov sum = 5.5; sx2 = 8.75, sy2 = 5
  ok(close(m.pearson, 5.5 / math.sqrt(8.75 * 5)), "pearson", m.pearson)
  -- ranks (1,2,3,4) and (1,3,2,4): spearman = 1 - 6*2/(4*15) = 0.8
  ok(close(m.spearman, 0.8), "spearman 0.8", m.spearman)
  ok(close(m.mse, (0 + 1 + 1 + 1) / 4), "mse 0.75")
  ok(task.main_metric == "spearman", "main metric spearman")
end

-- ---- sequence labelling, softmax: cross-entropy over the labelled tokens only ----
local function log_softmax_row(r)
  local m = math.max(unpack(r))
  local s = 0
  for _, v in ipairs(r) do s = s + math.exp(v - m) end
  local o = {}
  for j, v in ipairs(r) do o[j] = v - m - math.log(s) end
  return o
end

do
  local net, tk = F.encoder(5)
  local task = hub.task.sequence_labeling { network = net, tokenizer = tk, max_seq_len = 32 }
  local ds = F.ner()
  ds.train[1] = { text_a = "张三去abc北京了", label = { 1, 2, 0, 0, 0, 0, 3, 4, 0 } }   -- a Latin word: one labelled piece
  local b = batch_of(task, ds, 3)
  local out, loss = run(task, b)
  local em, y = out.emissions:totable(), b.labels:totable()
  local want, n = 0, 0
  for i = 1, #y do
    for j = 1, #y[i] do
      if y[i][j] >= 0 then want = want - log_softmax_row(em[i][j])[y[i][j] + 1]; n = n + 1 end
    end
  end
  ok(close(loss, want / n), "softmax sequence loss = CE over labelled tokens", loss .. " vs " .. want / n)
  ok(y[1][1] == -100, "[CLS] is not labelled")
  -- entity F1 on fixed tag ids: gold B-PER I-PER O B-LOC | pred B-PER I-PER O B-PER
  local m = task:summarize { gold = { { 1, 2, 0, 3, 4 } }, pred = { { 1, 2, 0, 1, 2 } } }
  ok(close(m.precision, 0.5) and close(m.recall, 0.5) and close(m.f1, 0.5), "entity P/R/F1 1/2", m.f1)
  ok(close(m.token_acc, 3 / 5), "token accuracy 3/5")
  local r = task:predict { "张三去abc北京了" }[1]
  ok(#r.tags == 9, "predict: one tag per character", #r.tags)
end

-- ---- CRF: nll against all tag paths; the decode is the best path ----
do
  local net, tk = F.encoder(6)
  local labels = { "O", "B-PER", "I-PER" }
  local task = hub.task.sequence_labeling { network = net, tokenizer = tk, labels = labels, crf = true, max_seq_len = 32 }
  -- different lengths: 4 and 2 characters
  local exs = { { text_a = "张三去了", label = { 1, 2, 0, 0 } }, { text_a = "李四", label = { 1, 2 } } }
  local f = text.features(exs, tk, { kind = "sequence", num_labels = 3, max_seq_len = 32 })
  local b = f:batch { 1, 2 }
  task:eval()
  local out, nll = hub.no_grad(function()
    local o = task:forward_batch(b)
    return o, task:loss(o, b):item()
  end)
  local em = out.dense:totable()
  local tr = task.crf.transitions:totable()
  local st, en = task.crf.start_transitions:totable(), task.crf.end_transitions:totable()
  local lens = { 4, 2 }
  local want, bestpaths = 0, {}
  for i = 1, 2 do
    local n, gold = lens[i], exs[i].label
    local function score(path)
      local s = st[path[1] + 1] + en[path[n] + 1]
      for t = 1, n do s = s + em[i][t][path[t] + 1] end
      for t = 2, n do s = s + tr[path[t - 1] + 1][path[t] + 1] end
      return s
    end
    local logz, best, bestp = nil, -math.huge, nil
    local path = {}
    local function walk(t)
      if t > n then
        local s = score(path)
        logz = logz and (math.max(logz, s) + math.log(1 + math.exp(-math.abs(logz - s)))) or s
        if s > best then best, bestp = s, { unpack(path) } end
        return
      end
      for c = 0, 2 do path[t] = c; walk(t + 1) end
    end
    walk(1)
    want = want + (logz - score(gold))
    bestpaths[i] = bestp
  end
  want = want / 2
  ok(close(nll, want, 1e-4), "CRF loss = mean NLL over every path (brute force)", nll .. " vs " .. want)
  local pred = task:decode(out, b)
  ok(T.same(pred[1], bestpaths[1]) and T.same(pred[2], bestpaths[2]), "CRF decode = the best of every path")
  -- the gradient reaches the transitions
  task:train()
  local o = task:forward_batch(b)
  task:loss(o, b):backward()
  ok(task.crf.transitions.grad ~= nil, "the CRF's transitions get a gradient")
end

-- ---- errors name the field ----
do
  local net, tk = F.encoder(7)
  T.errors(function() hub.task.text_classification { network = net } end, "'tokenizer'", "network without tokenizer")
  T.errors(function() hub.task.text_classification { network = net, tokenizer = tk, labels = { "a" } } end, "at least 2", "one class")
  T.errors(function() hub.task.text_classification { network = net, tokenizer = tk, bogus = 1 } end, "bogus", "unknown option")
  T.errors(function() hub.task.regression { network = net, tokenizer = tk, max_seq_len = 1000 } end, "max_seq_len", "max_seq_len too long")
  local task = hub.task.text_classification { network = net, tokenizer = tk }
  T.errors(function() task:check_dataset(F.ner()) end, "sequence data set", "wrong data kind")
  T.errors(function() task:predict {} end, "empty", "empty predict")
end

T.finish()
